"""colab.py writes the clone's GitHub repository into the three places that name it (README badge, notebook
badge, notebook REPO_URL), changes nothing else, and the committed files agree with each other."""
import json
import shutil
import subprocess

import pytest
from conftest import ROOT

import colab

PLACES = {"README.md badge", "notebook badge", "notebook REPO_URL"}


def git(repo, *args):
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


@pytest.fixture
def clone(tmp_path):
    """A fresh git repository holding copies of README.md and the notebook, with no remote yet."""
    for name in ("README.md", colab.NOTEBOOK):
        shutil.copy(ROOT / name, tmp_path / name)
    git(tmp_path, "init", "--quiet", "--initial-branch", "main")
    return tmp_path


def files(repo) -> dict[str, str]:
    return {name: (repo / name).read_text(encoding="utf-8") for name in ("README.md", colab.NOTEBOOK)}


def setup_source(repo) -> str:
    notebook = json.loads((repo / colab.NOTEBOOK).read_text(encoding="utf-8"))
    return "".join(colab.find_cell(notebook, "code", "REPO_URL = ")["source"])


def test_readme_badge_notebook_badge_and_repo_url_name_the_same_repository():
    named = colab.repositories_named(ROOT)
    assert set(named) == PLACES and "" not in named.values(), named
    assert len(set(named.values())) == 1, f"they disagree, run `make colab`: {named}"


@pytest.mark.parametrize("url, repo", [
    ("https://github.com/alice/s6-mnist.git", "alice/s6-mnist"),
    ("https://github.com/alice/s6-mnist", "alice/s6-mnist"),
    ("git@github.com:alice/s6-mnist.git", "alice/s6-mnist"),
    ("git@github.com:alice/s6-mnist", "alice/s6-mnist"),
    ("ssh://git@github.com/bob/S6_MNIST.git", "bob/S6_MNIST"),
    ("https://gitlab.com/alice/s6-mnist.git", None),
    ("/some/local/path", None),
])
def test_github_repo_reads_the_https_and_ssh_forms(url, repo):
    assert colab.github_repo(url) == repo


@pytest.mark.parametrize("url", ["https://github.com/alice/s6-mnist.git", "git@github.com:alice/s6-mnist"])
def test_make_colab_writes_the_remote_into_the_three_places_and_nothing_else(clone, url, capsys):
    before = files(clone)
    git(clone, "remote", "add", "origin", url)
    assert colab.main(clone) == 0
    assert colab.repositories_named(clone) == dict.fromkeys(PLACES, "alice/s6-mnist")
    after = files(clone)
    assert "colab.research.google.com/github/alice/s6-mnist/blob/main/S6_MNIST.ipynb" in after["README.md"]
    assert '\nBRANCH = "main"' in setup_source(clone)
    old_lines, new_lines = before["README.md"].splitlines(), after["README.md"].splitlines()
    assert len(old_lines) == len(new_lines) and sum(old != new for old, new in zip(old_lines, new_lines,
                                                                                   strict=False)) == 1
    old_cells, new_cells = (json.loads(f[colab.NOTEBOOK])["cells"] for f in (before, after))
    assert sum(old != new for old, new in zip(old_cells, new_cells,
                                              strict=False)) == 2 and len(old_cells) == len(new_cells)
    assert colab.main(clone) == 0 and files(clone) == after  # a second run changes nothing
    assert "already up to date" in capsys.readouterr().out


def test_a_branch_goes_into_the_badge_and_the_clone_and_back_out(clone):
    original = files(clone)
    git(clone, "remote", "add", "origin", f"https://github.com/{colab.PLACEHOLDER}.git")
    git(clone, "symbolic-ref", "HEAD", "refs/heads/colab-try")
    assert colab.main(clone) == 0
    assert "/blob/colab-try/S6_MNIST.ipynb" in files(clone)["README.md"]
    assert '\nBRANCH = "colab-try"' in setup_source(clone)
    git(clone, "symbolic-ref", "HEAD", "refs/heads/main")
    assert colab.main(clone) == 0
    assert files(clone) == original  # the placeholder on main: byte for byte what is committed


def test_cell_sources_stored_as_lists_of_lines_stay_lists(clone):
    notebook = json.loads(files(clone)[colab.NOTEBOOK])
    for cell in notebook["cells"]:
        cell["source"] = "".join(cell["source"]).splitlines(keepends=True)
    (clone / colab.NOTEBOOK).write_text(colab.notebook_text(notebook), encoding="utf-8")
    original = files(clone)
    git(clone, "remote", "add", "origin", f"git@github.com:{colab.PLACEHOLDER}.git")
    assert colab.main(clone) == 0 and files(clone) == original


@pytest.mark.parametrize("remote", [None, "https://gitlab.com/alice/s6-mnist.git"])
def test_without_a_github_remote_it_says_what_to_do_and_changes_nothing(clone, remote, capsys):
    if remote:
        git(clone, "remote", "add", "origin", remote)
    before = files(clone)
    assert colab.main(clone) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "git remote add origin https://github.com/YOU/REPO" in err[0]
    assert files(clone) == before


def test_a_missing_badge_changes_nothing(clone, capsys):
    git(clone, "remote", "add", "origin", "git@github.com:alice/s6-mnist.git")
    (clone / "README.md").write_text("# no badge here\n")
    notebook = files(clone)[colab.NOTEBOOK]
    assert colab.main(clone) == 1
    assert "README.md" in capsys.readouterr().err
    assert files(clone)[colab.NOTEBOOK] == notebook


def test_a_branch_name_with_a_parenthesis_keeps_the_badges_link_whole(clone):
    git(clone, "remote", "add", "origin", "https://github.com/alice/s6-mnist.git")
    git(clone, "symbolic-ref", "HEAD", "refs/heads/try(2)")
    assert colab.main(clone) == 0
    readme = files(clone)["README.md"]
    link = readme.split("](https://colab.research.google.com/github/", 1)[1].split(")", 1)[0]
    assert link == "alice/s6-mnist/blob/try%282%29/S6_MNIST.ipynb"  # the Markdown link ends where it should
    assert '\nBRANCH = "try(2)"' in setup_source(clone)  # what git clones: the name itself
    assert set(colab.repositories_named(clone).values()) == {"alice/s6-mnist"}


def test_help_changes_nothing(clone, capsys):
    git(clone, "remote", "add", "origin", "https://github.com/alice/s6-mnist.git")
    before = files(clone)
    with pytest.raises(SystemExit) as stop:
        colab.main(clone, ["--help"])
    assert stop.value.code == 0 and capsys.readouterr().out.startswith("usage: colab.py")
    assert files(clone) == before


def test_without_git_it_says_so_in_one_line_and_changes_nothing(clone, capsys, monkeypatch):
    before = files(clone)
    monkeypatch.setenv("PATH", str(clone))  # no git on it
    assert colab.main(clone) == 1
    err = capsys.readouterr().err
    assert err == ("colab.py: error: git is not installed here (or not on PATH): install git, then run "
                   "`make colab` again; nothing changed\n")
    assert files(clone) == before
