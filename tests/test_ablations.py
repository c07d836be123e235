"""The ablation and schedule-control tables: paired differences, the weight-average row read from the final
runs' raw weights, and the first epoch from which a run holds the target."""
from dataclasses import asdict

import pytest

import model
import report
import utils


def test_a_paired_difference_takes_its_error_from_the_per_seed_differences():
    before = [99.0, 99.3, 99.1, 99.4, 99.2]             # seed spread 0.16: unpaired, +0.1 is noise
    after = [a + 0.1 + e for a, e in zip(before, [0.01, -0.01, 0.0, 0.01, -0.01], strict=False)]
    paired = report.compare_paired(before, after)
    assert paired["diff"] == pytest.approx(0.1) and paired["se"] == pytest.approx(0.00447, abs=1e-4)
    assert paired["verdict"] == "higher"
    assert report.compare(before, after)["verdict"] == "within noise"
    assert report.compare_paired(after, before)["verdict"] == "lower"


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


def test_ablation_rows_are_judged_against_the_final_model_seed_by_seed(tmp_path):
    finals = [99.5, 99.4, 99.6, 99.45, 99.55]
    for seed, acc in enumerate(finals):
        write_run(tmp_path, "final", seed, acc, raw_acc=acc - 0.05)
        write_run(tmp_path, "minus_augment", seed, acc - 0.2 + 0.01 * seed)     # paired: a clear loss
        write_run(tmp_path, "minus_capacity", seed, 99.45 + 0.03 * (seed % 2))  # unpaired
    rows = report.ablation_summaries(report.ABLATIONS, tmp_path)
    assert list(rows) == ["minus_augment", "minus_average", "minus_capacity"]  # rows without runs left out
    assert rows["minus_augment"]["paired"] and rows["minus_augment"]["versus"]["verdict"] == "lower"
    assert rows["minus_average"]["final_test_acc"] == pytest.approx([a - 0.05 for a in finals])
    assert rows["minus_average"]["versus"]["diff"] == pytest.approx(-0.05)
    assert not rows["minus_capacity"]["paired"]
    assert rows["minus_capacity"]["versus"] == report.compare(finals,
                                                              rows["minus_capacity"]["final_test_acc"])
    table = report.ablation_table(rows, tmp_path)
    assert "minus_augment: augmentation" in table and "| paired |" in table and "| unpaired |" in table
    assert "lower (-0.18 ± 0.01)" in table  # differences -0.20 ... -0.16


def test_each_row_says_from_which_epoch_it_holds_the_target_the_average_row_by_its_raw_weights(tmp_path):
    for seed in report.SEEDS:  # a row has every seed or none
        rows = [{"epoch": e, "test_acc": avg, "test_acc_raw": raw, "train_eval_acc": 99.0, "seconds": 1.0}
                for e, (avg, raw) in enumerate([(99.2, 98.0), (99.45, 99.3), (99.5, 99.42)], start=1)]
        utils.write_json(tmp_path / f"final_seed{seed}.json", {
            "model": "final", "params": utils.count_params(model.MODELS["final"]()), "seed": seed,
            "epochs": 3,
            "recipe": asdict(model.RECIPES["final"]), "complete": True, "dry_run": False,
            "final_test_acc": rows[-1]["test_acc"], "history": rows})
    summaries = report.ablation_summaries({"minus_average": "the weight average"}, tmp_path)
    n = len(report.SEEDS)
    assert summaries["minus_average"]["holding"] == [3] * n  # the raw weights hold 99.4 % from epoch 3
    table = report.ablation_table(summaries, tmp_path)
    # the final model's row, then the raw weights' row
    assert f"| 2 ({n} of {n}) |" in table and f"| 3 ({n} of {n}) |" in table


def test_every_ablation_and_control_is_a_registered_model_with_the_final_recipe_but_one_change():
    final = asdict(model.RECIPES["final"])
    for name in {**report.ABLATIONS, **report.SCHEDULE_CONTROLS}:
        changed = {k for k, v in asdict(model.RECIPES[name]).items() if v != final[k]}
        same_net = model.MODELS[name] is model.MODELS["final"]
        assert same_net or not changed, f"{name} changes both the network and the recipe"
        assert same_net == (name not in ("minus_batchnorm", "minus_dropout", "minus_capacity")), name
        one_part = [{"rotate_deg", "translate", "scale"}, {"schedule", "lr"}]  # augmentation; a constant LR
        assert len(changed) <= 1 or changed in one_part, f"{name} changes {changed}"
        assert (name in report.PAIRED) == (same_net or name == "minus_dropout"), name
