"""lr_finder.py: the LR range test and its command line, in-process on the synthetic digits."""
import dataclasses

import matplotlib
import pytest
import torch
from conftest import synthetic_data

import lr_finder
import model

matplotlib.use("Agg")


def test_lr_range_test_raises_the_lr_every_step_and_stops_when_the_loss_blows_up(synthetic_mnist):
    recipe = dataclasses.replace(model.RECIPES["onecycle"], batch_size=32)
    rows = lr_finder.lr_range_test(model.MODELS["batchnorm"](), recipe, synthetic_mnist, lr_min=1e-3,
                                   lr_max=1e3, steps=60)
    lrs = [r["lr"] for r in rows]
    assert lrs[0] == pytest.approx(1e-3) and all(b > a for a, b in zip(lrs, lrs[1:], strict=False))
    assert len(rows) < 60, "an LR of hundreds must blow the loss up before the last step"


def test_smooth_is_unbiased_from_the_first_value():
    assert lr_finder.smooth([2.0, 2.0, 2.0]) == pytest.approx([2.0, 2.0, 2.0])


def test_lr_at_lowest_loss_reads_the_smoothed_curve():
    # The raw minimum (a single lucky step at LR 2) is not the smoothed one: the trend bottoms out at LR 5.
    rows = [{"lr": lr, "loss": loss} for lr, loss in [(1, 3.0), (2, 0.1), (3, 2.0), (4, 1.0), (5, 1.0),
                                                      (6, 9.0)]]
    assert lr_finder.lr_at_lowest_loss(rows) == 5


def test_the_plot_shows_the_raw_and_smoothed_loss_against_the_lr_and_the_peak(monkeypatch):
    shown = []
    monkeypatch.setattr(lr_finder.plots, "show_figure", lambda fig, save=None: shown.append(fig))
    rows = [{"lr": 10 ** (i / 4 - 3), "loss": 2.3 - i / 10} for i in range(12)]
    lr_finder.plot_lr_range_test(rows, peak=0.1)
    (ax,) = shown[0].axes
    raw, smoothed, peak = ax.get_lines()
    assert list(raw.get_xdata()) == list(smoothed.get_xdata()) == [r["lr"] for r in rows]
    assert list(raw.get_ydata()) == [r["loss"] for r in rows]
    assert list(smoothed.get_ydata()) == lr_finder.smooth([r["loss"] for r in rows])
    assert list(peak.get_xdata()) == [0.1, 0.1] and ax.get_xscale() == "log"


@pytest.fixture
def synthetic_load(monkeypatch):
    monkeypatch.setattr(lr_finder.mnist, "load_mnist", lambda *args, **kwargs: synthetic_data(n_train=1024))


def test_the_command_line_prints_where_the_loss_is_lowest(synthetic_load, capsys):
    assert lr_finder.main(["--steps", "20", "--device", "cpu", "--threads",
                           str(torch.get_num_threads())]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("model onecycle | batch 128 | 20 steps from LR 0.0001 to ")
    assert out[1].startswith("smoothed loss lowest at LR ") and "x the recipe's peak LR 0.1" in out[1]


@pytest.mark.parametrize("args, says", [
    (["--model", "resnet"], "unknown model 'resnet'"),
    (["--steps", "1"], "--steps must be at least 2"),
    (["--lr-min", "1", "--lr-max", "0.1"], "need 0 < --lr-min < --lr-max"),
    (["--steps", "many"], "invalid int value"),
    (["--lr-max", "inf"], "--lr-min and --lr-max must be finite numbers, got 0.0001 and inf"),
    (["--lr-min", "nan"], "--lr-min and --lr-max must be finite numbers, got nan and 3.0"),
])
def test_bad_arguments_fail_with_one_clear_line(args, says, synthetic_load):
    with pytest.raises(SystemExit) as exit:
        lr_finder.main(args)
    message = exit.value.code
    assert isinstance(message, str) and message.startswith("lr_finder.py: error: ")
    assert "\n" not in message and says in message, message
