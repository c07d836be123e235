"""How report.py judges a difference over seeds, and where its public figures come from."""
import dataclasses
import re
import statistics

import pytest
from conftest import ROOT

import model
import report
import utils


def test_seed_stats_use_the_sample_standard_deviation():
    s = report.seed_stats([99.0, 99.2, 99.4])
    assert s["n"] == 3 and s["mean"] == pytest.approx(99.2) and s["sd"] == pytest.approx(0.2)
    assert (s["min"], s["max"]) == (99.0, 99.4)


def test_a_difference_is_an_effect_only_beyond_twice_its_standard_error():
    noisy = [99.0, 99.3, 99.1, 99.4, 99.2]             # sd 0.158
    def verdict(shift):
        c = report.compare(noisy, [a + shift for a in noisy])
        return report.verdict_of("final_test_acc", c["diff"], c["se"])[1]
    assert verdict(0.1) == "within noise"  # se 0.1
    assert verdict(0.25) == "higher" and verdict(-0.25) == "lower"
    result = report.compare(noisy, [a + 0.1 for a in noisy])
    assert result["diff"] == pytest.approx(0.1) and result["se"] == pytest.approx(0.1)


def test_the_checklist_compares_correct_counts_not_floats(tmp_path, capsys):
    run = {"model": "final", "params": utils.count_params(model.MODELS["final"]()), "epochs": 9,
           "recipe": dataclasses.asdict(model.RECIPES["final"]), "complete": True, "dry_run": False}
    for seed in (*report.SEEDS, *report.HELDOUT_SEEDS):  # 99.39999... is 9,940 correct: it holds
        acc = 99.39999723434448 if seed == 110 else 99.5
        history = [{"epoch": e, "test_acc": acc, "train_eval_acc": 99.6, "seconds": 1.0}
                   for e in range(1, 10)]
        utils.write_json(tmp_path / f"final_seed{seed}.json",
                         {**run, "seed": seed, "final_test_acc": acc, "history": history})
    checks = {r: (shown, met) for r, shown, met in report.requirements(tmp_path)}
    held_out = "last epoch ≥ 99.4 % on every one of the fresh seeds 110–114"
    assert checks[held_out] == ("lowest 9,940 of 10,000 correct", True)
    assert all(met for _, met in checks.values())
    report.print_checklist(tmp_path)
    assert "✓ parameters < 20,000" in capsys.readouterr().out


def test_print_method_counts_the_comparisons_and_the_false_effects_expected():
    planned = report.planned_comparisons()
    assert len(planned) == len({(b, a, f) for b, a, f in planned})
    assert ("average", "final", "holds_from") in planned  # iteration 10, and each ablation against its base
    assert ("final", "minus_average", "holds_from") in planned
    assert ("average", "minus_nesterov", "final_test_acc") in planned
    assert not any(b == "final" and a in report.DROPPED for b, a, _ in planned)
    # minus_onecycle is in two
    rows = report.TAKEN_AWAY
    steps = list(report.ITERATIONS.values())[1:]
    assert len(planned) == 2 * len(rows) + sum(len({"final_test_acc", *figures}) for _, _, figures in steps)


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


# -- One comparison, one verdict ------------------------------------------------------------------------
def fake_run(name: str, seed: int, last: float, holds_from: int | None = 3, epochs: int = 9, **provenance):
    """A results file of row `name`: test accuracy 99.0 until `holds_from`, then ≥ 99.4 up to `last`."""
    history = [{"epoch": e, "test_acc": (99.45 if holds_from and e >= holds_from else 99.0),
                "train_eval_acc": 99.6, "seconds": 1.0} for e in range(1, epochs + 1)]
    history[-1]["test_acc"] = last
    return {"model": name, "params": utils.count_params(model.MODELS[name]()), "seed": seed, "epochs": epochs,
            "recipe": dataclasses.asdict(model.RECIPES[name]), "complete": True, "dry_run": False,
            "final_test_acc": last, "history": history, "device": "cpu", "threads": 1, "torch": "t",
            "cpu": "c", **provenance}


def write_rows(folder, rows: dict[str, list[float]], holds: dict[str, list] | None = None):
    for name, accs in rows.items():
        for seed, acc in enumerate(accs):
            when = (holds or {}).get(name, [3] * len(accs))[seed]
            utils.write_json(folder / f"{name}_seed{seed}.json", fake_run(name, seed, acc, when))


@pytest.mark.parametrize("before, after, paired", [
    ("batchnorm", "dropout", True), ("capacity", "augment", True), ("onecycle", "speed", True),
    ("speed", "final", True), ("final", "minus_average", True), ("final", "minus_dropout", True),
    ("final", "minus_nesterov", True), ("final", "onecycle_fixed_momentum", True),
    ("baseline", "batchnorm", False), ("dropout", "gap", False), ("gap", "capacity", False),
    ("final", "minus_batchnorm", False), ("final", "minus_capacity", False), ("final", "sprint", False)])
def test_rows_are_paired_exactly_when_their_seeds_start_alike(before, after, paired):
    assert report.shares_start(before, after) is paired


