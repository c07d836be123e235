"""bench.py's parts on a few steps of the synthetic digits: its figures are only as good as these."""
import pytest
import torch

import bench
import model
import utils

HEADLINE = {"device", "threads", "torch", "reference_s_per_epoch", "reference_time_to_target_s", "model",
            "epochs_to_target", "time_to_target_s", "speedup", "throughput_ratio", "throughput_ratio_min",
            "throughput_ratio_max", "throughput_ratio_data_only", "setup_s", "sprint_epochs",
            "sprint_test_acc",
            "sprint_time_s", "sprint_speedup"}
CPU = torch.device("cpu")


def test_tensor_batches_are_augmented_batches_of_the_asked_size(synthetic_mnist):
    x, y = next(bench.tensor_batches(synthetic_mnist, model.RECIPES["final"], 32))
    idx = torch.randperm(len(synthetic_mnist.train_y), generator=torch.Generator().manual_seed(0))[:32]
    assert x.shape == (32, 1, 28, 28)
    assert torch.equal(y, synthetic_mnist.train_y[idx])  # labels stay with their images
    assert not torch.allclose(x, synthetic_mnist.train_x[idx])  # augmented, not copied


def test_step_timing_and_flop_count_are_positive(synthetic_mnist):
    batches = bench.tensor_batches(synthetic_mnist, model.RECIPES["final"], 32)
    assert 0 < bench.time_steps(utils.make_model("reference"), batches, 2, CPU) < 60
    flops = bench.train_flops_per_image(utils.make_model("final"), "cpu")
    assert 5e6 < flops < 5e7  # forward + backward of a 17.8k-parameter net on one 28x28 image


def test_time_shares_by_map_size_add_up_and_find_each_map_size(synthetic_mnist):
    batches = bench.tensor_batches(synthetic_mnist, model.RECIPES["final"], 32)
    shares = bench.time_share_by_map_size(utils.make_model("final"), batches, 2, CPU)
    assert abs(sum(shares.values()) - 1) < 1e-6
    maps = {"28x28", "26x26", "13x13", "6x6"}  # the input (augmentation), an unpadded first conv, two pools
    assert maps <= set(shares) <= maps | {"1x1", "other"}  # 1x1: after GAP


def test_pipelines_are_timed_in_turn_each_round_and_ours_in_the_recipes_memory_format(synthetic_mnist,
                                                                                          monkeypatch):
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
    timings = bench.time_pipelines(synthetic_mnist, model.RECIPES["final"], "data", 32, 2, 3, CPU)
    assert timed == [("ours", True), ("ours", False), ("pil", False)] * 3
    assert timings == {"ours": [0.1, 0.4, 0.7], "ours_data_only": [0.2, 0.5, 0.8], "pil": [0.3, 0.6, 0.9]}


def test_speed_figures_compare_medians_and_keep_each_rounds_ratio():
    timings = {"ours": [0.10, 0.20, 0.25], "ours_data_only": [0.5, 0.4, 0.3], "pil": [0.4, 0.8, 0.5]}
    figures = bench.speed_figures(timings, steps_per_epoch=100, time_to_target=25.0)
    assert figures["reference_s_per_epoch"] == pytest.approx(50.0)  # median PIL step 0.5 s × 100 steps
    assert figures["reference_time_to_target_s"] == pytest.approx(15 * 50.0)
    assert figures["speedup"] == pytest.approx(750 / 25)
    assert figures["throughput_ratio"] == pytest.approx(0.5 / 0.2)
    assert figures["throughput_ratio_min"] == pytest.approx(2.0) and figures["throughput_ratio_max"] == 4.0
    assert figures["throughput_ratio_data_only"] == pytest.approx(0.5 / 0.4)
    assert bench.speed_figures(timings, 100, None)["speedup"] is None  # the target was never reached


@pytest.fixture
def offline_bench(monkeypatch, synthetic_mnist):
    """bench.main on the synthetic digits with scripted training and timings; returns fit's keyword arguments.
    Training reports 99.0 % then model.TARGET: the target is reached at epoch 2."""
    calls = []

    def fake_fit(net, recipe, data, **kwargs):
        calls.append(kwargs)
        return [{"epoch": 1, "test_acc": 99.0, "seconds": 2.0},
                {"epoch": 2, "test_acc": model.TARGET, "seconds": 2.0}]

    monkeypatch.setattr(utils, "pick_device", lambda name: CPU)  # and leave this process's threads alone
    monkeypatch.setattr(utils, "load_mnist", lambda data_dir, device: synthetic_mnist)
    monkeypatch.setattr(utils, "fit", fake_fit)
    monkeypatch.setattr(bench, "time_pipelines", lambda data, recipe, data_dir, batch, steps, repeats, device:
                        {"ours": [0.1], "ours_data_only": [0.2], "pil": [0.3]})
    return calls


def test_main_measures_the_headline_figures_only_and_stops_at_the_target(offline_bench, tmp_path, capsys):
    figures = bench.main(["--json", str(tmp_path / "bench.json")])
    assert set(figures) == HEADLINE
    # the final model up to the target, then the sprint for every epoch of its recipe
    assert offline_bench == [{"progress": False, "stop_at": model.TARGET}, {"progress": False, "log": False}]
    assert figures["model"] == model.DEFAULT_MODEL and figures["epochs_to_target"] == 2
    reference, ours = figures["reference_time_to_target_s"], figures["time_to_target_s"]
    assert figures["speedup"] == pytest.approx(reference / ours)
    assert figures["sprint_test_acc"] == model.TARGET and figures["sprint_epochs"] == 2
    # the sprint's clock leaves the final run out
    assert 0 < figures["setup_s"] < figures["sprint_time_s"] < ours
    assert figures["sprint_speedup"] == pytest.approx(reference / figures["sprint_time_s"])
    assert utils.read_json(tmp_path / "bench.json") == figures
    assert "throughput_ratio" in capsys.readouterr().out


def test_profile_adds_gflops_and_the_step_shares(offline_bench, monkeypatch):
    monkeypatch.setattr(bench, "time_share_by_map_size", lambda net, batches, steps, device:
                        {"13x13": 0.6, "other": 0.4})
    figures = bench.main(["--profile", "--model", "tiny"])
    assert set(figures) == HEADLINE | {"train_gflops_per_s", "step_share_13x13", "step_share_other"}
    assert figures["model"] == "tiny" and figures["train_gflops_per_s"] > 0


@pytest.mark.parametrize("args, says", [(["--repeats", "0"], "--repeats must be >= 1"),
                                        (["--steps", "0"], "--steps must be >= 1"),
                                        (["--model", "resnet"], "invalid choice")])
def test_nonsense_arguments_are_refused(args, says, capsys):
    with pytest.raises(SystemExit):
        bench.main(args)
    assert says in capsys.readouterr().err
