"""The README's results section is regenerated from the results files by report.py and must match them."""
import pytest

import model
import report
import utils
from conftest import ROOT


def test_readme_results_match_the_results_files():
    text = (ROOT / "README.md").read_text()
    section = text.split(report.README_START, 1)[1].split(report.README_END, 1)[0].strip()
    assert section == report.readme_section(ROOT / "results").strip(), "run `make readme` after new results"


def test_write_readme_rewrites_only_its_section_and_draws_the_plot(tmp_path):
    import matplotlib
    matplotlib.use("Agg")
    readme, plot = tmp_path / "README.md", tmp_path / "plot.png"
    readme.write_text(f"# Title\n{report.README_START}\nold numbers\n{report.README_END}\nkept\n")
    report.write_readme(readme, ROOT / "results", plot)
    text = readme.read_text()
    assert text.startswith("# Title\n") and text.endswith("kept\n") and "old numbers" not in text
    assert report.readme_section(ROOT / "results") in text
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_every_iteration_and_track_has_five_complete_seeds_of_its_current_recipe():
    iterations = report.iteration_summaries(ROOT / "results")
    assert list(iterations) == list(report.ITERATIONS)
    for name, s in {**iterations, **report.track_summaries(ROOT / "results")}.items():
        assert len(s["final_test_acc"]) == len(s["seeds"]) >= 5, name
        assert s["params"] < 20_000 and s["seconds_per_epoch"] > 0, name


def test_the_registered_iterations_are_the_ones_the_learning_log_reports():
    assert list(report.ITERATIONS)[-1] == model.DEFAULT_MODEL
    assert set(report.ITERATIONS) <= set(model.MODELS)


def test_results_of_an_older_recipe_are_refused_not_mixed_in(tmp_path):
    run = utils.read_json(ROOT / "results" / "tiny_seed0.json")
    utils.write_json(tmp_path / "tiny_seed0.json", {**run, "recipe": {**run["recipe"], "epochs": 3}})
    with pytest.raises(ValueError, match="another recipe.*make results MODELS=tiny"):
        report.load_runs("tiny", tmp_path)


def test_incomplete_and_dry_runs_are_left_out(tmp_path):
    run = utils.read_json(ROOT / "results" / "tiny_seed0.json")
    utils.write_json(tmp_path / "tiny_seed0.json", {**run, "complete": False})
    utils.write_json(tmp_path / "tiny_seed1.json", {**run, "seed": 1, "dry_run": True})
    utils.write_json(tmp_path / "tiny_seed2.json", {**run, "seed": 2})
    assert [r["seed"] for r in report.load_runs("tiny", tmp_path)] == [2]


def test_bench_table_says_when_a_target_was_not_reached():
    table = report.bench_table({"speedup": None, "time_to_target_s": 93.456, "epochs_to_target": 4})
    assert "| speedup (×) | not reached |" in table and "| 93.5 |" in table and "| 4 |" in table
