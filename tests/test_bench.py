"""bench.py's parts on a few steps of the synthetic digits: its figures are only as good as these."""
import dataclasses
import time

import pytest
import torch
from conftest import ROOT

import bench
import mnist
import model
import report
import utils

HEADLINE = {"device", "threads", "torch", "reference_seeds", "reference_epochs_to_target",
            "reference_lower_bound",
            "reference_s_per_epoch", "reference_time_to_target_s", "model", "seeds",
            "epochs_to_target_median",
            "epoch_s", "speedup_upper_bound", "epochs_to_target_this_run", "time_to_target_this_run_s",
            "time_to_target_s", "speedup", "throughput_ratio", "throughput_ratio_min",
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


def test_step_timing_waits_for_the_device_and_leaves_the_warm_up_out(synthetic_mnist, monkeypatch):
    """A device still busy when the clock is read (as CUDA and MPS are): the timed steps include the wait for
    their own work (0.2 s here), not for the warm-up's (1 s)."""
    waits, waited_on = iter([1.0, 0.2]), []

    def busy_device(device):
        waited_on.append(device)
        time.sleep(next(waits))

    monkeypatch.setattr(utils, "synchronize", busy_device)
    batches = bench.tensor_batches(synthetic_mnist, model.RECIPES["final"], 32)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(28 * 28, 10))  # steps of a millisecond
    seconds = bench.time_steps(net, batches, 2, CPU)
    assert 0.2 / 2 <= seconds < (1.0 + 0.2) / 2 and waited_on == [CPU, CPU]


def test_flops_are_forward_and_weight_gradients_per_image():
    # conv 1->4 (26x26 out) then 4->2 (24x24 out): 2 flops a multiply-add; the backward computes the weight
    # gradients of both and the input gradient of the second only (the images need none): 2x and 3x forward
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, bias=False), torch.nn.Conv2d(4, 2, 3, bias=False))
    forward = [2 * 4 * 1 * 9 * 26 * 26, 2 * 2 * 4 * 9 * 24 * 24]
    assert bench.train_flops_per_image(net, "cpu") == 2 * forward[0] + 3 * forward[1]


def test_time_shares_by_map_size_find_each_map_size(synthetic_mnist):
    batches = bench.tensor_batches(synthetic_mnist, model.RECIPES["final"], 32)
    shares = bench.time_share_by_map_size(utils.make_model("final"), batches, 2, CPU)
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
    monkeypatch.setattr(utils, "pil_loader", lambda data_dir, batch_size, mean, std, device: ["pil"])
    monkeypatch.setattr(bench, "time_steps", fake_time_steps)
    assert model.RECIPES["final"].channels_last  # the format fit() trains the default recipe in, on the CPU
    recipe = dataclasses.replace(model.RECIPES["final"], channels_last=True)  # as fit() trains it on the CPU
    timings = bench.time_pipelines(synthetic_mnist, recipe, "data", 32, 2, 3, CPU)
    rounds = [timed[i:i + 3] for i in range(0, 9, 3)]
    # each round times all three (machine drift hits them alike), PIL last: its workers end with the round
    assert all(sorted(r) == [("ours", False), ("ours", True), ("pil", False)] and r[-1][0] == "pil"
               for r in rounds)
    # "ours" is the channels-last run; each pipeline keeps its own timings, round by round
    ours = [i for i, (fed, channels_last) in enumerate(timed) if channels_last]
    assert timings["ours"] == [(i + 1) / 10 for i in ours]
    assert timings["pil"] == [(i + 1) / 10 for i, (fed, _) in enumerate(timed) if fed == "pil"]
    assert sorted(sum(timings.values(), [])) == [(i + 1) / 10 for i in range(9)]


