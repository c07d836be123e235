"""utils.fit on the synthetic digits (seconds); on real MNIST, marked slow."""
import copy
import dataclasses
import os

import pytest
import torch
from conftest import AVERAGE_FIELDS, ROOT, history_fields

import model
import utils


def quiet_fit(net, recipe, data, **kwargs):
    return utils.fit(net, recipe, data, progress=False, log=False, **kwargs)


def trained_weights(seed: int, recipe, data) -> dict[str, torch.Tensor]:
    net = utils.make_model("final", seed)
    quiet_fit(net, recipe, data, seed=seed)
    return net.state_dict()


def test_same_seed_gives_identical_weights_on_the_cpu(synthetic_mnist):
    """What reproduces on the CPU (README): the same seed, thread count and torch version give the same
    weights bit for bit, whatever random numbers were drawn before. Augmentation, dropout, OneCycle and the
    weight average are all on."""
    recipe = dataclasses.replace(model.RECIPES["final"], epochs=2, batch_size=64)
    first = trained_weights(7, recipe, synthetic_mnist)
    torch.rand(100)  # the global stream moved on: fit must not depend on it
    second = trained_weights(7, recipe, synthetic_mnist)
    other = trained_weights(8, recipe, synthetic_mnist)
    assert list(first) == list(second) and all(torch.equal(first[k], second[k]) for k in first)
    assert not any(torch.equal(first[k], other[k]) for k in first if k.endswith("weight"))


@pytest.mark.parametrize("name, ema_decay", [("tiny", 0.995), ("batchnorm", 0.0)])
def test_history_rows_hold_what_the_epoch_did(synthetic_mnist, name, ema_decay):
    recipe = dataclasses.replace(model.RECIPES[name], epochs=2, batch_size=64, ema_decay=ema_decay)
    net = utils.make_model(name)
    history = quiet_fit(net, recipe, synthetic_mnist)
    assert [row["epoch"] for row in history] == [1, 2]
    assert all(set(row) == history_fields(recipe) for row in history)
    assert (AVERAGE_FIELDS <= set(history[0])) == (ema_decay > 0)
    # The LR column is the LR of each epoch's last step, as the schedule sets it.
    steps = -(-len(synthetic_mnist.train_y) // recipe.batch_size)
    schedule = utils.schedule_per_step(recipe, steps)
    assert [row["lr"] for row in history] == [schedule[e * steps - 1]["lr"] for e in (1, 2)]
    # The test and clean-train columns are the returned network's, on the test set and the first images.
    data = synthetic_mnist
    test, train = (utils.evaluate(net, x, y) for x, y in ((data.test_x, data.test_y),
                                                           (data.train_x[:utils.TRAIN_EVAL_IMAGES],
                                                            data.train_y[:utils.TRAIN_EVAL_IMAGES])))
    assert (history[-1]["test_acc"], history[-1]["test_loss"]) == (test["acc"], pytest.approx(test["loss"]))
    assert history[-1]["train_eval_acc"] == train["acc"]


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
                            on_epoch=lambda h, seen=seen: seen.append(len(h)))
        assert len(history) == epochs_run and seen == list(range(1, epochs_run + 1)), (stop_at, accuracies)


def test_stopping_early_leaves_the_epochs_run_as_they_were(synthetic_mnist):
    recipe = dataclasses.replace(model.RECIPES["speed"], epochs=2, batch_size=64)
    full = quiet_fit(utils.make_model("speed", 1), recipe, synthetic_mnist, seed=1)
    stopped = quiet_fit(utils.make_model("speed", 1), recipe, synthetic_mnist, seed=1, stop_at=0.0)
    assert len(full) == 2 and len(stopped) == 1
    assert {k: v for k, v in stopped[0].items() if k != "seconds"} == \
        {k: v for k, v in full[0].items() if k != "seconds"}


