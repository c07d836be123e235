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


def test_pipelines_are_timed_in_turn_each_round_and_ours_in_the_recipes_memory_format(mnist, monkeypatch):
    timed = []  # (the pipeline each timing was fed, whether the net's weights were channels-last), in order

    def fake_time_steps(net, batches, steps, device):
        # a 3x3 kernel over many channels: the one kind of weight whose two formats differ in memory
        weight = next(p for p in net.parameters() if p.dim() == 4 and p.shape[1] > 1 and p.shape[2] > 1)
        timed.append((next(iter(batches)), weight.is_contiguous(memory_format=torch.channels_last)
                      and not weight.is_contiguous()))
        return len(timed) / 10

    monkeypatch.setattr(bench, "tensor_batches", lambda data, recipe, batch_size: iter(["ours"]))
    monkeypatch.setattr(bench, "pil_loader", lambda data_dir, batch_size: ["pil"])
    monkeypatch.setattr(bench, "time_steps", fake_time_steps)
    assert model.RECIPES["final"].channels_last  # the format fit() trains the default recipe in, on the CPU
    timings = bench.time_pipelines(mnist, model.RECIPES["final"], "data", 32, 2, 3, torch.device("cpu"))
    assert timed == [("ours", True), ("ours", False), ("pil", False)] * 3
    assert timings == {"ours": [0.1, 0.4, 0.7], "ours_data_only": [0.2, 0.5, 0.8], "pil": [0.3, 0.6, 0.9]}


def test_nonsense_repeats_are_refused(capsys):
    with pytest.raises(SystemExit):
        bench.main(["--repeats", "0"])
    assert "--repeats must be >= 1" in capsys.readouterr().err
