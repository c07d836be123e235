"""Time to the target accuracy on this machine against the typical public solution, side by side in one run.

    python bench.py [--model NAME] [--json PATH] [--steps N] [--repeats N] [--device cpu] [--profile]
    (or: make bench BENCH_JSON=PATH)

- time_to_target_s: seconds from process start to the end of --model's epoch at its median epochs to
  model.TARGET over the fresh seeds (report.HELDOUT_SEEDS in results/: epochs_to_target_median, the same
  measure as the reference's), timed as setup_s + that many epochs × epoch_s, one epoch's training and
  evaluation in this run (--model trains first, so the imports and the data are in setup_s). This run itself
  (seed 0) stops at its own first epoch at the target: epochs_to_target_this_run, time_to_target_this_run_s.
- sprint_time_s: the same clock for the `sprint` recipe's whole training (its last epoch is what counts, so
  it runs every epoch and is evaluated after the last one only, as speed runs are timed; the last epoch's
  figures are the same as with every epoch evaluated): setup_s (process start to the data loaded) + its own
  training and evaluation time, as if it had trained first. sprint_test_acc: its last epoch.
  sprint_speedup: reference_time_to_target_s / sprint_time_s.
- reference_time_to_target_s: the 19,114-parameter public net (model.ReferenceNet), trained as it usually is
  (Adam, per-image PIL transforms in a DataLoader), reaches 99.4 % after reference_epochs_to_target epochs:
  the median over its seeds in results/reference_seed*.json (`make results MODELS=reference`; a seed that
  never gets there counts as all its epochs; reference_lower_bound says when that moves the median, and the
  speed-ups are then at least what they say). Its time to target is those epochs × reference_s_per_epoch,
  its seconds per epoch measured in this run (the median of --repeats timings of --steps steps, not a whole
  epoch: training only, no setup and no evaluation, which ours include). speedup: reference_time_to_target_s
  / time_to_target_s; speedup_upper_bound when seeds of --model that never got there move its median.
- throughput_ratio: training images/s of our pipeline over the PIL pipeline's, same net (the reference), same
  batch. Ours is as fit() trains --model's recipe: the dataset in tensors, augmentation on whole batches and,
  if the recipe asks, channels-last weights on the CPU. Each is timed in turn --repeats times and the medians
  compared; _min and _max are the ratios of single rounds (one round's PIL timing moved by up to ±10 % from
  the next here, so one round's ratio is not enough). throughput_ratio_data_only keeps the default memory
  format on both sides: the input pipeline's share alone.

With --profile, also where --model's training time goes:
- train_gflops_per_s: achieved training GFLOP/s (torch.utils.flop_counter).
- step_share_<H>x<W>: share of a training step (torch.profiler) spent on H×W feature maps.
"""
from __future__ import annotations

import time

PROCESS_START = time.perf_counter()

import cli

if __name__ == "__main__":
    cli.one_line_on_ctrl_c("bench.py")

import argparse
import dataclasses
import math
import statistics
import sys

import torch
import torch.nn.functional as F

import mnist
import model
import report
import utils
from train import HelpFormatter, Parser, add_device_args, device_for


def tensor_batches(data: mnist.MNISTData, recipe: model.Recipe, batch_size: int):
    """Our input pipeline, endless: shuffled batches of the tensors, augmented as fit() augments them (its
    CPU generator, on every device)."""
    generator = torch.Generator().manual_seed(0)
    while True:
        yield from utils.tensor_batches(data, dataclasses.replace(recipe, batch_size=batch_size), generator)


