"""The notebook's first code cell, as Colab runs it: with no model.py beside it, it fetches the repository
named by REPO_URL. Left at its placeholder, that must stop with what to change, not with a failed
`git clone`; run again after a runtime restart, it must reuse its clone and bring it up to date; and when git
fails, it must say why in one line, not with a traceback."""
import json
import re
import subprocess
import sys
import types
from pathlib import Path

import pytest
from conftest import ROOT


def setup_cell_before_the_magics() -> str:
    notebook = json.loads((ROOT / "S6_MNIST.ipynb").read_text())
    source = "".join(next(c["source"] for c in notebook["cells"] if c["cell_type"] == "code"))
    return source.split("%matplotlib")[0]  # plain Python up to the first IPython magic


def test_colab_setup_with_the_placeholder_repository_says_to_set_repo_url(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    monkeypatch.chdir(tmp_path)  # no utils.py here: the cell would clone the repository
    with pytest.raises(SystemExit, match="set REPO_URL"):
        exec(setup_cell_before_the_magics(), {})
    assert not (tmp_path / "S6_MNIST").exists()


def git(cwd, *args):
    subprocess.run(["git", "-c", "user.name=test", "-c", "user.email=test@example.com", *args], cwd=cwd,
                   check=True, capture_output=True)


def run_setup_cell_in_colab(source: str, content: Path):
    """Run the cell's plain Python as Colab would, from `content` (where a restart leaves Colab), without
    the pip install of torchsummary (git runs for real)."""
    real_run = subprocess.run

    def run(command, *args, **kwargs):
        if "pip" in command:
            return subprocess.CompletedProcess(command, 0)
        return real_run(command, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
        patch.setattr(subprocess, "run", run)
        patch.chdir(content)
        exec(source, {})
        return Path.cwd()


@pytest.fixture
def github(tmp_path):
    """A local repository standing in for the fork on GitHub, on branch main, holding a utils.py."""
    upstream = tmp_path / "upstream"
    upstream.mkdir()
    git(upstream, "init", "--quiet", "--initial-branch", "main")
    (upstream / "utils.py").write_text("VERSION = 1\n")
    git(upstream, "add", "utils.py")
    git(upstream, "commit", "--quiet", "-m", "first")
    return upstream


def cell_pointing_at(url: str, branch: str = "main") -> str:
    source = setup_cell_before_the_magics()
    source, urls = re.subn(r'^REPO_URL = "[^"]*"', f"REPO_URL = {json.dumps(url)}", source, flags=re.M)
    source, branches = re.subn(r'^BRANCH = "[^"]*"', f"BRANCH = {json.dumps(branch)}", source, flags=re.M)
    assert urls == branches == 1
    return source


def test_colab_setup_after_a_restart_reuses_the_clone_and_brings_it_up_to_date(github, tmp_path):
    content = tmp_path / "content"
    content.mkdir()
    source = cell_pointing_at(github.as_uri())
    assert run_setup_cell_in_colab(source, content) == content / "S6_MNIST"
    assert (content / "S6_MNIST" / "utils.py").read_text() == "VERSION = 1\n"
    (github / "utils.py").write_text("VERSION = 2\n")  # a push between the two sessions
    git(github, "commit", "--quiet", "-am", "second")
    assert run_setup_cell_in_colab(source, content) == content / "S6_MNIST"  # the folder exists: no clone
    assert (content / "S6_MNIST" / "utils.py").read_text() == "VERSION = 2\n"


@pytest.mark.parametrize("second_run", [False, True])
def test_colab_setup_that_cannot_fetch_says_why_in_one_line(github, tmp_path, second_run):
    content = tmp_path / "content"
    content.mkdir()
    if second_run:
        run_setup_cell_in_colab(cell_pointing_at(github.as_uri()), content)
    with pytest.raises(SystemExit) as stop:
        run_setup_cell_in_colab(cell_pointing_at(github.as_uri(), branch="no-such-branch"), content)
    message = str(stop.value)
    assert len(message.splitlines()) == 1 and "no-such-branch" in message
    assert "check REPO_URL and BRANCH" in message


def test_colab_setup_after_a_restart_keeps_an_edited_clone_and_says_how_to_update(github, tmp_path, capsys):
    content = tmp_path / "content"
    content.mkdir()
    source = cell_pointing_at(github.as_uri())
    run_setup_cell_in_colab(source, content)
    clone = content / "S6_MNIST"
    (clone / "utils.py").write_text("VERSION = 1  # my own network\n")  # the student's edit
    (github / "utils.py").write_text("VERSION = 2\n")  # and a push, between the two sessions
    git(github, "commit", "--quiet", "-am", "second")
    capsys.readouterr()
    assert run_setup_cell_in_colab(source, content) == clone  # the notebook goes on, with the edit
    assert (clone / "utils.py").read_text() == "VERSION = 1  # my own network\n"
    said = capsys.readouterr().out.splitlines()
    assert said == ["S6_MNIST has changes of yours (utils.py): kept, so not updated to main; to update "
                    "anyway, run !git -C S6_MNIST stash -u (which keeps them in git's stash), then this cell "
                    "again"]
    git(clone, "stash", "-u")  # as the line says: the next run updates
    assert run_setup_cell_in_colab(source, content) == clone
    assert (clone / "utils.py").read_text() == "VERSION = 2\n"
