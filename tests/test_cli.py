import json
import subprocess
import sys

import pytest
import torch

import train
import utils
from conftest import ROOT


def run_cli(*args):
    return subprocess.run([sys.executable, "train.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("args, says", [
    (["--model", "resnet"], "unknown model 'resnet'"),
    (["--epochs", "0"], "epochs must be"),
    (["--batch-size", "-1"], "batch size must be"),
    (["--epochs", "many"], "invalid int value"),
    (["--device", "cuda:7" if torch.cuda.is_available() else "cuda"], "cuda"),
])
def test_bad_arguments_fail_with_one_clear_line(args, says):
    result = run_cli(*args)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0], result.stderr


def test_list_models_names_every_model():
    result = run_cli("--list-models")
    assert result.returncode == 0
    for name in train.model.MODELS:
        assert name in result.stdout


def test_dry_run_writes_results_and_checkpoint(tmp_path):
    results, checkpoint = tmp_path / "r.json", tmp_path / "m.pt"
    result = run_cli("--dry-run", "--quiet", "--device", "cpu", "--results", str(results), "--save", str(checkpoint))
    assert result.returncode == 0, result.stderr
    assert "parameters" in result.stdout and "final test accuracy" in result.stdout
    payload = json.loads(results.read_text())
    assert {"model", "params", "seed", "epochs", "device", "final_test_acc", "history"} <= set(payload)
    assert set(payload["history"][0]) == {"epoch", "train_loss", "train_acc", "test_loss", "test_acc", "lr", "seconds"}
    saved = torch.load(checkpoint, weights_only=False)
    assert {"model", "state_dict", "mean", "std", "params", "final_test_acc", "seed"} <= set(saved)
    net = train.model.MODELS[saved["model"]]()
    net.load_state_dict(saved["state_dict"])  # the checkpoint rebuilds the model it names


def test_ctrl_c_keeps_the_old_checkpoint_and_finished_epochs(tmp_path, monkeypatch, capsys):
    checkpoint, results = tmp_path / "m.pt", tmp_path / "r.json"
    checkpoint.write_bytes(b"previous checkpoint")

    def interrupted_fit(net, recipe, data, seed, progress, on_epoch):
        on_epoch([{"epoch": 1, "train_loss": 1.0, "train_acc": 50.0, "test_loss": 1.0, "test_acc": 60.0,
                   "lr": 0.1, "seconds": 1.0}])
        raise KeyboardInterrupt

    monkeypatch.setattr(train.utils, "fit", interrupted_fit)
    code = train.main(["--dry-run", "--device", "cpu", "--save", str(checkpoint), "--results", str(results)])
    assert code == 130
    assert checkpoint.read_bytes() == b"previous checkpoint"
    assert json.loads(results.read_text())["complete"] is False
    assert "interrupted" in capsys.readouterr().err
