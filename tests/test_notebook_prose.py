"""The notebook's written analysis quotes numbers; they must be the numbers in its results files.
(The prose is written from results/notebook.json and results/bench.json after a full run: this fails when a new
run changes a result and the prose still quotes the old one.)"""
import json

import utils
from conftest import ROOT

ITERATIONS = ["baseline", "batchnorm", "dropout", "gap", "augment", "onecycle", "speed", "final"]


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