@pytest.mark.parametrize("channels_last", [True, False])
def test_channels_last_applies_on_the_cpu_only_when_the_recipe_asks(synthetic_mnist, channels_last):
    recipe = dataclasses.replace(model.RECIPES["final"], epochs=1, batch_size=64, channels_last=channels_last)
    assert utils.memory_format_for(recipe, torch.device("cuda")) == torch.preserve_format
    net = utils.make_model("final")
    quiet_fit(net, recipe, synthetic_mnist)
    # a 3x3 kernel over many channels: the one kind of weight whose two formats differ in memory
    weight = next(p for p in net.parameters() if p.dim() == 4 and p.shape[1] > 1 and p.shape[2] > 1)
    assert weight.is_contiguous(memory_format=torch.channels_last) == channels_last
    assert weight.is_contiguous() != channels_last


def test_weight_average_is_what_gets_tested_and_kept(synthetic_mnist):
    recipe = dataclasses.replace(model.RECIPES["tiny"], epochs=1, ema_decay=0.9)
    raw, averaged = utils.make_model("tiny", 3), utils.make_model("tiny", 3)
    plain = quiet_fit(raw, dataclasses.replace(recipe, ema_decay=0.0), synthetic_mnist, seed=3)
    history = quiet_fit(averaged, recipe, synthetic_mnist, seed=3)
    # The same training steps (the average only watches them); a different model is tested and handed back.
    assert history[0]["train_loss"] == plain[0]["train_loss"]
    first = lambda net: next(p for p in net.parameters() if p.dim() == 4)  # noqa: E731
    assert not torch.equal(first(averaged), first(raw))
    tested = utils.evaluate(averaged, synthetic_mnist.test_x, synthetic_mnist.test_y)
    assert history[0]["test_loss"] == pytest.approx(tested["loss"])
    assert history[0]["test_loss"] != plain[0]["test_loss"]


def test_evaluating_the_last_epoch_only_leaves_its_figures_as_they_were(synthetic_mnist):
    """bench.py times the sprint evaluated after its last epoch only: the weights, the draws and so the last
    row are those of the run evaluated every epoch (dropout, augmentation and a weight average all on)."""
    recipe = dataclasses.replace(model.RECIPES["sprint"], epochs=3, batch_size=64)
    every = quiet_fit(utils.make_model("sprint", 1), recipe, synthetic_mnist, seed=1)
    last_only = quiet_fit(utils.make_model("sprint", 1), recipe, synthetic_mnist, seed=1,
                          evaluate_last_only=True)
    assert {k: v for k, v in last_only[-1].items() if k != "seconds"} == {
        k: v for k, v in every[-1].items() if k != "seconds"}
    assert "test_acc" not in last_only[0] and "test_acc" in every[0]  # the earlier epochs were not evaluated
    assert [r["train_loss"] for r in last_only] == [r["train_loss"] for r in every]


def test_the_average_without_averaging_is_the_raw_run_bit_for_bit(synthetic_mnist):
    """`final` and `minus_average` (final without the weight average) train the same steps from the same
    seed: the raw-weights column of one is the test accuracy of the other, exactly."""
    with_average, without = (dataclasses.replace(model.RECIPES[name], epochs=2, batch_size=64)
                             for name in ("final", "minus_average"))
    assert with_average.ema_decay > 0 and without.ema_decay == 0  # what the two names differ by
    averaged = quiet_fit(utils.make_model("final", 2), with_average, synthetic_mnist, seed=2)
    raw = quiet_fit(utils.make_model("minus_average", 2), without, synthetic_mnist, seed=2)
    assert [r["test_acc_raw"] for r in averaged] == [r["test_acc"] for r in raw]
    assert [r["train_loss"] for r in averaged] == [r["train_loss"] for r in raw]


def test_the_average_is_tested_with_batchnorm_statistics_of_its_own_weights(synthetic_mnist):
    net = utils.make_model("final", 4)
    recipe = dataclasses.replace(model.RECIPES["final"], epochs=1, batch_size=64)
    average = utils.WeightAverage(net, 0.9)
    utils.train_epoch(net, synthetic_mnist, recipe, utils.make_optimizer(net, recipe), average=average)
    images = synthetic_mnist.train_x
    buffers = {k: v.clone() for k, v in average.module.state_dict().items()}
    rng = torch.get_rng_state()
    own = utils.with_own_bn_statistics(average, images, batch_size=128)
    assert torch.equal(rng, torch.get_rng_state())  # the training run goes on as without this evaluation
    assert all(torch.equal(v, average.module.state_dict()[k]) for k, v in buffers.items())  # a copy
    (name, bn), *_ = [(n, m) for n, m in own.named_modules() if isinstance(m, torch.nn.BatchNorm2d)]
    # The first BatchNorm's running mean is the mean of its input over the images, under the averaged weights.
    seen = []
    probe = copy.deepcopy(average.module).eval()
    dict(probe.named_modules())[name].register_forward_pre_hook(lambda module, inputs: seen.append(inputs[0]))
    with torch.no_grad():
        probe(images)
    assert torch.allclose(bn.running_mean, seen[0].mean((0, 2, 3)), atol=1e-5)
    assert not torch.allclose(bn.running_mean, buffers[f"{name}.running_mean"], atol=1e-3)
    assert all(torch.equal(p, q) for p, q in zip(own.parameters(), average.module.parameters(), strict=False))