def test_a_paired_difference_is_taken_seed_by_seed(tmp_path):
    final = [99.50, 99.62, 99.41, 99.55, 99.47]
    write_rows(tmp_path, {"final": final, "minus_nesterov": [a - 0.05 + d for a, d in
                                                              zip(final, [0, .01, -.01, .005, -.005],
                                                                  strict=False)]})
    c = report.comparison("final", "minus_nesterov", folder=tmp_path, seeds=range(5))
    assert c["paired"] and c["n"] == 5 and c["diff"] == pytest.approx(-0.05)
    assert c["se"] == pytest.approx(statistics.stdev([0, .01, -.01, .005, -.005]) / 5 ** 0.5)
    assert c["verdict"] == "lower"  # unpaired, the seeds' spread (0.08) would hide 0.05


def test_the_bar_is_two_standard_errors(tmp_path):
    base = [99.5] * 4
    for t, verdict in ((2.1, "lower"), (1.9, "within noise")):
        # differences ±1 around -m: sd 1.155 (×scale), SE = sd / 2; mean m = t × SE
        spread = [1, -1, 1, -1]
        se = statistics.stdev(spread) / 2 * 0.01
        diffs = [-t * se + 0.01 * s for s in spread]
        write_rows(tmp_path, {"final": base, "minus_weight_decay": [b + d for b, d in zip(base, diffs,
                                                                                          strict=False)]})
        report._comparisons.clear()
        c = report.comparison("final", "minus_weight_decay", folder=tmp_path, seeds=range(4))
        assert c["t"] == pytest.approx(-t) and c["verdict"] == verdict


def test_the_same_runs_asked_the_other_way_round_get_the_same_verdict_negated():
    forward = report.comparison("average", "final", folder=ROOT / "results")
    backward = report.comparison("final", "average", folder=ROOT / "results")
    assert backward["diff"] == -forward["diff"] and backward["se"] == forward["se"]
    assert {forward["verdict"], backward["verdict"]} in ({"within noise"}, {"higher", "lower"})


def test_how_often_noise_passes_the_bar():
    assert 1 / report.false_alarm_rate(9) == pytest.approx(13, abs=0.2)  # ten paired seeds
    assert 1 / report.false_alarm_rate(4) == pytest.approx(8.6, abs=0.2)  # five
    assert report.false_alarm_rate(10_000) == pytest.approx(0.0455, abs=1e-3)  # the normal's two-sided 2σ


def test_one_rule_keeps_a_part_that_costs_accuracy_or_time_or_that_the_assignment_requires(tmp_path):
    final = [99.50, 99.62, 99.41, 99.55, 99.47]
    jitter = [0, .01, -.01, .005, -.005]
    write_rows(tmp_path, {
        "final": final,
        "minus_augment": [a - 0.1 + j for a, j in zip(final, jitter, strict=False)],  # lower
        "minus_weight_decay": [a + j for a, j in zip(final, jitter, strict=False)],   # a tie
        "average": [a - 0.1 for a in final],  # what the dropped parts are taken from
        "minus_nesterov": [a - 0.1 + j for a, j in zip(final, jitter, strict=False)],  # a tie with average
        # a tie on accuracy, but it holds later
        "minus_onecycle": [a + j for a, j in zip(final, jitter, strict=False)],
        "minus_dropout": [a + j for a, j in zip(final, jitter, strict=False)],        # a tie, but required
    }, holds={"minus_onecycle": [8, 9, None, 9, 8]})
    decide = {row: report.keep_decision(row, tmp_path, range(5)) for row in
              ("minus_augment", "minus_weight_decay", "minus_nesterov", "minus_onecycle", "minus_dropout")}
    assert decide["minus_augment"]["keep"] and "lower" in decide["minus_augment"]["reasons"][0]
    assert not decide["minus_weight_decay"]["keep"]
    # a dropped part is judged against the recipe it was taken from: against final it would be "lower"
    assert decide["minus_nesterov"]["accuracy"]["before"] == "average"
    assert not decide["minus_nesterov"]["keep"]
    assert decide["minus_onecycle"]["keep"] and decide["minus_onecycle"]["holds_from"]["verdict"] == "later"
    assert decide["minus_dropout"]["reasons"] == ["the assignment requires dropout"]


def test_a_row_with_some_seeds_missing_or_made_on_two_machines_is_refused(tmp_path):
    write_rows(tmp_path, {"final": [99.5, 99.6, 99.4]})
    with pytest.raises(ValueError, match=r'lack seeds 3 4: make results MODELS=final SEEDS="3 4"'):
        report.load_runs("final", tmp_path, range(5))
    assert report.load_runs("minus_nesterov", tmp_path, range(5)) == []  # not run yet: nothing to refuse
    utils.write_json(tmp_path / "final_seed2.json", fake_run("final", 2, 99.4, cpu="another processor"))
    with pytest.raises(ValueError, match="mix runs made differently .cpu another processor / c."):
        report.load_runs("final", tmp_path, range(3))


def test_seed_history_reads_one_seed_and_says_how_to_make_a_missing_one(tmp_path):
    utils.write_json(tmp_path / "final_seed3.json", fake_run("final", 3, 99.5))
    assert [row["epoch"] for row in report.seed_history("final", 3, tmp_path)] == list(range(1, 10))
    with pytest.raises(ValueError, match="make results MODELS=final SEEDS=4"):
        report.seed_history("final", 4, tmp_path)
