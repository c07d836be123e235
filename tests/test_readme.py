"""Every number in the README's results section is regenerated from the results files and must match."""
import pytest

import utils
from conftest import ROOT


def test_readme_results_match_the_results_files():
    text = (ROOT / "README.md").read_text()
    section = text.split(utils.README_START, 1)[1].split(utils.README_END, 1)[0].strip()
    assert section == utils.readme_results(ROOT / "results").strip(), "run `make readme` after new results"


def test_readme_gives_the_two_commands():
    text = (ROOT / "README.md").read_text()
    assert "make train" in text and "make test" in text


def test_readme_shows_the_accuracy_vs_parameters_plot_that_make_readme_writes(tmp_path):
    import matplotlib
    matplotlib.use("Agg")
    assert "images/accuracy_vs_params.png" in (ROOT / "README.md").read_text()
    plot = tmp_path / "plot.png"
    utils.plot_accuracy_vs_params(utils.seeds_by_model(ROOT / "results"), save=plot, show=False)
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_seeds_by_model_reads_every_seed_of_each_track():
    tracks = utils.seeds_by_model(ROOT / "results")
    assert set(tracks) >= {"final", "tiny", "accurate"}
    for name, track in tracks.items():
        assert len(track["final_test_acc"]) == len(track["seeds"]) >= 5, name  # every claim is over 5+ seeds
        assert track["params"] < 20_000 and track["seconds_per_epoch"] > 0


def test_bench_table_says_when_a_target_was_not_reached():
    table = utils.bench_table({"speedup": None, "time_to_target_s": 93.456, "model": "final"})
    assert "| speedup | not reached |" in table and "| time_to_target_s | 93.46 |" in table


def test_results_of_an_older_recipe_are_refused_not_mixed_in(tmp_path):
    run = utils.read_json(ROOT / "results" / "tiny_seed0.json")
    utils.write_json(tmp_path / "tiny_seed0.json", {**run, "recipe": {**run["recipe"], "epochs": 3}})
    with pytest.raises(ValueError, match="another recipe.*make results MODELS=tiny"):
        utils.load_seed_results("tiny", tmp_path)
