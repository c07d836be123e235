"""bench.py's parts on a few steps: the figures it prints are only as good as these."""
import pytest
import torch

import bench
import model
import utils


def test_tensor_batches_are_augmented_batches_of_the_asked_size(mnist):
    x, y = next(bench.tensor_batches(mnist, model.RECIPES["final"], 32))
    idx = torch.randperm(len(mnist.train_y), generator=torch.Generator().manual_seed(0))[:32]  # same draw
    assert x.shape == (32, 1, 28, 28)
    assert torch.equal(y, mnist.train_y[idx])  # labels stay with their images
    assert not torch.allclose(x, mnist.train_x[idx])  # augmented, not copied


def test_step_timing_and_flop_count_are_positive(mnist):
    net = utils.make_model("reference")
    seconds = bench.time_steps(net, bench.tensor_batches(mnist, model.RECIPES["final"], 32), 2, torch.device("cpu"))
    assert 0 < seconds < 60
    flops = bench.train_flops_per_image(utils.make_model("final"), "cpu")
    assert 5e6 < flops < 5e7  # forward + backward of a 17.8k-parameter net on one 28x28 image


def test_time_shares_by_map_size_add_up_and_find_each_map_size(mnist):
    shares = bench.time_share_by_map_size(utils.make_model("final"), bench.tensor_batches(mnist, model.RECIPES["final"], 32),
                                          2, torch.device("cpu"))
    assert abs(sum(shares.values()) - 1) < 1e-6
    maps = {"28x28", "26x26", "13x13", "6x6"}  # the input (augmentation), an unpadded first conv, two pools
    assert maps <= set(shares) <= maps | {"1x1", "other"}  # 1x1: after GAP


def test_pipelines_are_timed_in_turn_each_round(mnist, monkeypatch):
    timed = []  # the pipeline each timing was fed, in order

    def fake_time_steps(net, batches, steps, device):
        timed.append(next(iter(batches)))
        return len(timed) / 10

    monkeypatch.setattr(bench, "tensor_batches", lambda data, recipe, batch_size: iter(["ours"]))
    monkeypatch.setattr(bench, "pil_loader", lambda data_dir, batch_size: ["pil"])
    monkeypatch.setattr(bench, "time_steps", fake_time_steps)
    ours, pil = bench.time_pipelines(mnist, model.RECIPES["final"], "data", 32, 2, 3, torch.device("cpu"))
    assert timed == ["ours", "pil"] * 3
    assert ours == [0.1, 0.3, 0.5] and pil == [0.2, 0.4, 0.6]


def test_nonsense_repeats_are_refused(capsys):
    with pytest.raises(SystemExit):
        bench.main(["--repeats", "0"])
    assert "--repeats must be >= 1" in capsys.readouterr().err