def test_speed_figures_compare_medians_and_keep_each_rounds_ratio():
    timings = {"ours": [0.10, 0.20, 0.25], "ours_data_only": [0.5, 0.4, 0.3], "pil": [0.4, 0.8, 0.5]}
    figures = bench.speed_figures(timings, steps_per_epoch=100, time_to_target=25.0, reference_epochs=12)
    assert figures["reference_s_per_epoch"] == pytest.approx(50.0)  # median PIL step 0.5 s × 100 steps
    assert figures["reference_time_to_target_s"] == pytest.approx(12 * 50.0)
    assert figures["speedup"] == pytest.approx(600 / 25)
    assert figures["throughput_ratio"] == pytest.approx(0.5 / 0.2)
    assert figures["throughput_ratio_min"] == pytest.approx(2.0) and figures["throughput_ratio_max"] == 4.0
    assert figures["throughput_ratio_data_only"] == pytest.approx(0.5 / 0.4)
    assert bench.speed_figures(timings, 100, None, 12)["speedup"] is None  # the target was never reached


class Clock:
    """A stand-in for time.perf_counter: the process started at 0, the data is loaded at SETUP_S, and each
    epoch of training takes EPOCH_S."""
    SETUP_S, EPOCH_S = 5.0, 2.0

    def __init__(self):
        self.now = self.SETUP_S

    def perf_counter(self):
        return self.now


@pytest.fixture
def offline_bench(monkeypatch, synthetic_mnist):
    """bench.main on the synthetic digits with scripted training, timings and clock; returns {model: epochs
    trained}. Every model's test accuracy is 99.0 % after epoch 1 and model.TARGET from epoch 2."""
    clock, trained = Clock(), {}

    def fake_fit(net, recipe, data, stop_at=None, **kwargs):  # stops as fit stops
        history = []
        for epoch in range(1, recipe.epochs + 1):
            clock.now += Clock.EPOCH_S
            history.append({"epoch": epoch, "test_acc": 99.0 if epoch == 1 else model.TARGET,
                            "seconds": Clock.EPOCH_S})
            if stop_at is not None and history[-1]["test_acc"] >= stop_at:
                break
        trained[recipe] = len(history)
        return history

    monkeypatch.setattr(bench, "time", clock)
    monkeypatch.setattr(bench, "PROCESS_START", 0.0)
    monkeypatch.setattr(utils, "set_threads", lambda threads: 1)  # leave this process's threads alone
    monkeypatch.setattr(mnist, "load_mnist", lambda data_dir, device: synthetic_mnist)
    monkeypatch.setattr(utils, "fit", fake_fit)
    monkeypatch.setattr(bench, "time_pipelines", lambda data, recipe, data_dir, batch, steps, repeats, device:
                        {"ours": [0.1], "ours_data_only": [0.2], "pil": [0.3]})
    monkeypatch.setattr(report, "reference_yardstick", lambda folder: {  # as measured on 5 seeds, one never
        "seeds": [0, 1, 2, 3, 4], "epochs_to_target": 11, "lower_bound": True})
    monkeypatch.setattr(report, "load_runs", lambda name, folder, seeds: [{"seed": s} for s in seeds])
    monkeypatch.setattr(report, "median_epochs_to_target", lambda runs: {  # ours, held out
        "seeds": [r["seed"] for r in runs], "epochs_to_target": 3, "exact": True})
    return trained


