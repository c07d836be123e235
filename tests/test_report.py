"""How report.py judges a difference over seeds."""
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
