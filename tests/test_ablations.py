"""The ablation and schedule-control tables: paired differences, the weight-average row read from the final
runs' raw weights, and the first epoch from which a run holds the target."""
from dataclasses import asdict

import pytest
import torch

import model
import report
import utils


def test_a_paired_difference_takes_its_error_from_the_per_seed_differences():
    before = [99.0, 99.3, 99.1, 99.4, 99.2]             # seed spread 0.16: unpaired, +0.1 is noise
    after = [a + 0.1 + e for a, e in zip(before, [0.01, -0.01, 0.0, 0.01, -0.01], strict=False)]
    paired = report.compare_paired(before, after)
    assert paired["diff"] == pytest.approx(0.1) and paired["se"] == pytest.approx(0.00447, abs=1e-4)
    assert report.paired_verdict("final_test_acc", before, after)["verdict"] == "higher"
    unpaired = report.compare(before, after)
    assert report.verdict_of("final_test_acc", unpaired["diff"], unpaired["se"])[1] == "within noise"
    assert report.paired_verdict("final_test_acc", after, before)["verdict"] == "lower"
    assert report.paired_verdict("holds_from", after, before)["verdict"] == "sooner"  # the figure's own words


def test_a_paired_difference_needs_the_same_seeds_on_both_sides():
    with pytest.raises(ValueError):
        report.compare_paired([99.0, 99.1], [99.0, 99.1, 99.2])


def test_the_first_epoch_holding_the_target_ignores_a_touch_that_is_lost_again():
    history = [{"epoch": e, "test_acc": a} for e, a in enumerate([99.1, 99.41, 99.38, 99.42, 99.5], start=1)]
    assert utils.first_epoch_at(history) == 2           # first touch
    assert report.first_epoch_holding(history) == 4     # held from here to the last epoch
    assert report.first_epoch_holding(history[:3]) is None


def write_run(folder, name, seed, final_acc, raw_acc=None):
    row = {"epoch": 1, "test_acc": final_acc, "train_eval_acc": final_acc, "seconds": 1.0}
    if raw_acc is not None:
        row["test_acc_raw"] = raw_acc
    utils.write_json(folder / f"{name}_seed{seed}.json", {
        "model": name, "params": utils.count_params(model.MODELS[name]()), "seed": seed, "epochs": 1,
        "recipe": asdict(model.RECIPES[name]), "complete": True, "dry_run": False,
        "final_test_acc": final_acc,
        "history": [row]})


def write_rows(folder, rows: dict[str, list[float]], seeds=report.SEEDS):
    for name, accs in rows.items():
        for seed, acc in zip(seeds, accs, strict=True):
            write_run(folder, name, seed, acc)


def test_ablation_rows_are_judged_against_the_final_model_by_one_comparison_each(tmp_path):
    finals = [99.5, 99.4, 99.6, 99.45, 99.55, 99.5, 99.42, 99.58, 99.47, 99.52]
    write_rows(tmp_path, {
        "final": finals,
        "minus_augment": [a - 0.2 + 0.01 * (i % 3) for i, a in enumerate(finals)],  # paired: a clear loss
        "minus_average": [a + 0.01 * (-1) ** i for i, a in enumerate(finals)],      # the raw weights: a tie
        "minus_capacity": [99.45 + 0.03 * (i % 2) for i in range(10)]})            # unpaired
    report._comparisons.clear()
    rows = report.ablation_summaries(report.ABLATIONS, tmp_path)
    assert list(rows) == ["minus_augment", "minus_average", "minus_capacity"]  # rows without runs left out
    augment, average, capacity = (rows[n]["keep"]["accuracy"] for n in rows)
    assert augment["paired"] and augment["verdict"] == "lower" and rows["minus_augment"]["keep"]["keep"]
    assert average["paired"] and average["verdict"] == "within noise"
    assert not rows["minus_average"]["keep"]["keep"]
    assert not capacity["paired"] and capacity is not None
    assert rows["minus_average"]["final_test_acc"] == [a + 0.01 * (-1) ** i for i, a in enumerate(finals)]
    table = report.ablation_table(rows, tmp_path)
    assert "minus_augment: augmentation" in table
    assert ", paired, n=10)" in table and ", unpaired, n=10)" in table
    assert f"| {report.verdict_text(augment)} |" in table
    assert "| tie: last epoch within noise, 99.4 % holds" in table