def time_steps(net, batches, steps: int, device) -> float:
    """Seconds per training step (Adam, as the reference trains) over `steps` steps after 5 warm-up steps."""
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    net.to(device).train()
    started = None
    for i, (x, y) in enumerate(batches):
        if i == 5:
            utils.synchronize(device)  # the warm-up's queued kernels are not part of the timed steps
            started = time.perf_counter()
        if i == steps + 5:
            break
        loss = F.cross_entropy(net(x.to(device)), y.to(device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    utils.synchronize(device)  # on CUDA or MPS the steps may still be running: wait for them
    return (time.perf_counter() - started) / steps


def time_pipelines(data: mnist.MNISTData, recipe: model.Recipe, data_dir: str, batch_size: int, steps: int,
                   repeats: int, device) -> dict[str, list[float]]:
    """Seconds per step of the reference net, timed in turn `repeats` times, fed by: our tensor pipeline with
    `recipe`'s memory format ("ours", as fit() trains), the same in the default format ("ours_data_only"),
    and the PIL pipeline ("pil"). PIL last in each round: its loader's workers are shut down when its
    iterator goes."""
    pipelines = {  # name: (the net's memory format, a fresh stream of batches)
        "ours": (utils.memory_format_for(recipe, device), lambda: tensor_batches(data, recipe, batch_size)),
        "ours_data_only": (torch.preserve_format, lambda: tensor_batches(data, recipe, batch_size)),
        "pil": (torch.preserve_format,
                lambda: iter(utils.pil_loader(data_dir, batch_size, data.mean, data.std, device=device))),
    }
    timings = {name: [] for name in pipelines}
    for _ in range(repeats):
        for name, (memory_format, batches) in pipelines.items():
            net = utils.make_model("reference").to(memory_format=memory_format)
            timings[name].append(time_steps(net, batches(), steps, device))
    return timings


def speed_figures(timings: dict[str, list[float]], steps_per_epoch: int, time_to_target: float | None,
                  reference_epochs: float) -> dict:
    """The reference's time to target (`reference_epochs` of its epochs), the speedup over it and the images/s
    ratios, from time_pipelines()."""
    ours, data_only, pil = (statistics.median(timings[k]) for k in ("ours", "ours_data_only", "pil"))
    round_ratios = [p / o for o, p in zip(timings["ours"], timings["pil"], strict=False)]
    reference_time = reference_epochs * pil * steps_per_epoch
    return {
        "reference_s_per_epoch": pil * steps_per_epoch,
        "reference_time_to_target_s": reference_time,
        "speedup": reference_time / time_to_target if time_to_target else None,
        "throughput_ratio": pil / ours,
        "throughput_ratio_min": min(round_ratios), "throughput_ratio_max": max(round_ratios),
        "throughput_ratio_data_only": pil / data_only,
    }


def profiled_time(device) -> tuple[list, str]:
    """What torch.profiler records on `device` and the event field holding each op's own time there: on a
    GPU the kernels' time, not the host's, which only queues them."""
    from torch.profiler import ProfilerActivity

    if torch.device(device).type == "cuda":
        return [ProfilerActivity.CPU, ProfilerActivity.CUDA], "self_device_time_total"
    return [ProfilerActivity.CPU], "self_cpu_time_total"


def time_share_by_map_size(net, batches, steps: int, device) -> dict[str, float]:
    """Share of a training step's time on `device` (torch.profiler, self time of each op) by the size of the
    feature map each op works on: where the time goes, to see what a faster net should change."""
    from collections import defaultdict

    from torch.profiler import profile

    batch_size = len(next(batches)[1])
    time_steps(net, batches, 1, device)  # warm-up outside the profile
    activities, field = profiled_time(device)
    with profile(activities=activities, record_shapes=True) as prof:
        time_steps(net, batches, steps, device)
    events = prof.key_averages(group_by_input_shape=True)
    total = sum(getattr(e, field) for e in events)
    shares = defaultdict(float)
    for e in events:
        # a feature map: 4-d, batch first, square (affine grids are N×H×W×2); weights and the rest: "other"
        maps = [s for s in e.input_shapes if len(s) == 4 and s[0] == batch_size and s[2] == s[3]]
        shares[f"{maps[0][2]}x{maps[0][3]}" if maps else "other"] += getattr(e, field) / total
    return dict(sorted(shares.items(), key=lambda kv: -kv[1]))


def train_flops_per_image(net, device) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.randn(64, 1, 28, 28, device=device)
    with FlopCounterMode(display=False) as counter:
        net(x).sum().backward()
    net.zero_grad(set_to_none=True)
    return counter.get_total_flops() / 64


def profile_figures(name: str, data: mnist.MNISTData, history: list[dict], device) -> dict:
    """--profile: achieved GFLOP/s over the epochs `history` trained, and the step's time by map size."""
    recipe = model.RECIPES[name]
    per_image = train_flops_per_image(utils.make_model(name).to(device), device)
    seconds = sum(r["seconds"] for r in history)
    # in the memory format fit() trains it in
    net = utils.make_model(name).to(memory_format=utils.memory_format_for(recipe, device))
    shares = time_share_by_map_size(net, tensor_batches(data, recipe, recipe.batch_size), 20, device)
    return {"train_gflops_per_s": per_image * len(data.train_y) * len(history) / seconds / 1e9,
            **{f"step_share_{size}": share for size, share in shares.items()}}


def parse_args(argv=None) -> argparse.Namespace:
    p = Parser(prog="bench.py", description=__doc__.split("\n")[0],
               formatter_class=HelpFormatter)
    p.add_argument("--model", default=model.DEFAULT_MODEL, choices=list(model.MODELS), metavar="NAME",
                   help="the model whose time to model.TARGET is measured, with its recipe")
    p.add_argument("--steps", type=int, default=100, help="timed steps per pipeline and round")
    p.add_argument("--repeats", type=int, default=3,
                   help="rounds of timing the pipelines (the median is kept)")
    add_device_args(p)
    p.add_argument("--data-dir", default="data", help="where MNIST/raw/ lives or is fetched to")
    p.add_argument("--results-dir", default="results", help="where the reference's runs are read from")
    p.add_argument("--profile", action="store_true", help="also GFLOP/s and the step's time by map size")
    p.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    args = p.parse_args(argv)
    if args.steps < 1:
        p.error("--steps must be >= 1")
    if args.repeats < 1:
        p.error("--repeats must be >= 1")
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    try:
        if args.json:  # before any work: the figures take minutes to measure
            utils.check_output(args.json, "--json")
        device = device_for(args)
        yardstick = report.reference_yardstick(args.results_dir)
        if yardstick is None:
            raise ValueError(f"no {args.results_dir}/reference_seed*.json, the reference's measured epochs "
                             f"to {model.TARGET} %: run make results MODELS=reference "
                             'SEEDS="0 1 2 3 4" first')
        runs = report.load_runs(args.model, args.results_dir, report.HELDOUT_SEEDS)
        if not runs:
            seeds = " ".join(map(str, report.HELDOUT_SEEDS))
            raise ValueError(f"no {args.results_dir}/{args.model}_seed*.json on the fresh seeds, its "
                             f"measured epochs to {model.TARGET} %: run make results MODELS={args.model} "
                             f'SEEDS="{seeds}" first')
        ours = report.median_epochs_to_target(runs)
        data = mnist.load_mnist(args.data_dir, device)
    except (ValueError, mnist.DataError) as error:
        sys.exit(f"bench.py: error: {error}")

    # Ours first, so that "from process start" is literally that: nothing else has run yet.
    setup = time.perf_counter() - PROCESS_START
    history = utils.fit(utils.make_model(args.model), model.RECIPES[args.model], data, progress=False,
                        stop_at=model.TARGET)
    trained = time.perf_counter() - PROCESS_START
    epochs_this_run = utils.first_epoch_at(history, model.TARGET)
    epoch_s = (trained - setup) / len(history)  # one epoch's training and evaluation
    time_to_target = setup + ours["epochs_to_target"] * epoch_s
    started = time.perf_counter()
    sprint = utils.fit(utils.make_model("sprint"), model.RECIPES["sprint"], data, progress=False, log=False,
                       evaluate_last_only=True)
    sprint_time = setup + time.perf_counter() - started

    batch = model.RECIPES["reference"].batch_size
    timings = time_pipelines(data, model.RECIPES[args.model], args.data_dir, batch, args.steps, args.repeats,
                             device)
    figures = {
        "device": str(device), "threads": torch.get_num_threads(), "torch": torch.__version__,
        "model": args.model, "seeds": ours["seeds"], "epochs_to_target_median": ours["epochs_to_target"],
        "epoch_s": epoch_s, "time_to_target_s": time_to_target, "speedup_upper_bound": not ours["exact"],
        "epochs_to_target_this_run": epochs_this_run,
        "time_to_target_this_run_s": trained if epochs_this_run else None,
        "reference_seeds": yardstick["seeds"], "reference_epochs_to_target": yardstick["epochs_to_target"],
        "reference_lower_bound": yardstick["lower_bound"],
        **speed_figures(timings, math.ceil(len(data.train_y) / batch), time_to_target,
                        yardstick["epochs_to_target"]),
        "setup_s": setup, "sprint_epochs": len(sprint), "sprint_test_acc": sprint[-1]["test_acc"],
        "sprint_time_s": sprint_time,
    }
    figures["sprint_speedup"] = figures["reference_time_to_target_s"] / sprint_time
    if args.profile:
        figures.update(profile_figures(args.model, data, history, device))
    for key, value in figures.items():
        print(f"{key:28s} {value:.2f}" if isinstance(value, float) else f"{key:28s} {value}")
    if args.json:
        utils.write_json(args.json, figures)
    return figures


if __name__ == "__main__":
    main()
