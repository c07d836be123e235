"""The LR range test (Smith, "Cyclical Learning Rates", 2015; fast.ai's lr_find): train a fresh net for a few
hundred steps while the learning rate grows every step, and see where the loss falls fastest and where it
blows up. The notebook's OneCycle iteration runs it and plots it; from a terminal:

    python lr_finder.py                  # the onecycle recipe: where the smoothed loss is lowest
    python lr_finder.py --model final --steps 200
"""
from __future__ import annotations

import argparse
import math
import sys

import cli

if __name__ == "__main__":
    cli.one_line_on_ctrl_c("lr_finder.py")

import torch
import torch.nn as nn
import torch.nn.functional as F

import mnist
import model
import plots
import utils
from train import HelpFormatter, Parser, add_run_args, device_for


def lr_range_test(net: nn.Module, recipe: model.Recipe, data: mnist.MNISTData, lr_min: float = 1e-4,
                  lr_max: float = 3.0, steps: int = 300, seed: int = 0) -> list[dict]:
    """Train from scratch with SGD (the recipe's batch, momentum, weight decay and augmentation) while the
    learning rate grows geometrically from lr_min to lr_max, one step per batch; return [{lr, loss}] per
    step, stopping early once the loss has blown up."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    net.to(data.device).train()
    optimizer = torch.optim.SGD(net.parameters(), lr=lr_min, momentum=recipe.momentum,
                                nesterov=recipe.momentum > 0, weight_decay=recipe.weight_decay)
    factor = (lr_max / lr_min) ** (1 / (steps - 1))
    rows, best = [], float("inf")
    for step in range(steps):
        lr = lr_min * factor ** step
        optimizer.param_groups[0]["lr"] = lr
        idx = torch.randint(len(data.train_y), (recipe.batch_size,), generator=generator).to(data.device)
        x = utils.augment(data.train_x[idx], recipe.rotate_deg, recipe.translate, recipe.scale, generator)
        loss = F.cross_entropy(net(x), data.train_y[idx])
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


def lr_at_lowest_loss(rows: list[dict]) -> float:
    """The learning rate of the step whose smoothed loss is lowest."""
    return min(zip(smooth([r["loss"] for r in rows]), [r["lr"] for r in rows], strict=False))[1]


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
    plots.show_figure(fig)


def parse_args(argv=None) -> argparse.Namespace:
    p = Parser(prog="lr_finder.py", formatter_class=HelpFormatter,
               description="The LR range test of a registered model, with its recipe's batch and "
                           "augmentation.")
    p.add_argument("--model", default="onecycle", help="model name (see train.py --list-models)")
    p.add_argument("--steps", type=int, default=300, help="training steps, the LR growing every step")
    p.add_argument("--lr-min", type=float, default=1e-4, help="the first step's learning rate")
    p.add_argument("--lr-max", type=float, default=3.0, help="the last step's learning rate")
    add_run_args(p)
    args = p.parse_args(argv)
    if args.steps < 2:
        p.error(f"--steps must be at least 2, got {args.steps}")
    if not (math.isfinite(args.lr_min) and math.isfinite(args.lr_max)):  # the LR grows from one to the other
        p.error(f"--lr-min and --lr-max must be finite numbers, got {args.lr_min} and {args.lr_max}")
    if not 0 < args.lr_min < args.lr_max:
        p.error(f"need 0 < --lr-min < --lr-max, got {args.lr_min} and {args.lr_max}")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        net = utils.make_model(args.model, args.seed)
        device = device_for(args)
        data = mnist.load_mnist(args.data_dir, device)
    except (ValueError, mnist.DataError) as error:
        sys.exit(f"lr_finder.py: error: {error}")
    recipe = model.RECIPES[args.model]
    try:
        rows = lr_range_test(net, recipe, data, args.lr_min, args.lr_max, args.steps, args.seed)
    except KeyboardInterrupt:
        print("\ninterrupted: the test writes nothing, so nothing is lost", file=sys.stderr)
        return 130
    stopped = f" (stopped: the loss blew up at LR {rows[-1]['lr']:.3g})" if len(rows) < args.steps else ""
    lowest = lr_at_lowest_loss(rows)
    print(f"model {args.model} | batch {recipe.batch_size} | {len(rows)} steps from LR {args.lr_min:g} to "
          f"{rows[-1]['lr']:.3g}{stopped}")
    print(f"smoothed loss lowest at LR {lowest:.3g}: {lowest / recipe.lr:.1f}x the recipe's peak LR "
          f"{recipe.lr:g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