def test_every_ablation_and_control_is_a_registered_model_with_its_base_recipe_but_one_change():
    for name in {**report.ABLATIONS, **report.SCHEDULE_CONTROLS, **report.DROPPED}:
        base = report.BASE.get(name, "final")
        final = asdict(model.RECIPES[base])
        changed = {k for k, v in asdict(model.RECIPES[name]).items() if v != final[k]}
        same_net = model.MODELS[name] is model.MODELS[base]
        assert same_net or not changed, f"{name} changes both the network and the recipe"
        assert same_net == (name not in ("minus_batchnorm", "minus_dropout", "minus_capacity")), name
        one_part = [{"rotate_deg", "translate", "scale"}, {"schedule", "lr"}]  # augmentation; a constant LR
        assert len(changed) <= 1 or changed in one_part, f"{name} changes {changed}"
        # the same starting weights (and batch size): every recipe-only row, and dropout (it holds none)
        assert report.shares_start(base, name) == (same_net or name == "minus_dropout"), name


def test_the_final_recipe_is_the_average_recipe_without_the_two_dropped_parts():
    """Iteration 10 takes away exactly what the DROPPED rows took away, nothing else."""
    average, final = asdict(model.RECIPES["average"]), asdict(model.RECIPES["final"])
    dropped = {k for name in report.DROPPED
               for k, v in asdict(model.RECIPES[name]).items() if v != average[k]}
    assert dropped == {"nesterov", "cycle_momentum"}
    assert {k for k in final if final[k] != average[k]} == dropped
    assert all(final[k] is False for k in dropped)


@pytest.mark.parametrize("row", [r for r in {**report.ABLATIONS, **report.SCHEDULE_CONTROLS, **report.DROPPED}
                                 if model.MODELS[r] is model.MODELS["final"]])
def test_each_recipe_only_row_trains_differently_from_its_base(row, synthetic_mnist):
    """The setting a row changes reaches training: `fit` cannot ignore Nesterov, momentum cycling, weight
    decay, the schedule or the augmentation and leave the row secretly its base recipe (or the reverse)."""
    def trained(name):
        net = utils.make_model(name, 0)
        recipe = utils.with_overrides(model.RECIPES[name], epochs=2)  # OneCycle needs a warm-up step
        history = utils.fit(net, recipe, synthetic_mnist, seed=0, progress=False)
        return history, [p.detach().clone() for p in net.parameters()]

    base = report.BASE.get(row, "final")
    (final_history, final_weights), (row_history, row_weights) = trained(base), trained(row)
    if row == "minus_average":  # the weight average is the one change: the same steps, the averaged ones read
        assert [r["test_acc"] for r in row_history] == [r["test_acc_raw"] for r in final_history]
        assert [r["test_acc"] for r in final_history] != [r["test_acc_raw"] for r in final_history]
        return
    assert any(not torch.equal(a, b) for a, b in zip(final_weights, row_weights, strict=True)), row


@pytest.mark.parametrize("raw_shift, read", [(-0.1, "average"), (0.0, "raw"), (0.1, "raw")])
def test_a_weight_average_is_read_only_when_the_raw_weights_would_be_lower(tmp_path, raw_shift, read):
    """The rule for the average of `accurate`'s own runs: the raw weights of each run against its average,
    seed by seed; a tie goes to the simpler reading (one epoch each here: 99.4 % holds from it on both)."""
    finals = [99.6, 99.65, 99.62, 99.7, 99.58, 99.66, 99.61, 99.69, 99.64, 99.67]
    for seed, acc in zip(report.SEEDS, finals, strict=True):
        write_run(tmp_path, "accurate", seed, acc, raw_acc=acc + raw_shift + 0.01 * (seed % 2) - 0.005)
    decision = report.reading_decision("accurate", tmp_path)
    assert decision["read"] == read and decision["n"] == 10
    assert decision["final_test_acc"]["diff"] == pytest.approx(raw_shift)
    assert decision["holds_from"]["verdict"] == "within noise"


def test_the_reading_is_printed_only_once_all_ten_seeds_have_landed(tmp_path):
    for seed in report.SEEDS[:-1]:
        write_run(tmp_path, "accurate", seed, 99.6, raw_acc=99.6 + 0.01 * (seed % 2))
    assert report.reading_text("accurate", tmp_path).endswith("9 of 10 seeds run so far")
    write_run(tmp_path, "accurate", report.SEEDS[-1], 99.6, raw_acc=99.6)
    assert report.reading_text("accurate", tmp_path).endswith("read: raw")


def test_the_final_models_reading_and_its_ablation_row_are_one_comparison_with_one_verdict():
    """minus_average reads the final runs' raw weights (above): reading_decision on the final model asks the
    same question of the same runs, so it must give the same differences and verdicts, and keep the
    average."""
    reading, row = report.reading_decision("final"), report.keep_decision("minus_average")
    for figure in ("final_test_acc", "holds_from"):
        key = {"final_test_acc": "accuracy"}.get(figure, figure)  # keep_decision's names
        assert reading[figure]["diff"] == pytest.approx(row[key]["diff"])
        assert reading[figure]["verdict"] == row[key]["verdict"], figure
    assert reading["read"] == "average" and row["keep"]
