"""How report.py judges a difference over seeds, and where its public figures come from."""
import re

import pytest

import report


def test_seed_stats_use_the_sample_standard_deviation():
    s = report.seed_stats([99.0, 99.2, 99.4])
    assert s["n"] == 3 and s["mean"] == pytest.approx(99.2) and s["sd"] == pytest.approx(0.2)
    assert (s["min"], s["max"]) == (99.0, 99.4)


def test_a_difference_is_an_effect_only_beyond_twice_its_standard_error():
    noisy = [99.0, 99.3, 99.1, 99.4, 99.2]             # sd 0.158
    assert report.compare(noisy, [a + 0.1 for a in noisy])["verdict"] == "within noise"  # se 0.1
    assert report.compare(noisy, [a + 0.25 for a in noisy])["verdict"] == "higher"
    assert report.compare(noisy, [a - 0.25 for a in noisy])["verdict"] == "lower"
    result = report.compare(noisy, [a + 0.1 for a in noisy])
    assert result["diff"] == pytest.approx(0.1) and result["se"] == pytest.approx(0.1)


def test_print_seeds_says_which_command_makes_missing_results(tmp_path, capsys):
    report.print_seeds("capacity", tmp_path)
    assert "make results MODELS=capacity" in capsys.readouterr().out


def test_every_public_result_names_the_repository_and_file_it_was_read_in():
    for point in report.PUBLIC_RESULTS:
        assert re.fullmatch(r"github\.com/[\w.-]+/[\w.-]+, \S+\.\w+\b.*", point["source"]), point
        assert point["best_acc"] >= point["test_acc"] and point["params"] < 20_000


def test_the_parameters_plot_footnotes_every_public_source(monkeypatch):
    import matplotlib
    matplotlib.use("Agg")
    figures = []
    monkeypatch.setattr(report.plots, "save_figure", lambda fig, save: figures.append(fig))
    ours = {"final": {"params": 17_826, "epochs": 9, "final_test_acc": [99.5, 99.45]}}
    report.plot_accuracy_vs_params(ours, show=False)
    footnote = "\n".join(text.get_text() for text in figures[0].texts)
    assert all(point["source"] in footnote for point in report.PUBLIC_RESULTS)
