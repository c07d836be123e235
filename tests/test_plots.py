"""The notebook's evidence helpers: confusion matrix, schedule and plots, on synthetic data."""
import dataclasses

import matplotlib
import pytest
import torch

import model
import utils

matplotlib.use("Agg")


def test_confusion_matrix_counts_true_rows_against_predicted_columns():
    labels, predictions = torch.tensor([0, 0, 1, 9, 9]), torch.tensor([0, 1, 1, 9, 3])
    matrix = utils.confusion_matrix(predictions, labels)
    assert matrix.shape == (10, 10) and matrix.sum() == 5
    assert matrix[0, 0] == 1 and matrix[0, 1] == 1 and matrix[1, 1] == 1 and matrix[9, 3] == 1


def test_evidence_plots_draw_without_error(synthetic_mnist, monkeypatch):
    monkeypatch.setattr("matplotlib.pyplot.show", lambda: None)
    net = model.MODELS["final"]()
    history = utils.fit(net, dataclasses.replace(model.RECIPES["final"], epochs=2), synthetic_mnist,
                        progress=False, log=False)
    utils.plot_history(history, title="t")
    matrix = utils.plot_confusion(net, synthetic_mnist)
    assert matrix.sum() == len(synthetic_mnist.test_y)
    assert utils.plot_misclassified(net, synthetic_mnist, count=5) == int(
        (utils.evaluate(net, synthetic_mnist.test_x, synthetic_mnist.test_y)["predictions"]
         != synthetic_mnist.test_y).sum())
    probabilities = utils.predict_probabilities(net, synthetic_mnist.test_x[:1])[0]
    assert probabilities.sum().item() == pytest.approx(1.0, abs=1e-5)
    data = synthetic_mnist
    utils.plot_prediction(data.test_x[:1], probabilities, data.mean, data.std)
    utils.plot_schedule(model.RECIPES["onecycle"], steps_per_epoch=10)