def test_clean_epochs_train_the_last_epochs_without_augmentation(synthetic_mnist, monkeypatch):
    history, strengths = [], []  # strengths: (epoch, rotation, shift, zoom) of every augmented batch
    random_affine = utils.random_affine

    def recording(x, draws, rotate_deg, translate, scale):
        strengths.append((len(history) + 1, rotate_deg, translate, scale))
        return random_affine(x, draws, rotate_deg, translate, scale)

    monkeypatch.setattr(utils, "random_affine", recording)
    recipe = dataclasses.replace(model.RECIPES["tiny"], epochs=3, clean_epochs=1, batch_size=128)
    quiet_fit(model.MODELS["tiny"](), recipe, synthetic_mnist, on_epoch=lambda h: history.append(h[-1]))
    by_epoch = {epoch: {s[1:] for s in strengths if s[0] == epoch} for epoch in (1, 2, 3)}
    assert by_epoch[1] == by_epoch[2] == {(recipe.rotate_deg, recipe.translate, recipe.scale)}
    assert by_epoch[3] == set()  # the clean epoch: no batch transformed


def test_a_loader_feeds_the_training_batches_in_place_of_the_augmented_tensors(synthetic_mnist, monkeypatch):
    monkeypatch.setattr(utils, "augment", lambda *args, **kwargs: pytest.fail("the tensors were augmented"))
    fed = []

    class Loader:  # a DataLoader's two faces fit uses: its batches and its dataset's length
        dataset = range(256)

        def __iter__(self):
            for i in range(0, 256, 64):
                fed.append(i)
                yield synthetic_mnist.train_x[i:i + 64], synthetic_mnist.train_y[i:i + 64]

    recipe = dataclasses.replace(model.RECIPES["reference"], epochs=2)
    history = quiet_fit(utils.make_model("reference"), recipe, synthetic_mnist, loader=Loader())
    assert fed == [0, 64, 128, 192] * 2 and len(history) == 2
    assert all(0 < row["train_acc"] <= 100 for row in history)  # over the loader's 256 images, not 512


@pytest.mark.slow
def test_the_pil_pipeline_gives_normalised_batches_shuffled_by_its_seed():
    data_dir = os.environ.get("S6_DATA_DIR", ROOT / "data")  # where the session's real MNIST is read from
    first = [next(iter(utils.pil_loader(data_dir, 32, 0.1307, 0.3081, seed, limit=256))) for seed in (1, 1,
                                                                                                      2)]
    (x, y), (x_again, y_again), (x_other, y_other) = first
    assert x.shape == (32, 1, 28, 28) and y.shape == (32,)
    assert torch.equal(x, x_again) and torch.equal(y,
                                                   y_again)  # the same seed: the same batch, augmented alike
    assert not torch.equal(y, y_other)
    assert -0.5 < x.mean() < 0.5 and x.min() == pytest.approx(-0.1307 / 0.3081, abs=1e-4)  # background


@pytest.mark.slow
def test_final_recipe_reaches_the_target_on_the_last_epoch(trained_final):
    history, net, data = trained_final.history, trained_final.net, trained_final.data
    assert utils.count_params(net) < 20_000 and len(history) < 20
    assert history[-1]["test_acc"] >= model.TARGET, utils.format_epoch(history[-1])
    # what was tested is what is kept
    assert utils.evaluate(net, data.test_x, data.test_y)["acc"] == history[-1]["test_acc"]
