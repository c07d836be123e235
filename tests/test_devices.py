"""Devices, threads and reproducibility: what a Colab GPU or a laptop meets first. CUDA is mocked where the
test is about refusing or choosing a device; the smoke tests that need a real GPU are skipped, saying so,
elsewhere."""
import dataclasses
import json

import pytest
import torch
from conftest import ROOT, history_fields, synthetic_data

import bench
import lr_finder
import mnist
import model
import predict
import train
import utils

NO_CUDA = "no CUDA device on this machine: the GPU path is unmeasured here (README: What reproduces)"


@pytest.fixture
def one_cuda_device(monkeypatch):
    """This process sees CUDA with one device, cuda:0 (nothing is ever run on it)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)


@pytest.fixture
def no_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)


@pytest.fixture
def threads_restored():
    """Commands set the process's thread count: put it back for the tests that follow."""
    threads = torch.get_num_threads()
    yield threads
    torch.set_num_threads(threads)


@pytest.fixture
def determinism_restored():
    yield
    utils.set_deterministic(False)


def test_a_cuda_device_beyond_the_count_is_refused_saying_which_exist(one_cuda_device):
    with pytest.raises(ValueError, match=r"'cuda:7' asked for, but this machine has 1 CUDA device\(s\), "
                                         r"cuda:0 to cuda:0"):
        utils.pick_device("cuda:7")
    assert utils.pick_device("cuda:0") == torch.device("cuda:0")
    assert utils.pick_device("cuda") == torch.device("cuda")
    assert utils.pick_device("auto") == torch.device("cuda")  # CUDA first when it is there


def test_cuda_asked_for_where_there_is_none_is_refused(no_cuda):
    with pytest.raises(ValueError, match="CUDA is not available here: use --device cpu"):
        utils.pick_device("cuda:0")


def test_an_unknown_device_name_is_refused():
    with pytest.raises(ValueError, match="unknown device 'gpu'"):
        utils.pick_device("gpu")


def refusal(command, args, capsys):
    """(exit status, the one line it printed) of one command's main(args)."""
    try:
        status = command(args)
    except SystemExit as stop:  # sys.exit(message): Python prints the message and exits with status 1
        assert isinstance(stop.code, str), stop.code
        return 1, stop.code
    return status, capsys.readouterr().err.rstrip("\n")


@pytest.mark.parametrize("command, args", [
    (train.main, ["--dry-run"]),
    (lr_finder.main, []),
    (bench.main, []),
    (predict.main, ["images/sample_digit.png"]),
])
def test_every_command_refuses_cuda_7_on_a_one_gpu_machine_in_one_line(command, args, one_cuda_device,
                                                                        monkeypatch, capsys,
                                                                        threads_restored):
    monkeypatch.setattr(mnist, "load_mnist", lambda *a, **k: pytest.fail("data read before the device check"))
    monkeypatch.setattr(predict, "load_checkpoint", lambda path, device: pytest.fail(f"loaded on {device}"))
    status, line = refusal(command, [*args, "--device", "cuda:7"], capsys)
    name = command.__module__
    assert status == 1 and line.startswith(f"{name}.py: error: device 'cuda:7' asked for"), line
    assert "\n" not in line and "1 CUDA device(s)" in line


@pytest.mark.parametrize("device", ["xpu", "meta"])
@pytest.mark.parametrize("command, args", [
    (train.main, ["--dry-run"]),
    (lr_finder.main, []),
    (bench.main, []),
    (predict.main, ["images/sample_digit.png"]),
])
def test_every_command_names_a_device_it_does_not_run_on_in_one_line(command, args, device, monkeypatch,
                                                                     capsys):
    """torch knows xpu and meta; nothing here runs on them: named as such before any data or checkpoint."""
    monkeypatch.setattr(mnist, "load_mnist", lambda *a, **k: pytest.fail("data read before the device check"))
    monkeypatch.setattr(predict, "load_checkpoint", lambda path, device: pytest.fail(f"loaded on {device}"))
    status, line = refusal(command, [*args, "--device", device], capsys)
    name = command.__module__
    assert status == 1 and line == (f"{name}.py: error: unknown device '{device}': these tools run on cpu, "
                                    "cuda, cuda:N or mps"), line


