"""utils.fit on the synthetic digits (seconds); on real MNIST, marked slow."""
import dataclasses

import pytest
import torch

import model
import utils
from conftest import HISTORY_FIELDS


def quiet_fit(net, recipe, data, **kwargs):
    return utils.fit(net, recipe, data, progress=False, log=False, **kwargs)


def test_same_seed_gives_identical_losses_on_cpu(synthetic_mnist):
    recipe = dataclasses.replace(model.RECIPES["final"], epochs=1, batch_size=64)  # augmentation, dropout on
    runs = [quiet_fit(utils.make_model("final", 7), recipe, synthetic_mnist, seed=7) for _ in range(2)]
    assert runs[0][0]["train_loss"] == runs[1][0]["train_loss"]
    assert runs[0][0]["test_loss"] == runs[1][0]["test_loss"]
    other = quiet_fit(utils.make_model("final", 8), recipe, synthetic_mnist, seed=8)
    assert other[0]["train_loss"] != runs[0][0]["train_loss"]


def test_history_has_every_field(synthetic_mnist):
    history = quiet_fit(model.MODELS["tiny"](), dataclasses.replace(model.RECIPES["tiny"], epochs=2),
                        synthetic_mnist)
    assert [row["epoch"] for row in history] == [1, 2]
    for row in history:
        assert set(row) == HISTORY_FIELDS
        assert 0 <= row["test_acc"] <= 100 and 0 <= row["train_eval_acc"] <= 100 and row["lr"] > 0


def test_fit_learns_the_synthetic_digits(synthetic_mnist):
    recipe = dataclasses.replace(model.RECIPES["batchnorm"], epochs=3, batch_size=32)
    history = quiet_fit(utils.make_model("batchnorm"), recipe, synthetic_mnist)
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert history[-1]["test_acc"] >= 95, utils.format_epoch(history[-1])  # chance: 10 %


def test_stop_at_ends_after_the_first_epoch_at_or_above_it(synthetic_mnist, monkeypatch):
    test_accuracies = []  # what the fake evaluation reports for the test set, epoch by epoch

    def scripted_evaluate(net, x, y, batch_size=500):
        acc = test_accuracies.pop(0) if x is synthetic_mnist.test_x else 100.0
        return {"loss": 0.0, "acc": acc, "predictions": None}

    monkeypatch.setattr(utils, "train_epoch", lambda *args, **kwargs: {"loss": 1.0, "acc": 50.0, "lr": 0.1})
    monkeypatch.setattr(utils, "evaluate", scripted_evaluate)
    recipe = dataclasses.replace(model.RECIPES["tiny"], epochs=4, ema_decay=0.0)
    for stop_at, accuracies, epochs_run in [(model.TARGET, [99.0, model.TARGET, 99.9, 99.9], 2),
                                            (model.TARGET, [99.0, 99.3, 99.39, 99.0], 4),
                                            (None, [99.9, 99.9, 99.9, 99.9], 4)]:
        test_accuracies[:] = accuracies
        seen = []
        history = quiet_fit(model.MODELS["tiny"](), recipe, synthetic_mnist, stop_at=stop_at,
                            on_epoch=lambda h: seen.append(len(h)))
        assert len(history) == epochs_run and seen == list(range(1, epochs_run + 1)), (stop_at, accuracies)


def test_stopping_early_leaves_the_epochs_run_as_they_were(synthetic_mnist):
    recipe = dataclasses.replace(model.RECIPES["speed"], epochs=2, batch_size=64)
    full = quiet_fit(utils.make_model("speed", 1), recipe, synthetic_mnist, seed=1)
    stopped = quiet_fit(utils.make_model("speed", 1), recipe, synthetic_mnist, seed=1, stop_at=0.0)
    assert len(full) == 2 and len(stopped) == 1
    assert {k: v for k, v in stopped[0].items() if k != "seconds"} == \
        {k: v for k, v in full[0].items() if k != "seconds"}


def test_channels_last_applies_on_the_cpu_only_when_the_recipe_asks(synthetic_mnist):
    recipe = dataclasses.replace(model.RECIPES["final"], epochs=1, batch_size=64)
    assert recipe.channels_last and not model.RECIPES["onecycle"].channels_last
    assert utils.memory_format_for(recipe, torch.device("cuda")) == torch.preserve_format
    assert utils.memory_format_for(model.RECIPES["onecycle"], torch.device("cpu")) == torch.preserve_format
    net = model.MODELS["final"]()
    quiet_fit(net, recipe, synthetic_mnist)
    assert net.conv2[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert not net.conv2[0].weight.is_contiguous()


def test_weight_average_is_what_gets_tested_and_kept(synthetic_mnist):
    recipe = dataclasses.replace(model.RECIPES["tiny"], epochs=1, ema_decay=0.9)
    raw, averaged = utils.make_model("tiny", 3), utils.make_model("tiny", 3)
    plain = quiet_fit(raw, dataclasses.replace(recipe, ema_decay=0.0), synthetic_mnist, seed=3)
    history = quiet_fit(averaged, recipe, synthetic_mnist, seed=3)
    # The same training steps (the average only watches them); a different model is tested and handed back.
    assert history[0]["train_loss"] == plain[0]["train_loss"]
    assert not torch.equal(averaged.conv1[0].weight, raw.conv1[0].weight)
    assert not torch.equal(averaged.conv1[1].running_mean, raw.conv1[1].running_mean)
    tested = utils.evaluate(averaged, synthetic_mnist.test_x, synthetic_mnist.test_y)
    assert history[0]["test_loss"] == pytest.approx(tested["loss"])
    assert history[0]["test_loss"] != plain[0]["test_loss"]


def test_clean_epochs_train_the_last_epochs_without_augmentation(synthetic_mnist, monkeypatch):
    history, strengths = [], []  # strengths: (epoch, rotation, shift, zoom) of every batch
    augment = utils.augment

    def recording_augment(x, rotate_deg, translate, scale, generator=None):
        strengths.append((len(history) + 1, rotate_deg, translate, scale))
        return augment(x, rotate_deg, translate, scale, generator)

    monkeypatch.setattr(utils, "augment", recording_augment)
    recipe = dataclasses.replace(model.RECIPES["tiny"], epochs=3, clean_epochs=1)
    quiet_fit(model.MODELS["tiny"](), recipe, synthetic_mnist, on_epoch=lambda h: history.append(h[-1]))
    by_epoch = {epoch: {s[1:] for s in strengths if s[0] == epoch} for epoch in (1, 2, 3)}
    assert by_epoch[1] == by_epoch[2] == {(recipe.rotate_deg, recipe.translate, recipe.scale)}
    assert by_epoch[3] == {(0.0, 0.0, 0.0)}


@pytest.mark.slow
def test_one_epoch_learns(mnist):
    net = model.MODELS["final"]()
    history = utils.fit(net, dataclasses.replace(model.RECIPES["final"], epochs=1), mnist, progress=False)
    assert history[0]["test_acc"] >= 98.0


@pytest.mark.slow
def test_final_recipe_reaches_the_target_on_the_last_epoch(mnist):
    net = model.MODELS[model.DEFAULT_MODEL]()
    history = utils.fit(net, model.RECIPES[model.DEFAULT_MODEL], mnist, seed=0, progress=False)
    assert utils.count_params(net) < 20_000 and len(history) < 20
    assert history[-1]["test_acc"] >= model.TARGET, utils.format_epoch(history[-1])
