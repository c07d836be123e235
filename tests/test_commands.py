"""What every command line shares: --help prints help and touches nothing; an output that cannot be written
is refused in one line before any work; Ctrl-C, even while torch is still loading, is one line."""
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

import bench
import colab
import lr_finder
import mnist
import photos
import predict
import report
import train

COMMANDS = {"train.py": lambda argv: train.main(argv), "predict.py": lambda argv: predict.main(argv),
            "bench.py": lambda argv: bench.main(argv), "lr_finder.py": lambda argv: lr_finder.main(argv),
            "photos.py": lambda argv: photos.main(argv), "report.py": lambda argv: report.main(argv),
            "colab.py": lambda argv: colab.main(argv=argv)}


def snapshot() -> dict:
    """Every file a command could write in the repository (outside .venv, data and the git folder), with
    its size and modification time."""
    files = {}
    for folder, subfolders, names in os.walk(ROOT):  # pruned as it goes: .venv alone holds tens of thousands
        subfolders[:] = [s for s in subfolders if s not in {".venv", "data", ".git", "__pycache__",
                                                            ".pytest_cache"}]
        for name in names:
            path = Path(folder, name)
            files[path] = (path.stat().st_size, path.stat().st_mtime_ns)
    return files


@pytest.mark.parametrize("name", COMMANDS)
def test_help_prints_help_and_touches_nothing(name, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # where report.py would write README.md, had it not stopped
    monkeypatch.setattr(mnist, "load_mnist", lambda *a, **k: pytest.fail("data read for --help"))
    before = snapshot()
    with pytest.raises(SystemExit) as stop:
        COMMANDS[name](["--help"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: {name}")
    assert snapshot() == before and list(tmp_path.iterdir()) == []


def test_bench_refuses_a_json_path_it_cannot_write_before_any_work(tmp_path, monkeypatch):
    monkeypatch.setattr(mnist, "load_mnist", lambda *a, **k: pytest.fail("data read before the check"))
    with pytest.raises(SystemExit) as stop:
        bench.main(["--device", "cpu", "--json", str(tmp_path)])
    assert stop.value.code == (f"bench.py: error: cannot write --json {tmp_path}: it is a folder; "
                               "name a file in it instead")


def test_photos_refuses_an_output_it_cannot_write_before_any_work(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(photos, "RESULTS", tmp_path)  # a folder where results/photos.json should be
    monkeypatch.setattr(predict, "load_checkpoint", lambda *a, **k: pytest.fail("checkpoint read first"))
    monkeypatch.setattr(mnist, "load_mnist", lambda *a, **k: pytest.fail("data read before the check"))
    assert photos.main([]) == 1
    err = capsys.readouterr().err
    assert err == f"photos.py: error: cannot write {tmp_path}: it is a folder; name a file in it instead\n"


def test_report_refuses_a_readme_it_cannot_write_before_writing_the_plot(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "README.md").mkdir()
    with pytest.raises(SystemExit) as stop:
        report.main([])
    assert stop.value.code == ("report.py: error: cannot write README.md: it is a folder; name a file in it "
                               "instead")
    assert [p.name for p in tmp_path.iterdir()] == ["README.md"]  # no images/accuracy_vs_params.png


def test_ctrl_c_while_torch_is_still_loading_is_one_line():
    """SIGINT right after the first import that follows cli's (python -X importtime lists each import as
    it finishes): train.py is still loading torch, and says so in one line, no traceback. The child gets
    Ctrl-C's default action back first: a shell starts background jobs (`make test &`) with SIGINT ignored,
    and Python then never turns it into KeyboardInterrupt, so the command would just finish."""
    run = subprocess.Popen([sys.executable, "-X", "importtime", "train.py", "--list-models"], cwd=ROOT,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    imported = []
    for line in run.stderr:
        imported.append(line.rstrip())
        if any(name.endswith("| cli") for name in imported[:-1]):  # cli's hook is set by now
            run.send_signal(signal.SIGINT)
            break
    else:
        pytest.fail("train.py never imported cli")
    _, err = run.communicate(timeout=120)
    said = [line for line in err.splitlines() if line and not line.startswith("import time:")]
    assert said == ["train.py: interrupted (Ctrl-C)"] and run.returncode in (-signal.SIGINT, 130)


def test_a_reader_that_stops_early_gets_no_traceback():
    """`python train.py --list-models | head -1`: the pipe closes before train.py writes; it stops quietly."""
    run = subprocess.Popen([sys.executable, "train.py", "--list-models"], cwd=ROOT, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    run.stdout.close()  # before torch has loaded: every write train.py makes meets a closed pipe
    _, err = run.communicate(timeout=120)
    assert err == "" and run.returncode != 0
