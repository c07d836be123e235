"""The notebook's written analysis quotes numbers; they must be the numbers in its results files.
(tests/notebook_prose.py writes the prose from results/ after a full run, `make notebook` or `make prose`: this
fails when a new run changes a result and the prose still quotes the old one.)"""
import json

import pytest

import notebook_prose
import utils
from conftest import ROOT
from notebook_prose import ITERATIONS


def markdown_cells():
    notebook = json.loads((ROOT / "S6_MNIST.ipynb").read_text())
    return ["".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "markdown"]


def test_each_iteration_analysis_quotes_its_own_final_accuracy_and_gap():
    results = {r["name"]: r for r in utils.read_json(ROOT / "results" / "notebook.json")["iterations"]}
    analyses = [text for text in markdown_cells() if text.startswith("**Result / Analysis.**")]
    assert len(analyses) == len(ITERATIONS)
    for name, text in zip(ITERATIONS, analyses):
        assert f"{results[name]['final_test_acc']:.2f} %" in text, name
        assert f"{results[name]['gap']:+.2f}".lstrip("+") in text or f"{abs(results[name]['gap']):.2f}" in text, name


def test_what_we_learned_quotes_the_seeds_and_the_bench():
    consistency = utils.read_json(ROOT / "results" / "notebook.json")["consistency"]
    bench = utils.read_json(ROOT / "results" / "bench.json")
    (learned,) = [text for text in markdown_cells() if text.startswith("## What we learned")]
    for key in ("min", "mean", "max"):
        assert f"{consistency[key]:.2f} %" in learned, key
    assert f"{bench['speedup']:.1f}× longer" in learned
    assert f"{bench['time_to_target_s']:.0f} s after" in learned


def test_the_prose_is_exactly_what_the_results_files_write():
    notebook = json.loads((ROOT / "S6_MNIST.ipynb").read_text())
    expected = notebook_prose.prose()
    for cell, name in zip(notebook_prose.prose_cells(notebook), ITERATIONS + ["learned"]):
        assert cell["source"] == expected[name], f"{name}: run `make prose` to rewrite it from results/"


def test_the_prose_writer_rewrites_stale_text_and_says_when_a_cell_is_missing(tmp_path):
    notebook = json.loads((ROOT / "S6_MNIST.ipynb").read_text())
    cells = notebook_prose.prose_cells(notebook)
    cells[0]["source"] = notebook_prose.ANALYSIS + "It learns: 12.34 % on the last epoch."
    stale = tmp_path / "stale.ipynb"
    stale.write_text(json.dumps(notebook))
    notebook_prose.write(stale)
    rewritten = notebook_prose.prose_cells(json.loads(stale.read_text()))
    assert rewritten[0]["source"] == notebook_prose.prose()["baseline"]
    notebook["cells"].remove(cells[-1])
    stale.write_text(json.dumps(notebook))
    with pytest.raises(ValueError, match="What we learned"):
        notebook_prose.write(stale)


def test_the_prose_writer_refuses_a_claim_the_results_no_longer_support(tmp_path):
    for path in (ROOT / "results").glob("*.json"):
        (tmp_path / path.name).write_text(path.read_text())
    results = utils.read_json(tmp_path / "notebook.json")
    baseline = results["iterations"][0]
    baseline["history"][-1]["train_loss"] = baseline["history"][0]["train_loss"] + 1  # the training loss rises at the end
    utils.write_json(tmp_path / "notebook.json", results)
    with pytest.raises(ValueError, match="training loss falls every epoch"):
        notebook_prose.prose(tmp_path)