def test_bench_missing_data_stops_with_what_to_do_and_no_traceback(tmp_path, monkeypatch, threads_restored):
    def offline(raw_dir):
        raise OSError("network unreachable")

    monkeypatch.setattr(mnist, "FETCHERS", [("torchvision download", offline)])
    with pytest.raises(SystemExit) as stop:
        bench.main(["--device", "cpu", "--data-dir", str(tmp_path)])
    message = stop.value.code
    assert message.startswith("bench.py: error: MNIST files missing") and "Fix one of" in message


def test_choosing_a_device_leaves_the_thread_count_alone(threads_restored):
    torch.set_num_threads(1)
    utils.pick_device("cpu")
    utils.pick_device()
    assert torch.get_num_threads() == 1


def test_set_threads_sets_the_count_asked_for_or_one_per_usable_core(threads_restored):
    assert utils.set_threads(1) == torch.get_num_threads() == 1
    cores = len(__import__("os").sched_getaffinity(0))
    assert utils.set_threads() == torch.get_num_threads() == cores
    for bad in (0, -2, 1.5, True, "2"):
        with pytest.raises(ValueError, match="threads must be a whole number >= 1"):
            utils.set_threads(bad)


def test_commands_set_the_thread_count_they_are_given(threads_restored, monkeypatch, capsys):
    monkeypatch.setattr(lr_finder.mnist, "load_mnist", lambda *args, **kwargs: synthetic_data(n_train=256))
    monkeypatch.setattr(lr_finder, "lr_range_test", lambda *args: [{"lr": 0.1, "loss": 1.0}] * 2)
    torch.set_num_threads(1)
    assert lr_finder.main(["--steps", "2", "--device", "cpu", "--threads", "2"]) == 0
    assert torch.get_num_threads() == 2


@pytest.mark.parametrize("device, waits_on", [("cuda:1", "cuda"), ("cuda", "cuda"), ("mps", "mps"),
                                              ("cpu", None)])
def test_synchronize_waits_on_the_device_it_is_given(device, waits_on, monkeypatch):
    waited = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda d=None: waited.append(("cuda", d)))
    monkeypatch.setattr(torch.mps, "synchronize", lambda: waited.append(("mps", None)))
    utils.synchronize(device)
    expected = [] if waits_on is None else [(waits_on, torch.device(device) if waits_on == "cuda" else None)]
    assert waited == expected


def test_fits_epoch_clock_waits_for_the_device(synthetic_mnist, monkeypatch):
    """A device still busy when the clock is read: the epoch's seconds include the wait for its own steps
    (0.2 s here), not for the work queued before the epoch began (1 s)."""
    waits, clock = iter([1.0, 0.2]), [0.0]  # a clock that moves only while the device is waited on

    def synchronize(device):
        clock[0] += next(waits)

    monkeypatch.setattr(utils, "synchronize", synchronize)
    monkeypatch.setattr(utils.time, "perf_counter", lambda: clock[0])
    recipe = dataclasses.replace(model.RECIPES["batchnorm"], epochs=1, batch_size=256)
    history = utils.fit(utils.make_model("batchnorm"), recipe, synthetic_mnist, progress=False, log=False)
    assert history[0]["seconds"] == pytest.approx(0.2)


def test_deterministic_sets_torch_and_cudnn_and_can_be_undone(determinism_restored, monkeypatch):
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    utils.set_deterministic()
    assert torch.are_deterministic_algorithms_enabled()
    assert torch.is_deterministic_algorithms_warn_only_enabled()  # the pool's backward warns, not fails
    assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
    assert not torch.backends.cudnn.allow_tf32 and not torch.backends.cuda.matmul.allow_tf32  # full fp32
    assert __import__("os").environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
    utils.set_deterministic(False)
    assert not torch.are_deterministic_algorithms_enabled() and not torch.backends.cudnn.deterministic
    assert torch.backends.cudnn.allow_tf32  # torch's default again


