"""Train one registered model on MNIST and print its result.

    python train.py                         # the final model (model.DEFAULT_MODEL) with its own recipe
    python train.py --model tiny --seed 3   # any name from --list-models
    python train.py --dry-run               # one epoch on 2,000 images: checks the pipeline end to end

Parsing and printing only: the work is done by utils.py, the same code the notebook runs.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys

import cli
from cli import Parser  # the other commands import it from here too

if __name__ == "__main__":
    cli.one_line_on_ctrl_c("train.py")

import torch

import mnist
import model
import utils

TRAIN_IMAGES = 60_000  # MNIST's training set: no batch can be larger


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Each flag's default in its help, except None: those flags' help says what leaving them out does."""

    def _get_help_string(self, action):
        return action.help if action.default is None else super()._get_help_string(action)


def add_device_args(p: argparse.ArgumentParser, default: str = "auto") -> None:
    """--device and --threads (bench.py too)."""
    p.add_argument("--device", default=default,
                   help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps")
    p.add_argument("--threads", type=int, help="CPU threads (default: one per core this process may use)")


def add_run_args(p: argparse.ArgumentParser) -> None:
    """The flags of every command that trains: seed, device, CPU threads, determinism, data folder
    (lr_finder.py too)."""
    p.add_argument("--seed", type=int, default=0, help="random seed")
    add_device_args(p)
    p.add_argument("--deterministic", action="store_true",
                   help="CUDA: deterministic kernels only, slower (the CPU is deterministic already)")
    p.add_argument("--data-dir", default="data", help="where MNIST/raw/ lives or is fetched to")


def device_for(args: argparse.Namespace) -> torch.device:
    """The device, threads and determinism the flags ask for, set up before any work; ValueError if the
    device is not here or the thread count is nonsense."""
    device = utils.pick_device(args.device)
    utils.set_threads(args.threads)
    if getattr(args, "deterministic", False):
        utils.set_deterministic()
    return device


def source_commit() -> str | None:
    """The git commit of the code that runs, with "-dirty" when tracked files other than results/ differ from
    it; None outside a git checkout. Every results file records it, so a row can say which code made each of
    its seeds."""
    import subprocess
    from pathlib import Path

    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True,
                                timeout=10)
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
                                 ":(exclude)results"], cwd=here, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    if commit.returncode != 0:
        return None
    return commit.stdout.strip() + ("-dirty" if status.stdout.strip() else "")


def cpu_model() -> str:
    """The processor's model name (CPU results are bit-identical only on the same model), else its kind."""
    import platform
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def parse_args(argv=None) -> argparse.Namespace:
    p = Parser(prog="train.py", description="Train an MNIST model from model.py with its recipe.",
               formatter_class=HelpFormatter)
    p.add_argument("--model", default=model.DEFAULT_MODEL, help="model name (see --list-models)")
    p.add_argument("--epochs", type=int, help="override the recipe's epochs")
    p.add_argument("--batch-size", type=int, help="override the recipe's batch size")
    p.add_argument("--lr", type=float, help="override the recipe's (peak) learning rate")
    add_run_args(p)
    p.add_argument("--results", metavar="PATH", help="write the history and final accuracy as JSON here")
    p.add_argument("--save", metavar="PATH", help="write a checkpoint here (atomically)")
    p.add_argument("--quiet", action="store_true", help="no progress bars (epoch lines still print)")
    p.add_argument("--list-models", action="store_true", help="list the models and their recipes, then exit")
    p.add_argument("--dry-run", action="store_true", help="1 epoch on the first 2,000 images of each split")
    args = p.parse_args(argv)
    if args.dry_run and args.epochs is not None:  # one of the two would be ignored: say so instead
        p.error("--dry-run trains 1 epoch: leave out --epochs, or --dry-run")
    if args.batch_size is not None and args.batch_size > TRAIN_IMAGES:
        p.error(f"--batch-size must be at most {TRAIN_IMAGES:,}, MNIST's training set, got {args.batch_size}")
    return args


