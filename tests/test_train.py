import dataclasses

import pytest
import torch

import model
import utils


def small(mnist, n):
    return dataclasses.replace(mnist, train_x=mnist.train_x[:n], train_y=mnist.train_y[:n],
                               test_x=mnist.test_x[:1000], test_y=mnist.test_y[:1000])


def test_same_seed_gives_identical_losses_on_cpu(mnist):
    data = small(mnist, 40 * 64)  # 40 steps of 64, with augmentation and dropout on
    recipe = dataclasses.replace(model.RECIPES["final"], epochs=1, batch_size=64)
    runs = [utils.fit(utils.make_model("final", 7), recipe, data, seed=7, progress=False, log=False)
            for _ in range(2)]
    assert runs[0][0]["train_loss"] == runs[1][0]["train_loss"]
    assert runs[0][0]["test_loss"] == runs[1][0]["test_loss"]
    other = utils.fit(utils.make_model("final", 8), recipe, data, seed=8, progress=False, log=False)
    assert other[0]["train_loss"] != runs[0][0]["train_loss"]


def test_history_has_every_field(mnist):
    history = utils.fit(model.MODELS["tiny"](), dataclasses.replace(model.RECIPES["tiny"], epochs=2),
                        small(mnist, 1024), progress=False, log=False)
    assert [row["epoch"] for row in history] == [1, 2]
    for row in history:
        assert set(row) == {"epoch", "train_loss", "train_acc", "test_loss", "test_acc", "lr", "seconds"}
        assert 0 <= row["test_acc"] <= 100 and row["lr"] > 0


def test_channels_last_applies_on_the_cpu_only_when_the_recipe_asks(mnist):
    recipe = dataclasses.replace(model.RECIPES["final"], epochs=1)
    assert recipe.channels_last and not model.RECIPES["onecycle"].channels_last
    assert utils.channels_last_on_cpu(recipe, torch.device("cuda")) == torch.preserve_format
    assert utils.channels_last_on_cpu(model.RECIPES["onecycle"], torch.device("cpu")) == torch.preserve_format
    net = model.MODELS["final"]()
    utils.fit(net, recipe, small(mnist, 256), progress=False, log=False)
    assert net.conv2[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert not net.conv2[0].weight.is_contiguous()


def test_weight_average_is_what_gets_tested_and_kept(mnist):
    data = small(mnist, 20 * 64)
    recipe = dataclasses.replace(model.RECIPES["tiny"], epochs=1, ema_decay=0.9)
    raw, averaged = utils.make_model("tiny", 3), utils.make_model("tiny", 3)
    plain = utils.fit(raw, dataclasses.replace(recipe, ema_decay=0.0), data, seed=3, progress=False, log=False)
    history = utils.fit(averaged, recipe, data, seed=3, progress=False, log=False)
    # The same training steps (the average only watches them); a different model is tested and handed back.
    assert history[0]["train_loss"] == plain[0]["train_loss"]
    assert not torch.equal(averaged.conv1[0].weight, raw.conv1[0].weight)
    assert not torch.equal(averaged.conv1[1].running_mean, raw.conv1[1].running_mean)
    assert history[0]["test_loss"] == pytest.approx(utils.evaluate(averaged, data.test_x, data.test_y)["loss"])
    assert history[0]["test_loss"] != plain[0]["test_loss"]


def test_clean_epochs_train_the_last_epochs_without_augmentation(mnist, monkeypatch):
    history, strengths = [], []  # strengths: (epoch, rotation, shift, zoom) of every batch
    augment = utils.augment

    def recording_augment(x, rotate_deg, translate, scale, generator=None):
        strengths.append((len(history) + 1, rotate_deg, translate, scale))
        return augment(x, rotate_deg, translate, scale, generator)

    monkeypatch.setattr(utils, "augment", recording_augment)
    recipe = dataclasses.replace(model.RECIPES["tiny"], epochs=3, clean_epochs=1)
    utils.fit(model.MODELS["tiny"](), recipe, small(mnist, 256), progress=False, log=False,
              on_epoch=lambda h: history.append(h[-1]))
    by_epoch = {epoch: {s[1:] for s in strengths if s[0] == epoch} for epoch in (1, 2, 3)}
    assert by_epoch[1] == by_epoch[2] == {(recipe.rotate_deg, recipe.translate, recipe.scale)}
    assert by_epoch[3] == {(0.0, 0.0, 0.0)}


def test_one_epoch_learns(mnist):
    net = model.MODELS["final"]()
    history = utils.fit(net, dataclasses.replace(model.RECIPES["final"], epochs=1), mnist, progress=False)
    assert history[0]["test_acc"] >= 98.0


@pytest.mark.slow
def test_final_recipe_reaches_99_4_on_the_last_epoch(mnist):
    net = model.MODELS[model.DEFAULT_MODEL]()
    history = utils.fit(net, model.RECIPES[model.DEFAULT_MODEL], mnist, seed=0, progress=False)
    assert utils.count_params(net) < 20_000 and len(history) < 20
    assert history[-1]["test_acc"] >= 99.40, utils.format_epoch(history[-1])