def test_the_deterministic_flag_changes_nothing_on_the_cpu(tmp_path, monkeypatch, threads_restored,
                                                           determinism_restored):
    monkeypatch.setattr(train.mnist, "load_mnist", lambda *args, **kwargs: synthetic_data(n_train=1024))
    runs = []
    for flag in ([], ["--deterministic"]):
        path = tmp_path / f"run{len(runs)}.json"
        assert train.main(["--dry-run", "--quiet", "--device", "cpu", "--threads", "1", "--results",
                           str(path), *flag]) == 0
        runs.append(json.loads(path.read_text()))
    assert [r["deterministic"] for r in runs] == [False, True]
    assert torch.are_deterministic_algorithms_enabled()
    plain, deterministic = ([{k: v for k, v in row.items() if k != "seconds"} for row in r["history"]]
                            for r in runs)
    assert plain == deterministic


def cuda_data(n_train=512) -> mnist.MNISTData:
    data = synthetic_data(n_train=n_train)
    return dataclasses.replace(data, **{k: getattr(data, k).cuda() for k in ("train_x", "train_y", "test_x",
                                                                             "test_y")})


@pytest.mark.skipif(not torch.cuda.is_available(), reason=NO_CUDA)
def test_cuda_fit_and_evaluate_run_and_agree(determinism_restored):
    data = cuda_data()
    recipe = dataclasses.replace(model.RECIPES["final"], epochs=2, batch_size=64)
    utils.set_deterministic()
    nets = [utils.make_model("final", 1) for _ in range(2)]
    history = [utils.fit(net, recipe, data, seed=1, progress=False, log=False) for net in nets][0]
    assert set(history[-1]) == history_fields(recipe)
    assert all(p.is_cuda for p in nets[0].parameters())
    tested = utils.evaluate(nets[0], data.test_x, data.test_y)
    assert tested["acc"] == history[-1]["test_acc"] and tested["predictions"].is_cuda
    # With the deterministic setting the same seed gives the same weights on CUDA too.
    first, second = (net.state_dict() for net in nets)
    assert all(torch.equal(first[k], second[k]) for k in first)


@pytest.mark.skipif(not torch.cuda.is_available(), reason=NO_CUDA)
def test_cuda_step_timing_waits_for_the_gpu():
    data = cuda_data()
    batches = bench.tensor_batches(data, model.RECIPES["final"], 64)
    seconds = bench.time_steps(utils.make_model("reference"), batches, 5, torch.device("cuda"))
    assert seconds > 0 and torch.cuda.current_stream().query()  # nothing left running when the clock stopped


@pytest.mark.parametrize("name", list(model.MODELS))
def test_make_model_gives_the_seeds_weights_and_leaves_the_global_random_state_alone(name):
    state = torch.get_rng_state()
    net = utils.make_model(name, seed=3)
    assert torch.equal(state, torch.get_rng_state())  # a later draw is what it would have been
    torch.manual_seed(3)  # how the weights were made before (results/ were trained from these)
    before = model.MODELS[name]().state_dict()
    torch.set_rng_state(state)
    after = net.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)


@pytest.mark.parametrize("device, kind", [("cpu", None), ("cuda", "cuda"), ("mps", "mps")])
def test_fork_rng_restores_the_generator_of_the_device_it_is_given(device, kind, monkeypatch):
    """update_bn's dropout-free passes must leave the training's random state alone on a Mac too: the fork
    names the device's own generator, MPS included (torch's default forks CUDA's only)."""
    calls = []
    monkeypatch.setattr(torch.random, "fork_rng", lambda **kwargs: calls.append(kwargs))
    utils.fork_rng(device)
    if kind is None:
        assert calls == [{"devices": []}]
    else:
        assert calls[0]["device_type"] == kind and calls[0]["devices"] == [torch.device(device)]


def test_the_averages_statistics_are_recomputed_inside_a_fork_of_its_devices_generator(synthetic_mnist,
                                                                                        monkeypatch):
    forked = []
    fork_rng = utils.fork_rng
    monkeypatch.setattr(utils, "fork_rng", lambda device: forked.append(device) or fork_rng(device))
    average = utils.WeightAverage(utils.make_model("final"), 0.9)
    utils.with_own_bn_statistics(average, synthetic_mnist.train_x[:64])
    assert forked == [synthetic_mnist.train_x.device]


