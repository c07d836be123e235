"""The notebook's figures: training curves, digits, a prediction, mistakes, the confusion matrix and the
learning-rate schedule. Each shows the figure inline and, given `save`, writes it too."""
from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn as nn

from model import TARGET, Recipe
from utils import MNISTData, confusion_matrix, evaluate, predict_probabilities, schedule_per_step


def save_figure(fig, save: str | Path | None) -> None:
    if save:
        Path(save).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(save, dpi=110, bbox_inches="tight")


def show_figure(fig, save: str | Path | None = None) -> None:
    """Lay the figure out, save it if asked, and show it (inline in the notebook)."""
    import matplotlib.pyplot as plt
    fig.tight_layout()
    save_figure(fig, save)
    plt.show()


def plot_history(history: list[dict], title: str = "", save: str | Path | None = None,
                 seed_runs: list[list[dict]] | None = None):
    """Loss (log scale) and accuracy per epoch of the training batches, the clean training subset and the test
    set for one run (`history`); with `seed_runs` (histories of other seeds), the mean ± sd of their clean
    train and test curves as shaded bands behind it. The accuracy axis spans every clean-train and test point;
    running train-batch points below it are named in the axis label."""
    import matplotlib.pyplot as plt
    epochs = [r["epoch"] for r in history]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 3.8))
    curves = (("train", ":", "train batches (running, in training mode)"),
              ("train_eval", "-o", "train images (clean: as the test set is read)"), ("test", "-s", "test"))
    shown = []
    for key, style, label in curves:
        line, = ax_loss.plot(epochs, [r[f"{key}_loss"] for r in history], style, ms=3, label=label)
        ax_acc.plot(epochs, [r[f"{key}_acc"] for r in history], style, ms=3, color=line.get_color(),
                    label=f"{label}, this run")
        if key != "train":
            shown += [r[f"{key}_acc"] for r in history]
        if seed_runs and key != "train":
            per_epoch = [torch.tensor([run[i][f"{key}_acc"] for run in seed_runs if len(run) > i])
                         for i in range(len(history))]
            mean = torch.stack([e.mean() for e in per_epoch])
            sd = torch.stack([e.std() if len(e) > 1 else torch.tensor(0.0) for e in per_epoch])
            ax_acc.fill_between(epochs, mean - sd, mean + sd, color=line.get_color(), alpha=0.2,
                                label=f"{label.split(' (')[0]}, {len(seed_runs)} seeds: mean ± sd")
            shown += (mean - sd).tolist() + (mean + sd).tolist()
    bottom, top = min(shown) - 0.1, max(max(shown), TARGET) + 0.1
    below = [f"{r['train_acc']:.1f}" for r in history if r["train_acc"] < bottom]
    ax_acc.axhline(TARGET, color="grey", ls="--", lw=1, label=f"{TARGET}% target")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy (log scale)", yscale="log", title="loss")
    ax_acc.set(xlabel="epoch", title="accuracy", ylim=(bottom, top),
               ylabel="accuracy (%)" + (f"\n(train batches below: {', '.join(below)} %)" if below else ""))
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
    ax_acc.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))  # beside the data, never on it
    ax_loss.legend(fontsize=7, loc="upper right")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    show_figure(fig, save)


