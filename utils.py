"""What the notebook and the scripts call: augmentation, device, the training loop, evaluation, summaries,
receptive field (MNIST's files and tensors: mnist.py; figures: plots.py). Each thing is written once."""
from __future__ import annotations

import copy
import json
import math
import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.optim.swa_utils import update_bn

from mnist import MNISTData, ensure_mnist_files
from model import TARGET, Recipe


class TrainingDiverged(RuntimeError):
    """The training loss stopped being a finite number; the message says in which epoch and what to try."""


# -- Augmentation: one random affine transform per image, the whole batch in one grid_sample call ----------
def affine(x: torch.Tensor, angle_deg: torch.Tensor, zoom: torch.Tensor, shift_x: torch.Tensor,
           shift_y: torch.Tensor) -> torch.Tensor:
    """Image i rotated by angle_deg[i] degrees, zoomed by zoom[i], moved by shift_x[i], shift_y[i] (fractions
    of its size) right and down."""
    angle = angle_deg * (math.pi / 180)
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    # theta maps output coordinates to input ones, in grid units that span [-1, 1]: hence -2 * shift.
    theta = torch.stack([torch.stack([cos, -sin, -2 * shift_x], 1),
                         torch.stack([sin, cos, -2 * shift_y], 1)], 1)
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    # What moves in from beyond the edge is blank paper: sample the image minus its background (its darkest
    # value) with zeros outside, then add the background back. Zero padding exists on every device (Apple's
    # MPS has no "border" padding), and a moved page shows paper where border padding smeared the edge pixels.
    background = x.amin(dim=(2, 3), keepdim=True)
    moved = F.grid_sample(x - background, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return moved + background


def random_affine(x: torch.Tensor, draws: torch.Tensor, rotate_deg: float, translate: float,
                  scale: float) -> torch.Tensor:
    """`affine` with each image's transform read off `draws`, (4, N) uniform in [0, 1): rotation within
    ±rotate_deg degrees, zoom within 1 ± scale, shifts within ±translate of the image size."""
    angle, zoom, shift_x, shift_y = draws.to(x.device) * 2 - 1
    return affine(x, angle * rotate_deg, 1 + zoom * scale, shift_x * translate, shift_y * translate)


def augment(x: torch.Tensor, rotate_deg: float = 0.0, translate: float = 0.0, scale: float = 0.0,
            generator: torch.Generator | None = None) -> torch.Tensor:
    """A random affine transform per image: rotation within ±rotate_deg degrees, shift within ±translate of
    the image size, zoom within 1 ± scale (small: each digit keeps its label); zero strength returns x. The
    draws come from `generator` (a CPU one), so every device sees the same transforms."""
    if rotate_deg == 0 and translate == 0 and scale == 0:
        return x
    return random_affine(x, torch.rand(4, x.shape[0], generator=generator), rotate_deg, translate, scale)


def pil_loader(data_dir: str | Path, batch_size: int, mean: float = 0.1307, std: float = 0.3081,
               seed: int = 0,
               limit: int | None = None, device: str | torch.device = "cpu") -> torch.utils.data.DataLoader:
    """The public reference's input pipeline: per-image PIL transforms in a DataLoader with 2 worker
    processes, shuffled from `seed`; `limit` keeps the first N training images (dry runs). For a CUDA
    `device` the batches come in pinned memory, so that their copies to the GPU can overlap the work."""
    from torchvision import datasets, transforms

    pipeline = transforms.Compose([
        transforms.RandomApply([transforms.CenterCrop(22)], p=0.1),
        transforms.Resize((28, 28)),
        transforms.RandomRotation((-10.0, 10.0), fill=0),
        transforms.ColorJitter(brightness=0.2, contrast=0.2),
        transforms.RandomAffine(degrees=0, translate=(0.1, 0.1), scale=(0.9, 1.1)),
        transforms.ToTensor(),
        transforms.Normalize((mean,), (std,)),
    ])
    root = str(ensure_mnist_files(data_dir, quiet=True).parent.parent)
    train = datasets.MNIST(root, train=True, download=False, transform=pipeline)
    if limit is not None:
        train = torch.utils.data.Subset(train, range(limit))
    workers = min(2, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 2)
    return torch.utils.data.DataLoader(train, batch_size=batch_size, shuffle=True, num_workers=workers,
                                       persistent_workers=True,
                                       pin_memory=torch.device(device).type == "cuda",
                                       generator=torch.Generator().manual_seed(seed))


# -- Device, models, recipes -----------------------------------------------------------------------------
def pick_device(name: str | None = None) -> torch.device:
    """`name` if given ("cpu", "cuda", "cuda:1", "mps"), else CUDA, then Apple MPS, then CPU; one that is not
    here raises ValueError saying what is. Choosing changes nothing else: threads are `set_threads`'."""
    mps = getattr(torch.backends, "mps", None)
    available = {"cuda": torch.cuda.is_available(), "mps": mps is not None and mps.is_available()}
    if name is None or name == "auto":
        name = next((kind for kind, ok in available.items() if ok), "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as error:
        raise ValueError(f"unknown device {name!r}: use cpu, cuda, cuda:N or mps ({error})") from None
    if device.type not in ("cpu", "cuda", "mps"):  # torch knows xpu, meta, ...: nothing here runs on those
        raise ValueError(f"unknown device {name!r}: these tools run on cpu, cuda, cuda:N or mps")
    if not available.get(device.type, True):
        kind = {"cuda": "CUDA", "mps": "Apple MPS"}[device.type]
        raise ValueError(f"device {name!r} asked for, but {kind} is not available here: use --device cpu")
    # Checked here, not where the first tensor moves there, so that the message says what to use instead.
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        count = torch.cuda.device_count()
        raise ValueError(f"device {name!r} asked for, but this machine has {count} CUDA device(s), "
                         f"cuda:0 to cuda:{count - 1}: use one of those")
    return device


def set_threads(threads: int | None = None) -> int:
    """Let torch's CPU ops use `threads` threads, by default one per core this process may run on; returns
    the number. The command lines call it (--threads) and so does the notebook: CPU results are bit-identical
    only at one thread count, so it is set in plain sight, never as a side effect."""
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise ValueError(f"threads must be a whole number >= 1, got {threads!r}")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    torch.set_num_threads(threads or cores)
    return torch.get_num_threads()


def set_deterministic(on: bool = True) -> None:
    """Make CUDA runs repeatable where torch can (the CPU already is, at one thread count): deterministic
    kernels only, cuDNN without its per-shape benchmark (which may pick a different algorithm each run), and
    full fp32 convolutions: on Ampere and newer GPUs cuDNN otherwise rounds their inputs to TF32's 10-bit
    mantissa. warn_only: an op torch has no deterministic CUDA kernel for warns, naming itself, and runs.
    Repeatable means the same numbers on the same GPU model, torch and driver; never the CPU's numbers."""
    if on:  # cuBLAS reads this when its first handle is made: before any CUDA work, as the commands call it
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(on, warn_only=True)
    torch.backends.cudnn.deterministic = on
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.allow_tf32 = not on  # torch's default is True
    torch.backends.cuda.matmul.allow_tf32 = False  # torch's default already


def fork_rng(device: str | torch.device):
    """A context that restores the CPU's random state and `device`'s (CUDA or MPS) when it ends."""
    device = torch.device(device)
    if device.type == "cpu":
        return torch.random.fork_rng(devices=[])
    return torch.random.fork_rng(devices=[device], device_type=device.type)


def to_device(x: torch.Tensor, device: torch.device) -> torch.Tensor:
    """`x` (on the CPU) on `device`. To a GPU through pinned memory, queued without waiting: the host runs
    on."""
    if torch.device(device).type == "cuda":
        return x.pin_memory().to(device, non_blocking=True)
    return x.to(device)


def synchronize(device: str | torch.device) -> None:
    """Wait until `device` has finished the work queued on it. CUDA and MPS run kernels asynchronously: a
    clock read without this times the launches, not the work. The CPU has nothing to wait for."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def make_model(name: str, seed: int = 0) -> nn.Module:
    """A fresh `model.MODELS[name]` whose initial weights depend on `seed` alone. The global random state is
    left as it was: the weights come from the CPU generator seeded in a fork of it."""
    import model
    if name not in model.MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of: {', '.join(model.MODELS)}")
    with torch.random.fork_rng(devices=[]):  # layers are built on the CPU: its generator is the only one used
        torch.random.default_generator.manual_seed(seed)
        return model.MODELS[name]()


def with_overrides(recipe: Recipe, **overrides) -> Recipe:
    """The recipe with the given fields replaced (None means keep); validated by Recipe itself."""
    return replace(recipe, **{k: v for k, v in overrides.items() if v is not None})


# -- Training ------------------------------------------------------------------------------------------
def memory_format_for(recipe: Recipe, device: torch.device) -> torch.memory_format:
    """Channels-last where the recipe asks for it, on the CPU only: the one device it was measured on."""
    return torch.channels_last if recipe.channels_last and device.type == "cpu" else torch.preserve_format


def make_optimizer(model: nn.Module, recipe: Recipe) -> torch.optim.Optimizer:
    if recipe.optimizer == "sgd":  # foreach: one call per update for all tensors, the same numbers
        return torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=recipe.momentum,
                               nesterov=recipe.nesterov and recipe.momentum > 0,
                               weight_decay=recipe.weight_decay, foreach=True)
    return torch.optim.Adam(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)


def make_scheduler(optimizer: torch.optim.Optimizer, recipe: Recipe, steps_per_epoch: int):
    """Returns (scheduler or None, True if it steps every batch rather than every epoch)."""
    if recipe.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=recipe.lr, epochs=recipe.epochs, steps_per_epoch=steps_per_epoch,
            pct_start=recipe.pct_start, div_factor=recipe.div_factor,
            final_div_factor=recipe.final_div_factor, anneal_strategy="linear",
            cycle_momentum=recipe.cycle_momentum and recipe.optimizer == "sgd" and recipe.momentum > 0,
        ), True
    if recipe.schedule == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, recipe.step_size, gamma=recipe.gamma), False
    return None, False


def tensor_batches(data: MNISTData, recipe: Recipe, generator: torch.Generator | None = None):
    """One shuffled pass over the training tensors, each batch augmented as a whole. The batch order and the
    augmentation's draws come from `generator`, a CPU one, so every device trains on the same batches; they
    are drawn for the whole epoch at once (the same numbers as batch by batch) and moved to the device in
    one copy: no step waits on the host."""
    n, size = len(data.train_y), recipe.batch_size
    order = to_device(torch.randperm(n, generator=generator), data.device)
    augmenting = recipe.rotate_deg != 0 or recipe.translate != 0 or recipe.scale != 0
    draws = to_device(torch.rand(4 * n, generator=generator), data.device) if augmenting else None
    for start in range(0, n, size):
        idx = order[start:start + size]
        x = data.train_x[idx]
        if draws is not None:  # batch by batch, each batch's (4, batch) draws were consecutive numbers
            batch_draws = draws[4 * start:4 * (start + len(idx))].view(4, -1)
            x = random_affine(x, batch_draws, recipe.rotate_deg, recipe.translate, recipe.scale)
        yield x, data.train_y[idx]


def train_epoch(model, data: MNISTData, recipe: Recipe, optimizer, scheduler=None, per_batch=False,
                generator: torch.Generator | None = None, progress: str | None = None, average=None,
                loader=None) -> dict:
    """One pass over the shuffled training set (from `loader`, a PIL pipeline, if given), updating `average`
    (a weight average) after every step if given; returns mean loss, accuracy (percent) and the LR used."""
    from tqdm.auto import tqdm
    model.train()
    batches = tensor_batches(data, recipe, generator) if loader is None else loader
    n = len(batches.dataset) if loader is not None else len(data.train_y)
    bar = tqdm(batches, total=math.ceil(n / recipe.batch_size), desc=progress, leave=False,
               disable=progress is None, mininterval=1.0)
    loss_sum = torch.zeros((), device=data.device)
    correct = torch.zeros((), dtype=torch.long, device=data.device)
    seen = 0
    for i, (x, y) in enumerate(bar):
        x, y = x.to(data.device), y.to(data.device)
        seen += len(y)
        logits = model(x)
        loss = F.cross_entropy(logits, y, label_smoothing=recipe.label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        lr = optimizer.param_groups[0]["lr"]  # the LR this step used, before the scheduler moves it
        optimizer.step()
        if average is not None:
            average.update(model)
        if per_batch:
            scheduler.step()
        loss_sum += loss.detach() * len(y)
        correct += (logits.argmax(1) == y).sum()
        if progress is not None and i % 20 == 0:  # a host sync only when the bar is shown
            bar.set_postfix(loss=f"{loss_sum.item() / seen:.4f}", acc=f"{100 * correct.item() / seen:.2f}")
    if scheduler is not None and not per_batch:
        scheduler.step()
    return {"loss": loss_sum.item() / n, "acc": 100 * correct.item() / n, "lr": lr}


@torch.no_grad()
def evaluate(model, x: torch.Tensor, y: torch.Tensor, batch_size: int = 500) -> dict:
    """Mean loss, accuracy (percent) and predictions (on y's device) on (x, y) in eval mode, in batches that
    fit the cache, each moved to the model's device: a CPU checkpoint reads GPU data and the other way
    round."""
    model.eval()
    device = next(model.parameters()).device
    loss_sum, predictions = 0.0, []
    for start in range(0, len(y), batch_size):
        logits = model(x[start:start + batch_size].to(device))
        loss_sum += F.cross_entropy(logits, y[start:start + batch_size].to(device), reduction="sum").item()
        predictions.append(logits.argmax(1))
    predictions = torch.cat(predictions).to(y.device)
    return {"loss": loss_sum / len(y), "acc": 100 * (predictions == y).float().mean().item(),
            "predictions": predictions}


@torch.no_grad()
def predict_probabilities(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Softmax over the 10 digits for each image of the batch `x`, (N, 10), on x's device, computed in eval
    mode on the net's; `net` is handed back in the mode it came in (a model mid-training stays in train
    mode)."""
    was_training = net.training
    net.eval()
    try:
        return F.softmax(net(x.to(next(net.parameters()).device)), dim=1).to(x.device)
    finally:
        net.train(was_training)


TRAIN_EVAL_IMAGES = 10_000  # the fixed training subset whose eval-mode accuracy sits beside the test accuracy


class WeightAverage:
    """An exponential moving average of a network's weights and BatchNorm statistics, updated after every
    step: average += (1 - decay) * (net - average), the first update a copy. Integer buffers (BatchNorm's
    batch count) are copied. torch's AveragedModel computes the same floats, but keeps its update count on the
    CPU and moves it to the device at every update: on a GPU, a wait on the host every step."""

    def __init__(self, net: nn.Module, decay: float):
        self.module = copy.deepcopy(net)
        self.decay = decay
        self.updates = 0
        # The same tensors every step (the optimizer updates them in place): floats averaged, the rest copied.
        pairs = list(zip(self.module.state_dict().values(), net.state_dict().values(), strict=True))
        self._floats = [list(side) for side in zip(*[p for p in pairs if p[0].is_floating_point()],
                                                   strict=True)]
        self._others = [p for p in pairs if not p[0].is_floating_point()]
        self._net = net

    @torch.no_grad()
    def update(self, net: nn.Module) -> None:
        if net is not self._net:
            raise ValueError("WeightAverage.update: pass the network it was made from")
        mine, theirs = self._floats
        if self.updates == 0:
            torch._foreach_copy_(mine, theirs)
        else:
            torch._foreach_lerp_(mine, theirs, 1 - self.decay)
        for mine_int, theirs_int in self._others:
            mine_int.copy_(theirs_int)
        self.updates += 1


@torch.no_grad()
def with_own_bn_statistics(average: WeightAverage, x: torch.Tensor, batch_size: int = 500) -> nn.Module:
    """A copy of the averaged network whose BatchNorm statistics are recomputed for its own weights, over the
    images `x` (`torch.optim.swa_utils.update_bn`). The average's own buffers are a moving average of the raw
    network's statistics, which belong to other weights. The random state is restored afterwards, so that the
    training run goes on exactly as without this evaluation (dropout draws in train mode)."""
    net = copy.deepcopy(average.module)
    with fork_rng(x.device):
        update_bn([x[start:start + batch_size] for start in range(0, len(x), batch_size)], net)
    return net


def fit(model: nn.Module, recipe: Recipe, data: MNISTData, seed: int = 0, progress: bool = True,
        log: bool = True, on_epoch=None, stop_at: float | None = None, loader=None,
        evaluate_last_only: bool = False) -> list[dict]:
    """Train `model` with `recipe` from `seed`; one row per epoch: train_loss/acc (running: augmented batches,
    train mode), train_eval_loss/acc (the first TRAIN_EVAL_IMAGES training images: clean, eval mode),
    test_loss/acc, lr, seconds. `on_epoch(history)` runs after each epoch; `stop_at` (percent) ends training
    at the first epoch whose test_acc reaches it. `loader` (pil_loader(), for recipes with pil_augment) feeds
    the training batches instead of data's tensors.

    With a weight average (recipe.ema_decay > 0) the test and train_eval columns are the averaged weights'
    with BatchNorm statistics recomputed for them on the TRAIN_EVAL_IMAGES, and `model` ends up holding that
    network; each row also records test_acc_raw (the trained weights themselves, no average) and
    test_acc_avg_buffers (the averaged weights with the averaged statistics, what fit reported before).

    `evaluate_last_only` (bench.py's timed sprint, whose last epoch is all that counts): the epochs before the
    last keep only their training columns. The evaluations change no weight and no random draw, so the last
    epoch's row is the same as with every epoch evaluated."""
    torch.manual_seed(seed)  # CPU, CUDA and MPS generators alike: dropout draws from the device's
    generator = torch.Generator().manual_seed(seed)  # batch order and augmentation: the CPU's, any device
    model.to(data.device, memory_format=memory_format_for(recipe, data.device))
    optimizer = make_optimizer(model, recipe)
    scheduler, per_batch = make_scheduler(optimizer, recipe, math.ceil(len(data.train_y) / recipe.batch_size))
    average = None  # a moving average of the weights and BatchNorm statistics: single steps' noise cancels
    if recipe.ema_decay != 0:
        average = WeightAverage(model, recipe.ema_decay)
    clean = replace(recipe, rotate_deg=0.0, translate=0.0, scale=0.0)  # the last `clean_epochs` epochs
    train_x, train_y = data.train_x[:TRAIN_EVAL_IMAGES], data.train_y[:TRAIN_EVAL_IMAGES]
    history = []
    for epoch in range(1, recipe.epochs + 1):
        synchronize(data.device)  # the clock times this epoch's work, not the evaluations still queued
        started = time.perf_counter()
        train = train_epoch(model, data, recipe if epoch <= recipe.epochs - recipe.clean_epochs else clean,
                            optimizer, scheduler, per_batch, generator,
                            progress=f"epoch {epoch}/{recipe.epochs}" if progress else None, average=average,
                            loader=loader)
        synchronize(data.device)
        seconds = time.perf_counter() - started  # training time; the evaluations below are not in it
        if not math.isfinite(train["loss"]):  # a NaN or inf loss in any step makes the epoch's sum so
            raise TrainingDiverged(f"training diverged: the loss became {train['loss']} in epoch {epoch} "
                                   f"(learning rate {train['lr']:g}); nothing was saved. Fix: lower the "
                                   "learning rate (--lr)")
        if evaluate_last_only and epoch < recipe.epochs:
            history.append({"epoch": epoch, "train_loss": train["loss"], "train_acc": train["acc"],
                            "lr": train["lr"], "seconds": seconds})
            continue
        extra = {}
        evaluated = model
        if average is not None:
            evaluated = with_own_bn_statistics(average, train_x)
            extra = {"test_acc_raw": evaluate(model, data.test_x, data.test_y)["acc"],
                     "test_acc_avg_buffers": evaluate(average.module, data.test_x, data.test_y)["acc"]}
        test = evaluate(evaluated, data.test_x, data.test_y)
        # The same images every epoch, un-augmented and in eval mode: comparable with the test columns.
        train_clean = evaluate(evaluated, train_x, train_y)
        history.append({"epoch": epoch, "train_loss": train["loss"], "train_acc": train["acc"],
                        "train_eval_loss": train_clean["loss"], "train_eval_acc": train_clean["acc"],
                        "test_loss": test["loss"], "test_acc": test["acc"], **extra, "lr": train["lr"],
                        "seconds": seconds})
        if log:
            print(format_epoch(history[-1]))
        if on_epoch is not None:
            on_epoch(history)
        if stop_at is not None and test["acc"] >= stop_at:
            break
    if average is not None:  # the caller keeps the weights that were tested
        model.load_state_dict(evaluated.state_dict())
    return history


def format_epoch(row: dict) -> str:
    return (f"epoch {row['epoch']:2d}  train loss {row['train_loss']:.4f} acc {row['train_acc']:6.2f}% "
            f"(clean, eval mode: {row['train_eval_acc']:6.2f}%)  test loss {row['test_loss']:.4f} "
            f"acc {row['test_acc']:6.2f}%  lr {row['lr']:.5f}  {row['seconds']:5.1f}s")


# -- Summaries: parameters, torchsummary, receptive field, one run's figures -----------------------------
def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def summary(model: nn.Module, input_size=(1, 28, 28)) -> None:
    """torchsummary's table, from a CPU copy of the model in a forked RNG: the model's BatchNorm statistics
    and the random stream of the training that follows stay as they were."""
    from torchsummary import summary as torchsummary_table
    with torch.random.fork_rng(devices=[]):
        torchsummary_table(copy.deepcopy(model).cpu().eval(), input_size, device="cpu")


def receptive_field(model: nn.Module, input_size=(1, 28, 28)) -> list[dict]:
    """Receptive field after every conv and pooling layer, in the order forward() runs them
    (rf += (kernel - 1) * dilation * jump; jump *= stride)."""
    rows, rf, jump = [], 1, 1
    probe = copy.deepcopy(model).cpu().eval()  # hooks and the forward pass never touch the caller's model

    def record(name, module, inputs, output):
        nonlocal rf, jump
        if isinstance(module, nn.AdaptiveAvgPool2d):
            kernel, stride, dilation = inputs[0].shape[-1], 1, 1
        else:  # square kernels throughout; pooling layers have no dilation
            kernel, stride, dilation = (v[0] if isinstance(v, tuple) else v for v in (
                module.kernel_size, module.stride, getattr(module, "dilation", 1)))
        rf += (kernel - 1) * dilation * jump
        jump *= stride
        rows.append({"layer": name, "kind": type(module).__name__, "kernel": kernel, "stride": stride,
                     "out_size": output.shape[-1], "channels": output.shape[1], "jump": jump, "rf": rf})

    for name, module in probe.named_modules():
        if isinstance(module, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d)):
            module.register_forward_hook(lambda *args, name=name: record(name, *args))
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        probe(torch.zeros(1, *input_size))
    return rows


def print_receptive_field(model: nn.Module) -> None:
    print(f"{'layer':<16}{'kind':<18}{'k':>3}{'s':>3}{'out':>5}{'ch':>5}{'jump':>6}{'RF':>5}")
    for r in receptive_field(model):
        print(f"{r['layer']:<16}{r['kind']:<18}{r['kernel']:>3}{r['stride']:>3}{r['out_size']:>5}"
              f"{r['channels']:>5}{r['jump']:>6}{r['rf']:>5}")


def first_epoch_at(history: list[dict], target: float = TARGET) -> int | None:
    return next((row["epoch"] for row in history if row["test_acc"] >= target), None)


def run_figures(history: list[dict], params: int) -> dict:
    """The figures one training run is judged by, all read off its history."""
    final, test = history[-1], [r["test_acc"] for r in history]
    return {"params": params, "epochs": len(history), "final_test_acc": test[-1], "best_test_acc": max(test),
            "final_train_eval_acc": final["train_eval_acc"], "gap": final["train_eval_acc"] - test[-1],
            "first_epoch_at_target": first_epoch_at(history),
            "seconds_per_epoch": sum(r["seconds"] for r in history) / len(history)}


def print_run(history: list[dict], model: nn.Module) -> dict:
    """Print one run's figures on one line and return them."""
    s = run_figures(history, count_params(model))
    print(f"params {s['params']:,} | final test {s['final_test_acc']:.2f}% (best {s['best_test_acc']:.2f}%)",
          f"clean train {s['final_train_eval_acc']:.2f}% (gap {s['gap']:+.2f})",
          f"first epoch >= {TARGET}%: {s['first_epoch_at_target'] or 'none'}",
          f"{s['seconds_per_epoch']:.1f} s/epoch", sep=" | ")
    return s


# -- Evaluation figures -------------------------------------------------------------------------------
def confusion_matrix(predictions: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """10×10 counts: row = true digit, column = predicted digit."""
    return torch.bincount(labels.cpu() * 10 + predictions.cpu(), minlength=100).reshape(10, 10)


def schedule_per_step(recipe: Recipe, steps_per_epoch: int) -> list[dict]:
    """The learning rate and momentum (Adam: beta1, its momentum) every training step of `recipe` uses, read
    off a throwaway optimizer stepped as fit() steps it: per batch for OneCycle, per epoch otherwise."""
    optimizer = make_optimizer(nn.Linear(1, 1), recipe)
    scheduler, per_batch = make_scheduler(optimizer, recipe, steps_per_epoch)
    group, rows = optimizer.param_groups[0], []
    for step in range(recipe.epochs * steps_per_epoch):
        momentum = group["betas"][0] if "betas" in group else group["momentum"]
        rows.append({"lr": group["lr"], "momentum": momentum})
        optimizer.step()
        if scheduler is not None and (per_batch or (step + 1) % steps_per_epoch == 0):
            scheduler.step()
    return rows


# -- Results files and checkpoints, written atomically: an interrupted write leaves the old file intact ----
def _write_atomically(path: str | Path, write) -> None:  # write(temp file), then rename it to `path`
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    write(tmp)
    tmp.replace(path)


def check_output(path: str | Path, flag: str = "") -> None:
    """Raise ValueError, naming `path` (and the `flag` that gave it), when a file cannot be written there: it
    is a folder, a folder above it is a file, or the nearest existing folder cannot be written in. The
    commands call it before any data is read, so that a long run never ends unable to save its work.
    Creates nothing: only a test file in the nearest existing folder, removed at once."""
    path = Path(path)
    name = f"{flag} {path}" if flag else str(path)
    if path.is_dir():
        raise ValueError(f"cannot write {name}: it is a folder; name a file in it instead")
    folder = next((f for f in [path.parent, *path.parent.parents] if f.exists()), Path("."))
    if not folder.is_dir():
        raise ValueError(f"cannot write {name}: {folder} is a file, not a folder; choose another path")
    try:
        handle, probe = tempfile.mkstemp(dir=folder, prefix=".write-check-")
    except OSError as error:
        raise ValueError(f"cannot write {name}: {folder} cannot be written in ({error.strerror}); choose a "
                         "folder you can write to") from None
    os.close(handle)
    os.unlink(probe)


def write_json(path: str | Path, payload) -> None:
    _write_atomically(path, lambda tmp: tmp.write_text(json.dumps(payload, indent=1) + "\n"))


def read_json(path: str | Path):
    return json.loads(Path(path).read_text())


def save_checkpoint(path: str | Path, payload: dict) -> None:
    _write_atomically(path, lambda tmp: torch.save(payload, tmp))
