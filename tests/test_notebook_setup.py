"""The notebook's first code cell, as Colab runs it: with no model.py beside it, it fetches the repository
named by REPO_URL. Left at its placeholder, that must stop with what to change, not with a failed
`git clone`."""
import json
import sys
import types

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