def plot_digits(images: torch.Tensor, titles: list[str], mean: float, std: float, columns: int = 10,
                save: str | Path | None = None):
    """A grid of digits (normalised tensors) with a title under each."""
    import matplotlib.pyplot as plt
    rows = math.ceil(len(images) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(1.2 * columns, 1.45 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, title in zip(axes.flat, images.cpu(), titles, strict=False):
        ax.imshow((image[0] * std + mean).numpy(), cmap="gray_r", vmin=0, vmax=1)
        ax.set_title(title, fontsize=8)
    show_figure(fig, save)


def plot_prediction(x: torch.Tensor, probabilities: torch.Tensor, mean: float, std: float):
    """One image as the network sees it (28×28, normalised) beside its ten class probabilities."""
    import matplotlib.pyplot as plt
    fig, (ax_img, ax_p) = plt.subplots(1, 2, figsize=(8, 2.8), gridspec_kw={"width_ratios": [1, 2.2]})
    ax_img.imshow((x.reshape(28, 28).cpu() * std + mean).numpy(), cmap="gray", vmin=0, vmax=1)
    ax_img.set(xticks=[], yticks=[], title="what the network sees (28×28)")
    ax_p.bar(range(10), probabilities.cpu().tolist(), color="tab:blue")
    ax_p.set(xticks=range(10), xlabel="digit", ylabel="probability", ylim=(0, 1),
             title=f"prediction: {int(probabilities.argmax())} ({float(probabilities.max()):.1%})")
    show_figure(fig)


def plot_misclassified(model: nn.Module, data: MNISTData, count: int = 30,
                       save: str | Path | None = None) -> int:
    """The first `count` test digits the model gets wrong, titled true → predicted (probability); returns how
    many it gets wrong."""
    confidence, predictions = predict_probabilities(model, data.test_x).max(1)
    wrong = (predictions != data.test_y).nonzero().flatten()
    shown = wrong[:count]
    titles = [f"{t} → {p} ({c:.0%})" for t, p, c in
              zip(data.test_y[shown].tolist(), predictions[shown].tolist(), confidence[shown].tolist(),
                  strict=False)]
    plot_digits(data.test_x[shown], titles, data.mean, data.std, save=save)
    return len(wrong)


def plot_confusion(model: nn.Module, data: MNISTData, save: str | Path | None = None) -> torch.Tensor:
    """The test confusion matrix (diagonal blank, so the mistakes show) and per-class accuracy; returns it."""
    import matplotlib.pyplot as plt
    matrix = confusion_matrix(evaluate(model, data.test_x, data.test_y)["predictions"], data.test_y)
    fig, (ax_m, ax_c) = plt.subplots(1, 2, figsize=(11, 4), gridspec_kw={"width_ratios": [1.1, 1]})
    mistakes = matrix.clone().fill_diagonal_(0)
    image = ax_m.imshow(mistakes.numpy(), cmap="Reds")
    fig.colorbar(image, ax=ax_m, label="test digits", fraction=0.046)
    for (i, j), n in zip(torch.cartesian_prod(torch.arange(10), torch.arange(10)).tolist(), matrix.flatten(),
                         strict=False):
        if i != j and n > 0:  # white on the darker half of the colour scale, black on the lighter
            ax_m.text(j, i, int(n), ha="center", va="center", fontsize=8,
                      color="white" if n > mistakes.max() / 2 else "black")
    ax_m.set(xticks=range(10), yticks=range(10), xlabel="predicted", ylabel="true",
             title="test mistakes (true row → predicted column)")
    per_class = (100 * matrix.diag() / matrix.sum(1)).tolist()
    ax_c.bar(range(10), per_class, color="tab:blue")
    ax_c.axhline(TARGET, color="tab:red", ls="--", lw=1, label=f"{TARGET}%")
    ax_c.set(xticks=range(10), xlabel="true digit", ylabel="accuracy (%)", ylim=(min(per_class) - 0.3, 100),
             title="per-class test accuracy")
    ax_c.legend(loc="lower right")
    show_figure(fig, save)
    return matrix


SCHEDULE_TITLES = {"onecycle": "OneCycle", "step": "StepLR", "none": "constant LR"}


def plot_schedule(recipe: Recipe, steps_per_epoch: int, save: str | Path | None = None):
    """The learning rate and momentum of every step of `recipe`, titled by its schedule."""
    import matplotlib.pyplot as plt
    rows = schedule_per_step(recipe, steps_per_epoch)
    steps = [s / steps_per_epoch for s in range(len(rows))]
    fig, ax_lr = plt.subplots(figsize=(7, 3))
    ax_lr.plot(steps, [r["lr"] for r in rows], color="tab:blue")
    ax_lr.set(xlabel="epoch", ylabel="learning rate", title=f"{SCHEDULE_TITLES[recipe.schedule]} "
              f"({recipe.optimizer}) over {recipe.epochs} epochs")
    ax_lr.grid(alpha=0.3)
    ax_m = ax_lr.twinx()
    ax_m.plot(steps, [r["momentum"] for r in rows], color="tab:orange")
    ax_m.set_ylabel("momentum" if recipe.optimizer == "sgd" else "Adam beta1", color="tab:orange")
    show_figure(fig, save)