def test_main_measures_the_headline_figures_only_and_stops_at_the_target(offline_bench, tmp_path, capsys):
    figures = bench.main(["--device", "cpu", "--json", str(tmp_path / "bench.json")])
    assert set(figures) == HEADLINE
    # the final model stops at the target; the sprint trains every epoch of its recipe, as its last counts
    sprint = model.RECIPES["sprint"]
    assert offline_bench == {model.RECIPES[model.DEFAULT_MODEL]: 2, sprint: sprint.epochs}
    assert figures["model"] == model.DEFAULT_MODEL and figures["epochs_to_target_this_run"] == 2
    # this run: process start -> the end of its first epoch at the target, setup and two epochs
    assert figures["setup_s"] == Clock.SETUP_S
    assert figures["time_to_target_this_run_s"] == Clock.SETUP_S + 2 * Clock.EPOCH_S
    # the headline: setup and the held-out seeds' median epochs (3), each as long as this run's
    assert figures["epochs_to_target_median"] == 3 and figures["epoch_s"] == Clock.EPOCH_S
    assert figures["time_to_target_s"] == Clock.SETUP_S + 3 * Clock.EPOCH_S
    assert not figures["speedup_upper_bound"]
    reference = figures["reference_time_to_target_s"]
    # the reference's measured median epochs × its s/epoch timed in this run (0.3 s a step, 4 steps of 128)
    assert figures["reference_epochs_to_target"] == 11 and figures["reference_lower_bound"]
    assert reference == pytest.approx(11 * 0.3 * 4)
    assert figures["speedup"] == pytest.approx(reference / figures["time_to_target_s"])
    # the sprint's clock: setup and its own epochs, the final model's run left out
    assert figures["sprint_test_acc"] == model.TARGET and figures["sprint_epochs"] == sprint.epochs
    assert figures["sprint_time_s"] == Clock.SETUP_S + sprint.epochs * Clock.EPOCH_S
    assert figures["sprint_speedup"] == pytest.approx(reference / figures["sprint_time_s"])
    assert utils.read_json(tmp_path / "bench.json") == figures
    assert "throughput_ratio" in capsys.readouterr().out


def test_profile_adds_gflops_and_the_step_shares(offline_bench, monkeypatch):
    monkeypatch.setattr(bench, "time_share_by_map_size", lambda net, batches, steps, device:
                        {"13x13": 0.6, "other": 0.4})
    monkeypatch.setattr(bench, "train_flops_per_image", lambda net, device: 1e6)
    figures = bench.main(["--device", "cpu", "--profile", "--model", "tiny"])
    assert set(figures) == HEADLINE | {"train_gflops_per_s", "step_share_13x13", "step_share_other"}
    assert figures["step_share_13x13"] == 0.6 and figures["model"] == "tiny"
    # 1 MFLOP per image, 512 images an epoch, over the 2 epochs to the target, which took 2 s each
    assert figures["train_gflops_per_s"] == pytest.approx(1e6 * 512 * 2 / (2 * Clock.EPOCH_S) / 1e9)


def test_without_the_measured_runs_the_bench_says_how_to_make_them_before_training(monkeypatch, tmp_path):
    monkeypatch.setattr(mnist, "load_mnist", lambda *args, **kwargs: pytest.fail("data read before checks"))
    with pytest.raises(SystemExit) as stop:
        bench.main(["--device", "cpu", "--results-dir", str(tmp_path)])
    message = stop.value.code
    assert message.startswith("bench.py: error: no ") and "\n" not in message
    assert 'make results MODELS=reference SEEDS="0 1 2 3 4"' in message
    for seed in range(5):  # the reference measured, the final model's held-out seeds not
        name = f"reference_seed{seed}.json"
        (tmp_path / name).write_bytes((ROOT / "results" / name).read_bytes())
    with pytest.raises(SystemExit) as stop:
        bench.main(["--device", "cpu", "--results-dir", str(tmp_path)])
    assert 'make results MODELS=final SEEDS="110 111 112 113 114"' in stop.value.code


@pytest.mark.parametrize("args, says", [(["--repeats", "0"], "--repeats must be >= 1"),
                                        (["--steps", "0"], "--steps must be >= 1"),
                                        (["--model", "resnet"], "invalid choice"),
                                        (["--device", "tpu"], "unknown device 'tpu'"),
                                        (["--threads", "0"], "threads must be a whole number >= 1")])
def test_nonsense_arguments_are_refused_in_one_line(args, says, capsys, monkeypatch):
    monkeypatch.setattr(mnist, "load_mnist", lambda *args, **kwargs: pytest.fail("data read before checks"))
    with pytest.raises(SystemExit) as stop:
        bench.main(args)
    message = stop.value.code
    assert message.startswith("bench.py: error: ") and "\n" not in message and says in message, message
    assert capsys.readouterr().err == ""  # no usage block, no traceback
