"""The notebook's evidence helpers: confusion matrix, schedule and plots, on synthetic data."""
import dataclasses

import matplotlib
import pytest
import torch

import model
import plots
import utils

matplotlib.use("Agg")


def test_confusion_matrix_counts_true_rows_against_predicted_columns():
    labels, predictions = torch.tensor([0, 0, 1, 9, 9]), torch.tensor([0, 1, 1, 9, 3])
    matrix = utils.confusion_matrix(predictions, labels)
    assert matrix.shape == (10, 10) and matrix.sum() == 5
    assert matrix[0, 0] == 1 and matrix[0, 1] == 1 and matrix[1, 1] == 1 and matrix[9, 3] == 1


@pytest.fixture
def figures(monkeypatch):
    """The figures the plot functions would show, in order, instead of showing them."""
    shown = []
    monkeypatch.setattr(plots, "show_figure", lambda fig, save=None: shown.append(fig))
    return shown


def line_data(ax) -> list[list[float]]:
    return [list(map(float, line.get_ydata())) for line in ax.get_lines()]


def test_plot_history_draws_each_curve_from_the_history(figures):
    history = [{"epoch": e, "train_loss": 1 / e, "train_acc": 97 + e / 2, "train_eval_loss": 0.9 / e,
                "train_eval_acc": 97.5 + e / 2, "test_loss": 0.8 / e, "test_acc": 98 + e / 3}
               for e in (1, 2, 3)]
    kinds = ("train", "train_eval", "test")
    plots.plot_history(history, title="t")
    ax_loss, ax_acc = figures[0].axes
    assert line_data(ax_loss) == [[r[f"{k}_loss"] for r in history] for k in kinds]
    assert line_data(ax_acc)[:3] == [[r[f"{k}_acc"] for r in history] for k in kinds]
    assert line_data(ax_acc)[3] == [model.TARGET] * 2  # the target line
    assert figures[0]._suptitle.get_text() == "t" and ax_acc.get_title() == "accuracy"  # one title, above
    assert ax_loss.get_yscale() == "log"


def test_confusion_misclassified_and_prediction_plots_show_the_nets_own_predictions(synthetic_mnist, figures):
    net, data = utils.make_model("final", 0).eval(), synthetic_mnist  # untrained: it makes plenty of mistakes
    predictions = utils.evaluate(net, data.test_x, data.test_y)["predictions"]
    matrix = plots.plot_confusion(net, data)
    assert torch.equal(matrix, utils.confusion_matrix(predictions, data.test_y))
    per_class = [bar.get_height() for bar in figures[-1].axes[1].patches]
    assert per_class == pytest.approx((100 * matrix.diag() / matrix.sum(1)).tolist())
    wrong = (predictions != data.test_y).nonzero().flatten()
    assert plots.plot_misclassified(net, data, count=5) == len(wrong) > 5
    titles = [ax.get_title() for ax in figures[-1].axes if ax.get_title()]
    assert [t.split(" (")[0] for t in titles] == [f"{data.test_y[i]} → {predictions[i]}" for i in wrong[:5]]
    probabilities = utils.predict_probabilities(net, data.test_x[:1])[0]
    plots.plot_prediction(data.test_x[:1], probabilities, data.mean, data.std)
    bars = figures[-1].axes[1]
    assert [b.get_height() for b in bars.patches] == pytest.approx(probabilities.tolist())
    assert bars.get_title().startswith(f"prediction: {int(probabilities.argmax())} ")


def test_confusion_matrix_puts_each_prediction_in_its_true_row():
    labels, predictions = torch.tensor([3, 3, 3, 7]), torch.tensor([3, 8, 8, 7])
    matrix = utils.confusion_matrix(predictions, labels)
    assert matrix[3].tolist() == [0, 0, 0, 1, 0, 0, 0, 0, 2, 0] and matrix[7, 7] == 1 and matrix.sum() == 4


STEPS = 10  # per epoch


def test_onecycle_schedule_warms_up_to_the_peak_and_anneals_with_momentum_opposite():
    recipe, steps = model.RECIPES["onecycle"], 4  # 9 epochs x 4 steps: the warm-up is 9 steps, a whole number
    rows = utils.schedule_per_step(recipe, steps)
    lrs, momenta = [r["lr"] for r in rows], [r["momentum"] for r in rows]
    peak = round(recipe.pct_start * recipe.epochs * steps) - 1  # OneCycle's warm-up ends on this step
    assert len(rows) == recipe.epochs * steps and lrs[0] == pytest.approx(recipe.lr / recipe.div_factor)
    assert max(lrs) == pytest.approx(recipe.lr) and lrs.index(max(lrs)) == peak
    assert lrs[-1] == pytest.approx(recipe.lr / recipe.div_factor / recipe.final_div_factor, rel=0.05)
    assert momenta[0] == pytest.approx(0.95) and momenta[peak] == pytest.approx(0.85)


@pytest.mark.parametrize("name, title", [("onecycle", "OneCycle"), ("baseline", "constant LR"),
                                         ("reference", "StepLR")])
def test_plot_schedule_plots_any_recipe_titled_by_its_schedule(name, title, figures):
    recipe = dataclasses.replace(model.RECIPES[name], epochs=3, step_size=2)
    plots.plot_schedule(recipe, STEPS)
    ax_lr, ax_momentum = figures[0].axes
    assert ax_lr.get_title().startswith(f"{title} ({recipe.optimizer})")
    rows = utils.schedule_per_step(recipe, STEPS)
    assert line_data(ax_lr) == [[r["lr"] for r in rows]]
    assert line_data(ax_momentum) == [[r["momentum"] for r in rows]]


def test_constant_and_step_schedules_and_adams_momentum():
    constant = utils.schedule_per_step(dataclasses.replace(model.RECIPES["baseline"], epochs=2), STEPS)
    baseline = model.RECIPES["baseline"]
    assert constant == [{"lr": baseline.lr, "momentum": baseline.momentum}] * 20
    adam = dataclasses.replace(model.RECIPES["reference"], epochs=3, step_size=2, gamma=0.5)
    rows = utils.schedule_per_step(adam, STEPS)  # StepLR moves once an epoch, after the epoch's last step
    assert [r["lr"] for r in rows] == [adam.lr] * 20 + [adam.lr * 0.5] * 10
    assert {r["momentum"] for r in rows} == {0.9}  # Adam's beta1