def test_the_weight_average_is_torchs_ema_without_its_host_syncs(synthetic_mnist):
    """The same floats as torch's AveragedModel with its EMA (what the runs in results/ used), step by
    step."""
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    net = utils.make_model("final", 3)
    recipe = dataclasses.replace(model.RECIPES["final"], epochs=1, batch_size=64)
    theirs = AveragedModel(net, multi_avg_fn=get_ema_multi_avg_fn(0.9), use_buffers=True)
    ours = utils.WeightAverage(net, 0.9)
    optimizer = utils.make_optimizer(net, recipe)
    batches = list(utils.tensor_batches(synthetic_mnist, recipe, torch.Generator()))
    for x, y in batches:
        torch.nn.functional.cross_entropy(net(x), y).backward()
        optimizer.step()
        optimizer.zero_grad()
        theirs.update_parameters(net)
        ours.update(net)
    mine, torchs = ours.module.state_dict(), theirs.module.state_dict()
    floats = [k for k in mine if mine[k].is_floating_point()]
    assert len(batches) > 3 and len(floats) > 20
    assert all(torch.equal(mine[k], torchs[k]) for k in floats)


def test_the_profile_reads_the_gpus_time_on_a_gpu():
    from torch.profiler import ProfilerActivity

    assert bench.profiled_time("cpu") == ([ProfilerActivity.CPU], "self_cpu_time_total")
    activities, field = bench.profiled_time(torch.device("cuda"))
    assert ProfilerActivity.CUDA in activities and field == "self_device_time_total"


@pytest.mark.slow
def test_the_pil_loader_pins_its_batches_for_a_gpu():
    data_dir = __import__("os").environ.get("S6_DATA_DIR", ROOT / "data")  # the session's real MNIST
    assert utils.pil_loader(data_dir, 32, limit=64, device="cuda").pin_memory
    assert not utils.pil_loader(data_dir, 32, limit=64, device="cpu").pin_memory


@pytest.mark.skipif(not torch.cuda.is_available(), reason=NO_CUDA)
def test_an_augmented_weight_averaged_step_never_waits_on_the_host():
    """Training steps of the final recipe (augmentation, OneCycle, weight average) under CUDA's sync debug
    mode: any host sync in a step raises. The epoch's end reads the accuracy and must sync: not run here."""
    data = cuda_data()
    recipe = dataclasses.replace(model.RECIPES["final"], batch_size=64)
    net = utils.make_model("final").cuda()
    optimizer = utils.make_optimizer(net, recipe)
    scheduler, per_batch = utils.make_scheduler(optimizer, recipe, 8)
    average = utils.WeightAverage(net, recipe.ema_decay)
    batches = utils.tensor_batches(data, recipe, torch.Generator().manual_seed(0))
    first = next(batches)  # the epoch's one copy to the GPU happens here, before the steps
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for x, y in [first, *batches]:
            loss = torch.nn.functional.cross_entropy(net(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            average.update(net)
            scheduler.step()
    finally:
        torch.cuda.set_sync_debug_mode("default")


@pytest.mark.skipif(not torch.cuda.is_available(), reason=NO_CUDA)
def test_a_cpu_checkpoint_reads_gpu_data_and_answers_on_its_device():
    data = cuda_data()
    net = utils.make_model("final").eval()  # on the CPU, as a checkpoint loads
    probabilities = utils.predict_probabilities(net, data.test_x[:8])
    assert probabilities.is_cuda
    tested = utils.evaluate(net, data.test_x, data.test_y)
    assert tested["predictions"].is_cuda and 0 <= tested["acc"] <= 100


@pytest.mark.skipif(not torch.cuda.is_available(), reason=NO_CUDA)
def test_a_gpu_trains_on_the_cpus_batches():
    """Batch order and augmentation come from a CPU generator: the same batches on either device."""
    data, gpu = synthetic_data(), cuda_data()
    recipe = model.RECIPES["final"]
    cpu_x, cpu_y = next(utils.tensor_batches(data, recipe, torch.Generator().manual_seed(1)))
    gpu_x, gpu_y = next(utils.tensor_batches(gpu, recipe, torch.Generator().manual_seed(1)))
    assert torch.equal(cpu_y, gpu_y.cpu()) and torch.allclose(cpu_x, gpu_x.cpu(), atol=1e-4)