def list_models() -> None:
    print(f"{'name':<10}{'class':<14}{'params':>8}{'epochs':>8}{'batch':>7}  optimizer/schedule")
    for name, cls in model.MODELS.items():
        r = model.RECIPES[name]
        default = "  (default)" if name == model.DEFAULT_MODEL else ""
        print(f"{name:<10}{cls.__name__:<14}{utils.count_params(cls()):>8,}{r.epochs:>8}{r.batch_size:>7}  "
              f"{r.optimizer} lr {r.lr} / {r.schedule}{default}")


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.list_models:
        list_models()
        return 0
    try:
        net = utils.make_model(args.model, args.seed)
        recipe = utils.with_overrides(model.RECIPES[args.model], batch_size=args.batch_size, lr=args.lr,
                                      epochs=1 if args.dry_run else args.epochs)
        for path, flag in ((args.save, "--save"), (args.results, "--results")):
            if path:  # before any work: a run that cannot save what it trained is wasted
                utils.check_output(path, flag)
        device = device_for(args)
    except ValueError as error:
        sys.exit(f"train.py: error: {error}")
    try:
        data = mnist.load_mnist(args.data_dir, device, limit=2000 if args.dry_run else None)
    except mnist.DataError as error:
        sys.exit(f"train.py: error: {error}")

    params = utils.count_params(net)
    print(f"model {args.model} ({type(net).__name__}): {params:,} parameters | seed {args.seed} | "
          f"device {device} | {recipe.epochs} epochs, batch {recipe.batch_size}, "
          f"{recipe.optimizer} lr {recipe.lr} {recipe.schedule}")
    results = {"model": args.model, "params": params, "seed": args.seed, "epochs": recipe.epochs,
               "device": str(device), "threads": torch.get_num_threads(), "torch": torch.__version__,
               "commit": source_commit(), "cpu": cpu_model(),
               "deterministic": args.deterministic,
               "recipe": dataclasses.asdict(recipe), "dry_run": args.dry_run}

    written = []  # epochs save_partial wrote: Ctrl-C names the results file only when one did

    def save_partial(history):  # an interrupted run still leaves every finished epoch on disk
        if args.results:
            utils.write_json(args.results, {**results, "complete": False, "final_test_acc": None,
                                            "history": history})
            written.append(len(history))

    loader = None
    if recipe.pil_augment:
        loader = utils.pil_loader(args.data_dir, recipe.batch_size, data.mean, data.std, args.seed,
                                  limit=2000 if args.dry_run else None, device=device)
    try:
        history = utils.fit(net, recipe, data, seed=args.seed, progress=not args.quiet,
                            on_epoch=save_partial, loader=loader)
    except utils.TrainingDiverged as error:
        sys.exit(f"train.py: error: {error}")
    except KeyboardInterrupt:
        where = ""
        if args.results:
            where = (f"; finished epochs are in {args.results}" if written else
                     f"; no epoch finished, so {args.results} was not written")
        kept = f"; {args.save} was not touched" if args.save else ""
        print(f"\ninterrupted{where}{kept}", file=sys.stderr)
        return 130

    final = history[-1]["test_acc"]
    if args.results:
        utils.write_json(args.results, {**results, "complete": True, "final_test_acc": final,
                                        "history": history})
    if args.save:
        utils.save_checkpoint(args.save, {
            "model": args.model, "state_dict": {k: v.cpu() for k, v in net.state_dict().items()},
            "mean": data.mean, "std": data.std, "params": params, "final_test_acc": final, "seed": args.seed})
        # Before the accuracy line, which stays last: `make results` reads the last line of each log.
        print(f"checkpoint saved to {args.save}; try it: python predict.py --checkpoint {args.save} "
              "images/sample_digit.png")
    hit = utils.first_epoch_at(history)
    print(f"final test accuracy {final:.2f}% after {len(history)} epochs ({params:,} parameters, "
          f"seed {args.seed}); first epoch >= {model.TARGET:.2f}%: {hit if hit else 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
