"""Results files → the tables the notebook and the README show, and the README's results section.

    python report.py            # rewrite README.md's results section and images/accuracy_vs_params.png
                                # (`make readme`; after `make results` or `make bench`)

Every figure comes from `results/`: `<model>_seed<N>.json` written by `train.py --results` (`make results`),
`bench.json` by `bench.py --json` (`make bench`). A difference between two iterations is called an effect when
their means differ by more than twice its standard error over seeds; otherwise it is within seed noise.
"""
from __future__ import annotations

import math
import statistics
import sys
from dataclasses import asdict
from pathlib import Path

import torch

import model
import plots
import utils

# The learning log: each iteration, what it changes against the one before, and what we expect of it.
ITERATIONS = {  # name → (what it changes, its Target, the figures that Target is judged by)
    "baseline": ("conv → ReLU, 7×7 conv classifier, SGD 0.02", "a yardstick", ()),
    "batchnorm": ("+ BatchNorm after every conv", "higher after epoch 1 and after the last",
                  ("epoch1_test_acc", "final_test_acc")),
    "dropout": ("+ dropout 0.05 after each pool and the last conv", "a narrower train–test gap", ("gap",)),
    "gap": ("7×7 conv classifier → 1×1 conv + GAP", "under half the parameters, a little accuracy lost",
            ("final_test_acc",)),
    "capacity": ("one 16-channel conv at 7×7 → three 24-channel ones", "higher, within 20k",
                 ("final_test_acc",)),
    "augment": ("+ random rotation, shift and zoom", "a narrower gap, higher test accuracy",
                ("gap", "final_test_acc")),
    "onecycle": ("constant LR 0.02 → OneCycle, peak 0.1", "a higher last epoch", ("final_test_acc",)),
    "speed": ("CapacityNet → SpeedNet: the same parameters, fewer operations",
              "the same accuracy, less time", ("final_test_acc",)),
    "average": ("test a moving average of the weights", "99.4 % held sooner",
                ("holds_from", "final_test_acc")),
    "final": ("Nesterov → plain momentum, cycled → held at 0.9 (the rule: two parts that earn nothing)",
              "no lower, no later, with two parts fewer", ("holds_from", "final_test_acc")),
}
SEEDS = tuple(range(10))                   # the learning log's seeds: every choice was made looking at them
HELDOUT_SEEDS = (110, 111, 112, 113, 114)  # fresh seeds, fixed before looking: every goal is reported here
# The final model with one part taken away (name → what is taken away). Rows that change only the recipe,
# or drop a layer that holds no weights, start from the final model's initial weights and batch order seed by
# seed: their difference from it is taken seed by seed (paired).
ABLATIONS = {
    "minus_batchnorm": "BatchNorm (conv biases back)",
    "minus_dropout": "Dropout2d before the classifier",
    "minus_augment": "augmentation",
    "minus_onecycle": "OneCycle → constant LR 0.02",
    "minus_weight_decay": "weight decay 5e-4",
    "minus_average": "the weight average (its raw weights)",
    "minus_capacity": "three 24-ch convs at 6×6 → one 16-ch",
}
# The parts that tie when taken away alone, taken away together (the rule's second step, keep_decision):
# the final recipe without augmentation, weight decay and OneCycle's anneal (constant LR at its peak).
TOGETHER = {
    "lean": "augmentation, weight decay and OneCycle's shape, together",
}
# The schedule taken apart (OneCycle changed the LR's shape and its peak at once): each row undoes some.
SCHEDULE_CONTROLS = {
    "minus_onecycle": "constant LR 0.02 (shape and peak undone)",
    "onecycle_constant_lr": "constant LR 0.1 (shape undone, peak kept)",
    "onecycle_low_peak": "OneCycle peaking at 0.02 (peak undone)",
}
# The two parts the rule dropped, each taken away from the recipe before it did (iteration 9's, "average"):
# the evidence for iteration 10. Compared with that recipe, not with the final one.
DROPPED = {
    "minus_nesterov": "Nesterov → plain momentum",
    "onecycle_fixed_momentum": "OneCycle's momentum cycling → held at 0.9",
}
BASE = {row: "average" for row in DROPPED}  # the row each ablation is compared with; others: the final model
# Every row that takes something away from a recipe, each compared with its BASE (the final model by default).
TAKEN_AWAY = {**ABLATIONS, **TOGETHER, **SCHEDULE_CONTROLS, **DROPPED}
SPEED_GOALS = {  # bench.json key → (the goal, ×; what it measures)
    "speedup": (10, "final: seconds to 99.4 %, against the reference's"),
    "sprint_speedup": (30, "sprint: seconds for its 3 epochs, against the reference's to 99.4 %"),
    "throughput_ratio": (2, "images/s on the reference net, ours against its PIL pipeline's"),
}
# The final model and the tracks beyond the assignment: each goal's lines, each what it asks and its check on
# the fresh seeds' summary (model_summary + seed_stats of the final test accuracy). A goal is met when every
# line is; goal_misses names those that are not.
TRACK_GOALS = {
    "final": (("< 20,000 params", lambda s: s["params"] < 20_000),
              ("< 20 epochs", lambda s: s["epochs"] < 20),
              (f"every seed ≥ {model.TARGET:.2f} %", lambda s: s["min"] >= model.TARGET)),
    # "Consistently": each of the last three epochs on every seed, not the last one only.
    "tiny": (("≤ 4,000 params", lambda s: s["params"] <= 4_000),
             ("≤ 15 epochs", lambda s: s["epochs"] <= 15),
             (f"every seed ≥ {model.TARGET:.2f} % in each of its last 3 epochs",
              lambda s: s["min_last3"] >= model.TARGET)),
    "accurate": (("< 20,000 params", lambda s: s["params"] < 20_000),
                 ("≤ 19 epochs", lambda s: s["epochs"] <= 19),
                 ("mean ≥ 99.65 %", lambda s: s["mean"] >= 99.65),
                 ("every seed ≥ 99.55 %", lambda s: s["min"] >= 99.55)),
    # Its speed from bench.json (`make bench`): no bench run, no verdict of met.
    "sprint": (("< 20,000 params", lambda s: s["params"] < 20_000),
               ("≤ 3 epochs", lambda s: s["epochs"] <= 3),
               (f"every seed ≥ {model.TARGET:.2f} %", lambda s: s["min"] >= model.TARGET),
               (f"≥ {SPEED_GOALS['sprint_speedup'][0]}× faster than the reference (bench)",
                lambda s: s["bench"] is not None
                and s["bench"]["sprint_speedup"] >= SPEED_GOALS["sprint_speedup"][0])),
}
# Each goal's candidate recipes (registered models), tried on the learning log's seeds (results/) in this
# order before any was run on the fresh seeds; the one reported there is TRACK_MODEL's (the goal's own name if
# none is given), chosen by the rule said at TRACK_MODEL.
TRACK_TRIALS = {"final": ("final",), "tiny": ("tiny_clean3", "tiny_long_average"),
                "accurate": ("accurate",), "sprint": ("sprint",)}
# Where a goal has two candidates: the one that meets its goal on more of seeds 0-9; if as many, the second
# only if each seed's lowest of its last 3 epochs (what tiny's goal judges) is higher with it, seed by seed
# past the bar; else the simpler, the first listed (track_choice computes it; a test checks it is this).
TRACK_MODEL: dict[str, str] = {"tiny": "tiny_long_average"}
# Candidates whose weight average and raw weights are both recorded: which one is read is decided on SEEDS by
# reading_decision (the rule, applied to the average as to any part), before the fresh seeds are looked at.
READ_BY_RULE = ("accurate",)
BENCH_ROWS = {  # bench.json key → what the README calls it
    "reference_epochs_to_target":
        "reference: median epochs to 99.4 % (results/reference_seed*.json, seeds 0–4)",
    "reference_time_to_target_s": "reference: those epochs × its s/epoch (training only, timed in this run)",
    "epochs_to_target_median": "final: median epochs to 99.4 % (results/final_seed*.json, fresh seeds)",
    "time_to_target_s": "final: setup + those epochs × its s/epoch (training and evaluation) in this run",
    "speedup": "final: speedup (×)",
    "time_to_target_this_run_s":
        f"final, this run alone (seed 0): seconds to {model.TARGET} % (process start)",
    "sprint_time_s": "sprint: seconds for its 3 epochs (process start)",
    "sprint_test_acc": "sprint: last-epoch test % (seed 0)",
    "sprint_speedup": "sprint: speedup (×)",
    "throughput_ratio": "images/s on the reference net, ours ÷ PIL (×)",
    "throughput_ratio_data_only": "the same, both nets in the default memory format: the pipelines alone (×)",
}


# What must agree between the seeds of one row for them to be one distribution (and between two rows for a
# seed-by-seed difference): CPU results round alike only on one processor model, thread count and torch.
PROVENANCE = ("device", "threads", "torch", "cpu")


def load_runs(name: str, folder: str | Path = "results", seeds=None) -> list[dict]:
    """Every complete `train.py --results` file of one model in `folder` (of `seeds` only, if given), by seed.
    A file trained with another recipe or architecture than model.py has now is refused, never mixed in; so is
    a row whose files differ in PROVENANCE, and a row that has some of `seeds` but not all (no file: [])."""
    runs = []
    for path in sorted(Path(folder).glob(f"{name}_seed*.json")):
        run = utils.read_json(path)
        if not run.get("complete") or run.get("dry_run") or (seeds is not None and run["seed"] not in seeds):
            continue
        trained_with = {**asdict(model.Recipe()), **run["recipe"]}  # fields added since then: their defaults
        if name in model.RECIPES and trained_with != asdict(model.RECIPES[name]):
            raise ValueError(f"{path} was trained with another recipe than model.RECIPES[{name!r}] has now: "
                             f"re-run it (make results MODELS={name}) or delete it")
        if name in model.MODELS and run["params"] != utils.count_params(model.MODELS[name]()):
            raise ValueError(f"{path} was trained with another architecture than model.MODELS[{name!r}] has "
                             f"now: re-run it (make results MODELS={name}) or delete it")
        runs.append(run)
    mixed = {key: sorted(map(str, {r.get(key) for r in runs})) for key in PROVENANCE}
    mixed = {key: values for key, values in mixed.items() if len(values) > 1}
    if mixed:
        said = "; ".join(f"{key} {' / '.join(values)}" for key, values in mixed.items())
        raise ValueError(f"{folder}/{name}_seed*.json mix runs made differently ({said}): re-run them on one "
                         f"machine (make results MODELS={name})")
    missing = sorted(set(seeds) - {r["seed"] for r in runs}) if seeds is not None and runs else []
    if missing:
        listed = " ".join(map(str, missing))
        raise ValueError(f"{folder}/{name}_seed*.json lack seeds {listed}: make results MODELS={name} "
                         f'SEEDS="{listed}"')
    return sorted(runs, key=lambda r: r["seed"])


def seed_stats(values: list[float]) -> dict:
    """n, mean, sample standard deviation, min and max of one figure over seeds."""
    n = len(values)
    mean = sum(values) / n
    sd = statistics.stdev(values) if n > 1 else 0.0
    return {"n": n, "mean": mean, "sd": sd, "min": min(values), "max": max(values)}


def compare(before: list[float], after: list[float]) -> dict:
    """How `after` differs from `before` over seeds: the difference of the means and its standard error (the
    verdict is verdict_of's alone)."""
    a, b = seed_stats(before), seed_stats(after)
    return {"diff": b["mean"] - a["mean"], "se": math.sqrt(a["sd"] ** 2 / a["n"] + b["sd"] ** 2 / b["n"])}


def compare_paired(before: list[float], after: list[float]) -> dict:
    """As `compare`, for runs that share their seed's initial weights and batch order: the difference is taken
    seed by seed, and its standard error is the sd of those differences / √n."""
    d = seed_stats([b - a for a, b in zip(before, after, strict=True)])
    return {"diff": d["mean"], "se": d["sd"] / math.sqrt(d["n"])}


def first_epoch_holding(history: list[dict], key: str = "test_acc",
                        target: float = model.TARGET) -> int | None:
    """The first epoch from which `key` stays ≥ target to the last epoch (None if the last is below)."""
    epoch = None
    for row in reversed(history):
        if row[key] < target:
            break
        epoch = row["epoch"]
    return epoch


def holds_from(history: list[dict], key: str = "test_acc") -> int:
    """first_epoch_holding as the rule compares it: a run that never holds counts as one past its last
    epoch."""
    return first_epoch_holding(history, key) or len(history) + 1


# -- One comparison, one verdict: every cell, table and the README print the dict `comparison` returns -------
BAR = 2.0  # an effect: the difference is more than BAR standard errors from zero
# Parts the assignment requires, kept whatever their ablation shows (GAP is the head itself: no row removes
# it).
REQUIRED_PARTS = {"minus_batchnorm": "BatchNorm", "minus_dropout": "dropout"}
FIGURES = {  # figure → (what it is, the words for a difference above zero and below it, its short name)
    "final_test_acc": ("last-epoch test accuracy (%)", "higher", "lower", "last-epoch test"),
    "epoch1_test_acc": ("test accuracy after epoch 1 (%)", "higher", "lower", "epoch-1 test"),
    "gap": ("clean train minus test accuracy (points)", "wider", "narrower", "train–test gap"),
    "train_eval_acc": ("clean train accuracy (%)", "higher", "lower", "clean train"),
    "holds_from": (f"epoch from which test accuracy holds ≥ {model.TARGET} % (never: one past the last)",
                   "later", "sooner", f"holds {model.TARGET} % from epoch"),
}
_comparisons: dict[tuple, dict] = {}


def shares_start(before: str, after: str) -> bool:
    """True when two rows' runs of one seed start from the same initial weights (checked parameter by
    parameter) with the same batch size, so their first epoch draws the same batches (one generator, seeded
    alike): their difference is then taken seed by seed (paired). Two network classes can pass. Where one
    row augments and the other does not, the batch streams part after epoch 1; they are paired all the same,
    since pairing only takes out what the seed gives both, and what differs later is in the standard error."""
    if model.RECIPES[before].batch_size != model.RECIPES[after].batch_size:
        return False
    a, b = (list(utils.make_model(name, 0).parameters()) for name in (before, after))
    return len(a) == len(b) and all(p.shape == q.shape and torch.equal(p, q) for p, q in zip(a, b,
                                                                                             strict=True))


def false_alarm_rate(df: int, bar: float = BAR) -> float:
    """How often a difference that is seed noise alone passes the bar: P(|t| > bar) for Student's t with `df`
    degrees of freedom (n - 1 for n paired seeds), by Simpson's rule on its density."""
    c = math.exp(math.lgamma((df + 1) / 2) - math.lgamma(df / 2)) / math.sqrt(df * math.pi)
    density = [c * (1 + (bar * i / 1000) ** 2 / df) ** (-(df + 1) / 2) for i in range(1001)]
    area = (density[0] + density[-1] + sum((4 if i % 2 else 2) * d for i, d in enumerate(density[1:-1], 1)))
    return 1 - 2 * area * (bar / 1000) / 3


def verdict_of(figure: str, diff: float, se: float) -> tuple[float, str]:
    """t = diff / se and the verdict: an effect past BAR standard errors, in FIGURES' words, else within
    noise."""
    t = diff / se if se > 0 else (0.0 if diff == 0 else math.copysign(math.inf, diff))
    up, down = FIGURES[figure][1:3]
    return t, "within noise" if abs(t) <= BAR else (up if diff > 0 else down)


def paired_verdict(figure: str, before: list[float], after: list[float]) -> dict:
    """`figure`'s values `after` minus `before`, seed by seed (compare_paired), with verdict_of's t and
    verdict: the dict verdict_text prints, for comparisons within one row's runs rather than between rows."""
    measured = compare_paired(before, after)
    t, verdict = verdict_of(figure, measured["diff"], measured["se"])
    return {"figure": figure, **measured, "t": t, "verdict": verdict, "paired": True, "n": len(before)}


def comparison(before: str, after: str, figure: str = "final_test_acc", folder: str | Path = "results",
               seeds=None) -> dict:
    """`figure` of row `after` minus row `before` over `seeds`: paired (seed by seed) when shares_start says
    so, else the difference of the means; its standard error, t = diff / SE and the verdict (an effect past
    BAR standard errors, named by FIGURES, else "within noise"). Computed once per question: the same two
    runs asked the other way round get the same dict, negated."""
    seeds = SEEDS if seeds is None else seeds
    key = (before, after, figure, str(folder), tuple(seeds))
    flipped = (key[1], key[0], *key[2:])
    if flipped in _comparisons and key not in _comparisons:
        c = _comparisons[flipped]
        up, down = FIGURES[figure][1:3]
        verdict = {up: down, down: up}.get(c["verdict"], c["verdict"])
        return {**c, "before": before, "after": after, "diff": -c["diff"], "t": -c["t"], "verdict": verdict}
    if key not in _comparisons:
        a, b = ({r["seed"]: r for r in load_runs(name, folder, seeds)} for name in key[:2])
        shared = sorted(a.keys() & b.keys())
        if len(shared) < 2:
            raise ValueError(f"{before} and {after} share {len(shared)} seed(s) in {folder}: "
                             "make results first")
        x, y = (model_summary([runs[s] for s in shared])[figure] for runs in (a, b))
        paired = shares_start(before, after)
        measured = (compare_paired if paired else compare)(x, y)
        diff, se = measured["diff"], measured["se"]
        df = len(shared) - 1 if paired else 2 * len(shared) - 2
        t, verdict = verdict_of(figure, diff, se)
        _comparisons[key] = {"before": before, "after": after, "figure": figure, "seeds": shared,
                             "n": len(shared),
                             "paired": paired, "diff": diff, "se": se, "t": t, "df": df, "verdict": verdict,
                             "false_alarm_rate": false_alarm_rate(df)}
    return {**_comparisons[key], "before": before, "after": after}


def keep_decision(row: str, folder: str | Path = "results", seeds=None) -> dict:
    """The one rule for every part: it stays when taking it away (`row`, against BASE's recipe, the final
    model's by default) lowers the last epoch's accuracy or delays the epoch from which 99.4 % holds, past
    the bar; or when the assignment requires it. Otherwise it ties. The parts that tie are then taken away
    together (TOGETHER; iteration 10 for the DROPPED): if that ties too, the simpler recipe wins and they go;
    if not, they stay."""
    base = BASE.get(row, model.DEFAULT_MODEL)
    accuracy = comparison(base, row, "final_test_acc", folder, seeds)
    holds = comparison(base, row, "holds_from", folder, seeds)
    reasons = [reason for reason, applies in (
        ("taken away, the last epoch is lower", accuracy["verdict"] == "lower"),
        (f"taken away, {model.TARGET} % holds later", holds["verdict"] == "later"),
        (f"the assignment requires {REQUIRED_PARTS.get(row)}", row in REQUIRED_PARTS)) if applies]
    return {"row": row, "keep": bool(reasons), "reasons": reasons, "accuracy": accuracy, "holds_from": holds}


def tie_label(decision: dict) -> str:
    """What a part that ties did when taken away, in the verdicts' words: neither lower nor later, which may
    be higher or sooner."""
    return (f"tie: last epoch {decision['accuracy']['verdict']}, "
            f"{model.TARGET} % holds {decision['holds_from']['verdict']}")


def reading_decision(name: str, folder: str | Path = "results") -> dict:
    """The rule for a recipe's weight average, read or not from the same runs (`name` on SEEDS): the raw
    weights against the average, seed by seed, in the last epoch and the epoch from which 99.4 % holds. The
    average is read when the raw weights are lower or hold later, past the bar; otherwise the simpler reading,
    the raw weights, wins."""
    c = average_comparison(folder, SEEDS, name)
    out = {"row": name, "n": len(c["test_acc"]["final_test_acc"])}
    for figure in ("final_test_acc", "holds_from"):
        out[figure] = paired_verdict(figure, c["test_acc"][figure], c["test_acc_raw"][figure])
    out["read"] = "average" if (out["final_test_acc"]["verdict"] == "lower"
                                or out["holds_from"]["verdict"] == "later") else "raw"
    return out


def seeds_landed(name: str, folder: str | Path = "results") -> list[int]:
    """Which of SEEDS have a results file of `name` in `folder` (a row still running has some)."""
    return [seed for seed in SEEDS if (Path(folder) / f"{name}_seed{seed}.json").exists()]


def reading_text(name: str, folder: str | Path = "results") -> str:
    """reading_decision for `name` in one line, or how many of its seeds 0-9 have landed so far."""
    landed = seeds_landed(name, folder)
    if len(landed) < len(SEEDS):
        return (f"{name}: average or raw weights, decided on seeds {_span(SEEDS)} (report.reading_decision): "
                f"{len(landed)} of {len(SEEDS)} seeds run so far")
    d = reading_decision(name, folder)
    return (f"{name}: raw weights minus the average, last epoch {verdict_text(d['final_test_acc'])}; "
            f"holds-from epoch {verdict_text(d['holds_from'])}; read: {d['read']}")


def verdict_text(c: dict) -> str:
    """One comparison as every cell and table prints it."""
    how = "paired" if c["paired"] else "unpaired"  # t: two decimals print the same ± either side of the bar
    return f"{c['diff']:+.2f} ± {c['se']:.2f} (t = {c['t']:+.2f}, {how}, n={c['n']}): {c['verdict']}"


def planned_comparisons() -> list[tuple[str, str, str]]:
    """Every comparison the notebook and the README print a verdict for, once each: each iteration against the
    one before (its last epoch and its Target's figures), and each ablation and control against the final
    model (its last epoch and the epoch 99.4 % holds from; the dropped parts' against the recipe they were
    taken from). Two questions about the same runs count once."""
    names, planned = list(ITERATIONS), {}
    for before, after in zip(names, names[1:], strict=False):
        for figure in dict.fromkeys(("final_test_acc", *ITERATIONS[after][2])):
            planned.setdefault((before, after, figure), None)
    for row in TAKEN_AWAY:
        for figure in ("final_test_acc", "holds_from"):
            planned.setdefault((BASE.get(row, model.DEFAULT_MODEL), row, figure), None)
    seen, unique = set(), []
    for before, after, figure in planned:
        key = frozenset((before, after)), figure
        if key not in seen:
            seen.add(key)
            unique.append((before, after, figure))
    return unique


def print_method(folder: str | Path = "results") -> None:
    """How many verdicts the notebook prints, and how many 'effects' seed noise alone would give."""
    made = [comparison(*c, folder=folder) for c in planned_comparisons()]
    paired = [c for c in made if c["paired"]]
    expected = sum(c["false_alarm_rate"] for c in made)
    effects = sum(c["verdict"] != "within noise" for c in made)
    print(f"{len(made)} comparisons ({len(paired)} paired, {len(made) - len(paired)} unpaired), each over "
          f"seeds {_span(SEEDS)}, an effect past {BAR:g} standard errors")
    print(f"  noise alone passes that bar 1 time in {1 / false_alarm_rate(len(SEEDS) - 1):.0f} (paired) or "
          f"1 in {1 / false_alarm_rate(2 * len(SEEDS) - 2):.0f} (unpaired): about {expected:.1f} false "
          f"effects expected among the {len(made)}; {effects} pass the bar")


def _span(seeds) -> str:
    seeds = list(seeds)
    return f"{seeds[0]}–{seeds[-1]}" if seeds == list(range(seeds[0], seeds[-1] + 1)) else " ".join(map(str,
                                                                                                      seeds))


def requirements(folder: str | Path = "results") -> list[tuple[str, str, bool]]:
    """The assignment's checklist for the final model: (requirement, what the network or results/ show,
    met). Accuracies are compared as counts of correct test digits out of 10,000, never as floats."""
    import torch.nn as nn

    net = model.MODELS[model.DEFAULT_MODEL]()
    layers = {type(m) for m in net.modules()}
    recipe = model.RECIPES[model.DEFAULT_MODEL]
    params = utils.count_params(net)
    need = round(model.TARGET * 100)  # correct digits of 10,000
    checks = [
        ("parameters < 20,000", f"{params:,}", params < 20_000),
        ("epochs < 20", f"{recipe.epochs}", recipe.epochs < 20),
        ("BatchNorm", "yes" if nn.BatchNorm2d in layers else "no", nn.BatchNorm2d in layers),
        ("dropout", "yes" if layers & {nn.Dropout, nn.Dropout2d} else "no", bool(layers & {nn.Dropout,
                                                                                          nn.Dropout2d})),
        ("global average pooling", "yes" if nn.AdaptiveAvgPool2d in layers else "no",
         nn.AdaptiveAvgPool2d in layers),
    ]
    for label, seeds in (("seeds", SEEDS), ("fresh seeds", HELDOUT_SEEDS)):
        runs = load_runs(model.DEFAULT_MODEL, folder, seeds)
        if not runs:
            checks.append((f"≥ {model.TARGET} % on the {label} {_span(seeds)}", "not run yet", False))
            continue
        last = min(round(r["history"][-1]["test_acc"] * 100) for r in runs)
        last3 = min(round(row["test_acc"] * 100) for r in runs for row in r["history"][-3:])
        checks += [(f"last epoch ≥ {model.TARGET} % on every one of the {label} {_span(seeds)}",
                    f"lowest {last:,} of 10,000 correct", last >= need),
                   (f"each of the last 3 epochs ≥ {model.TARGET} %, {label} (next assignment)",
                    f"lowest {last3:,} of 10,000 correct", last3 >= need)]
    return checks


def print_checklist(folder: str | Path = "results") -> None:
    """The assignment's checklist, computed from the final network and results/."""
    checks = requirements(folder)
    width = max(len(requirement) for requirement, _, _ in checks)
    for requirement, shown, met in checks:
        print(f"{'✓' if met else '✗'} {requirement:<{width}} {shown}")


def print_live(name: str, history: list[dict], source: str = "this run") -> None:
    """The notebook's run of an iteration (seed 0), its last epoch: the curves above show every epoch.
    `source`: where the run comes from, when it was read rather than trained here."""
    last = history[-1]
    print(f"{name}, {source} (seed 0), epoch {last['epoch']}: clean train {last['train_eval_acc']:.2f} %, "
          f"test {last['test_acc']:.2f} %; {statistics.mean(row['seconds'] for row in history):.1f} s/epoch")


def seed_history(name: str, seed: int, folder: str | Path = "results") -> list[dict]:
    """One seed's epochs from results/ (load_runs' checks included): a run the notebook reads, not trains."""
    (run,) = load_runs(name, folder, (seed,)) or [None]
    if run is None:
        raise ValueError(f"no {folder}/{name}_seed{seed}.json: make results MODELS={name} SEEDS={seed}")
    return run["history"]


def model_summary(runs: list[dict]) -> dict:
    """The figures one model is judged by, over the seeds of its results files."""
    final = [r["history"][-1] for r in runs]
    seconds = [row["seconds"] for r in runs for row in r["history"]]
    return {
        "params": runs[0]["params"], "epochs": runs[0]["epochs"], "seeds": [r["seed"] for r in runs],
        "final_test_acc": [r["final_test_acc"] for r in runs],
        "epoch1_test_acc": [r["history"][0]["test_acc"] for r in runs],
        "train_eval_acc": [row["train_eval_acc"] for row in final if "train_eval_acc" in row],
        "gap": [row["train_eval_acc"] - row["test_acc"] for row in final if "train_eval_acc" in row],
        "epoch_seconds": [sum(row["seconds"] for row in r["history"]) / len(r["history"]) for r in runs],
        "first_epoch_at_target": [utils.first_epoch_at(r["history"]) for r in runs],
        "first_epoch_holding": [first_epoch_holding(r["history"]) for r in runs],
        "holds_from": [holds_from(r["history"]) for r in runs],
        # the lowest test accuracy over the last three epochs, over every seed
        "min_last3": min(row["test_acc"] for r in runs for row in r["history"][-3:]),
        "seconds_per_epoch": sum(seconds) / len(seconds),
    }


def median_epochs_to_target(runs: list[dict]) -> dict:
    """Over results files (load_runs): each seed's first epoch at ≥ model.TARGET (None: never) and their
    median, a seed that never gets there counted as all its epochs. `exact`: False when that count moves the
    median (it would be higher had training gone on), True when the median is the same whatever those seeds
    would have needed."""
    first = [utils.first_epoch_at(r["history"]) for r in runs]
    counted = statistics.median([f if f is not None else len(r["history"]) for f, r in zip(first, runs,
                                                                                           strict=False)])
    unbounded = statistics.median([f if f is not None else math.inf for f in first])
    return {"seeds": [r["seed"] for r in runs], "first_epoch_at_target": first, "epochs_to_target": counted,
            "exact": counted == unbounded}


def reference_yardstick(folder: str | Path = "results") -> dict | None:
    """The public reference trained here with its own recipe (`make results MODELS=reference`), the yardstick
    bench.py divides by: median_epochs_to_target, and per seed its last and best epochs and the first epoch
    from which it holds ≥ model.TARGET; `lower_bound`: True when a seed that never got there moves the median,
    so a speed-up over it is at least what it says. None without results files."""
    runs = load_runs("reference", folder)
    if not runs:
        return None
    y = median_epochs_to_target(runs)
    return {**y, "final_test_acc": [r["final_test_acc"] for r in runs],
            "best_test_acc": [max(row["test_acc"] for row in r["history"]) for r in runs],
            "first_epoch_holding": [first_epoch_holding(r["history"]) for r in runs],
            "lower_bound": not y["exact"]}


def print_reference(folder: str | Path = "results") -> None:
    """The measured yardstick, seed by seed."""
    y = reference_yardstick(folder)
    if y is None:
        print('no reference runs yet: make results MODELS=reference SEEDS="0 1 2 3 4"')
        return
    for seed, acc, best, first, holds in zip(y["seeds"], y["final_test_acc"], y["best_test_acc"],
                                             y["first_epoch_at_target"], y["first_epoch_holding"],
                                             strict=False):
        print(f"reference seed {seed}: last epoch {acc:.2f} %, best {best:.2f} %, first epoch >= "
              f"{model.TARGET} %: {first or 'never'}, holds from: {holds or 'never'}")
    never = y["first_epoch_at_target"].count(None)
    if y["lower_bound"]:
        note = " (a lower bound: the seeds that never got there move it, so speed-ups over it are too)"
    elif never:
        note = f" (the same whatever the {never} seed(s) that never got there would have needed)"
    else:
        note = ""
    print(f"median epochs to {model.TARGET} % over {len(y['seeds'])} seeds: {y['epochs_to_target']:g}{note}")


def iteration_summaries(folder: str | Path = "results") -> dict[str, dict]:
    """{iteration: model_summary over SEEDS + changed, target, figures (what its Target is judged by) and
    `versus`: {figure: comparison with the iteration before}, for the last-epoch test accuracy and the
    Target's figures}. Iterations without results files are left out."""
    summaries, before = {}, None
    for name, (changed, target, figures) in ITERATIONS.items():
        runs = load_runs(name, folder, SEEDS)
        if not runs:
            continue
        s = {**model_summary(runs), "changed": changed, "target": target, "figures": figures}
        s["versus"] = {figure: comparison(before, name, figure, folder)
                       for figure in dict.fromkeys(("final_test_acc", *figures))} if before else {}
        summaries[name], before = s, name
    return summaries


def ablation_summaries(rows: dict[str, str], folder: str | Path = "results") -> dict[str, dict]:
    """{row: what it takes away, model_summary and seed_stats of its last-epoch test accuracy over SEEDS, and
    `keep`: keep_decision (its two comparisons with the final model)}, for each row of `rows` (ABLATIONS or
    SCHEDULE_CONTROLS) with results."""
    summaries = {}
    for name, change in rows.items():
        runs = load_runs(name, folder, SEEDS)
        if runs:
            summaries[name] = {"change": change, **model_summary(runs),
                               **seed_stats([r["final_test_acc"] for r in runs]),
                               "keep": keep_decision(name, folder)}
    return summaries


def ablation_table(summaries: dict[str, dict], folder: str | Path = "results") -> str:
    """One row per ablation or control: what it takes away, last-epoch test accuracy over seeds, the epoch
    from which 99.4 % holds, the two comparisons with the recipe it is taken from (the final model's, or
    BASE's) and what the rule keeps."""
    base = _base(summaries)
    final = model_summary(load_runs(base, folder, SEEDS))
    acc = seed_stats(final["final_test_acc"])
    rows = [[f"{base} (nothing taken away)", f"{final['params']:,}", acc["n"],
             f"{acc['mean']:.2f} ± {acc['sd']:.2f}", f"{acc['min']:.2f}–{acc['max']:.2f}",
             _holding(final["first_epoch_holding"]), "–", "–", "–"]]
    for name, s in summaries.items():
        k = s["keep"]
        rows.append([f"{name}: {s['change']}", f"{s['params']:,}", s["n"], f"{s['mean']:.2f} ± {s['sd']:.2f}",
                     f"{s['min']:.2f}–{s['max']:.2f}", _holding(s["first_epoch_holding"]),
                     verdict_text(k["accuracy"]), verdict_text(k["holds_from"]),
                     ("kept: " + "; ".join(k["reasons"])) if k["keep"] else tie_label(k)])
    return markdown_table(["row", "params", "seeds", "test % mean ± sd", "min–max",
                           f"holds ≥ {model.TARGET} % from epoch", f"last-epoch test vs {base}",
                           f"holds-from epoch vs {base}", "the rule"], rows)


def _base(summaries: dict[str, dict]) -> str:
    """The one recipe every row of an ablation table is taken from."""
    bases = {BASE.get(name, model.DEFAULT_MODEL) for name in summaries}
    if len(bases) > 1:
        raise ValueError(f"one table, one recipe to compare with: these rows have {sorted(bases)}")
    return bases.pop() if bases else model.DEFAULT_MODEL


def _holding(epochs: list[int | None]) -> str:
    """First epochs from which test accuracy holds the target, and on how many seeds it does at all."""
    return f"{_range(epochs)} ({sum(e is not None for e in epochs)} of {len(epochs)})"


def _final_params() -> int:
    return utils.count_params(model.MODELS[model.DEFAULT_MODEL]())


def plot_ablations(summaries: dict[str, dict], title: str, save: str | Path | None = None,
                   folder: str | Path = "results"):
    """Each row's last-epoch test accuracy minus that of the recipe it is taken from (the final model's, or
    BASE's), seed by seed (dots) and the comparison's difference ± BAR standard errors (bar); rows whose runs
    did not train are named in the title rather than squashing the axis."""
    import matplotlib.pyplot as plt

    base = _base(summaries)
    final = {r["seed"]: r["final_test_acc"] for r in load_runs(base, folder, SEEDS)}
    trained = {n: s for n, s in summaries.items() if s["min"] > 90}
    failed = [f"{n} (a seed at {s['min']:.2f} %)" for n, s in summaries.items() if n not in trained]
    fig, ax = plt.subplots(figsize=(9, 1.2 + 0.45 * max(len(trained), 1)))
    for i, s in enumerate(trained.values()):
        diffs = [a - final[seed] for seed, a in zip(s["seeds"], s["final_test_acc"], strict=True)]
        c = s["keep"]["accuracy"]
        ax.scatter(diffs, [i] * len(diffs), s=14, color="tab:blue", alpha=0.6)
        ax.errorbar(c["diff"], i, xerr=BAR * c["se"], fmt="k|", ms=14, mew=2, capsize=4)
    ax.axvline(0, color="grey", lw=1)
    ax.set(yticks=range(len(trained)), yticklabels=list(trained),
           xlabel=f"last-epoch test accuracy minus {base}'s (points); bar: mean ± {BAR:g} SE")
    ax.set_title(title + (f"\nnot drawn, a seed did not train: {', '.join(failed)}" if failed else ""),
                 fontsize=10)
    ax.invert_yaxis()
    ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    plots.save_figure(fig, save)
    plt.show()


def average_comparison(folder: str | Path = "results", seeds=None,
                       name: str = model.DEFAULT_MODEL) -> dict:
    """One model's runs (the final model's by default) evaluated three ways at every epoch, over `seeds`: the
    averaged weights with BatchNorm statistics recomputed for them (what fit reports), the averaged weights
    with the averaged statistics (what it reported before), and the raw weights. {column: {epochs: [mean per
    epoch], final: seed_stats of the last epoch, final_test_acc and holds_from: per seed, as the rule compares
    them, holding: first epoch holding ≥ TARGET per seed (None: never), min_last3}}."""
    runs = load_runs(name, folder, SEEDS if seeds is None else seeds)
    out = {}
    for key in ("test_acc", "test_acc_avg_buffers", "test_acc_raw"):
        if not runs or key not in runs[0]["history"][-1]:
            continue
        per_epoch = list(zip(*[[row[key] for row in r["history"]] for r in runs], strict=False))
        out[key] = {"epochs": [sum(e) / len(e) for e in per_epoch],
                    "final": seed_stats([r["history"][-1][key] for r in runs]),
                    "final_test_acc": [r["history"][-1][key] for r in runs],
                    "holds_from": [holds_from(r["history"], key) for r in runs],
                    "holding": [first_epoch_holding(r["history"], key) for r in runs],
                    "min_last3": min(row[key] for r in runs for row in r["history"][-3:])}
    return out


def print_average_comparison(folder: str | Path = "results") -> None:
    """The weight average evaluated both ways, and the raw weights, per epoch (mean over SEEDS)."""
    c = average_comparison(folder)
    if len(c) < 3:
        print("no final runs with both evaluations yet: make results MODELS=final")
        return
    labels = {"test_acc": "average, BN statistics recomputed", "test_acc_avg_buffers": "average, averaged BN "
              "statistics", "test_acc_raw": "raw weights (no average)"}
    epochs = len(c["test_acc"]["epochs"])
    print(f"test accuracy, mean over seeds {' '.join(map(str, SEEDS))}, per epoch:")
    print(f"  {'epoch':<36}" + "".join(f"{e:>7}" for e in range(1, epochs + 1)))
    for key, label in labels.items():
        print(f"  {label:<36}" + "".join(f"{a:7.2f}" for a in c[key]["epochs"]))
    for key, label in labels.items():
        f = c[key]["final"]
        print(f"  last epoch, {label}: {f['mean']:.2f} ± {f['sd']:.2f} ({f['min']:.2f}–{f['max']:.2f}); "
              f"holds ≥ {model.TARGET} % from epoch {_range(c[key]['holding'])} "
              f"({sum(e is not None for e in c[key]['holding'])} of {len(c[key]['holding'])} seeds); "
              f"lowest of the last 3 epochs {c[key]['min_last3']:.2f}")
    for figure in ("final_test_acc", "holds_from"):
        v = paired_verdict(figure, *(c[key][figure] for key in ("test_acc_avg_buffers", "test_acc")))
        print(f"  {FIGURES[figure][3]}, recomputed minus averaged statistics: {verdict_text(v)}")


def plot_curves(name: str, history: list[dict], title: str = "", folder: str | Path = "results",
                save: str | Path | None = None) -> None:
    """The live run's curves with the seeds' mean ± sd bands from results/ behind them."""
    runs = load_runs(name, folder, SEEDS)
    plots.plot_history(history, title=title or name, save=save,
                       seed_runs=[r["history"] for r in runs] or None)


def plot_iteration_curves(summaries: dict[str, dict] | None = None, folder: str | Path = "results"):
    """Every iteration's test accuracy per epoch, the mean over its seeds, on one axis."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4))
    lowest = []
    for name in summaries or ITERATIONS:
        runs = load_runs(name, folder, SEEDS)
        if not runs:
            continue
        per_epoch = list(zip(*[[row["test_acc"] for row in r["history"]] for r in runs], strict=False))
        means = [sum(e) / len(e) for e in per_epoch]
        lowest.append(min(means))
        ax.plot(range(1, len(means) + 1), means, "-o", ms=3, label=f"{name} ({len(runs)} seeds)")
    ax.axhline(model.TARGET, color="grey", ls="--", lw=1, label=f"{model.TARGET}% target")
    ax.set(xlabel="epoch", ylabel="test accuracy (%), mean over seeds", ylim=(min(lowest) - 0.1, 99.7),
           title="Every iteration's test accuracy per epoch")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    fig.tight_layout()
    plt.show()


def print_heldout(folder: str | Path = "results") -> None:
    """The final model on the fresh seeds: each seed's last epoch, averaged weights and raw, and the epoch
    from which 99.4 % holds."""
    runs = load_runs(model.DEFAULT_MODEL, folder, HELDOUT_SEEDS)
    if not runs:
        seeds = " ".join(map(str, HELDOUT_SEEDS))
        print(f'no runs on the fresh seeds yet: make results MODELS=final SEEDS="{seeds}"')
        return
    print(f"final on the fresh seeds {_span(HELDOUT_SEEDS)}, last epoch (correct of 10,000) and the epoch "
          f"from which ≥ {model.TARGET} % holds:")
    for r in runs:
        last = r["history"][-1]
        raw = last.get("test_acc_raw")
        holds, holds_raw = (first_epoch_holding(r["history"], key) for key in ("test_acc", "test_acc_raw"))
        print(f"  seed {r['seed']}: averaged weights {last['test_acc']:.2f} % "
              f"({round(last['test_acc'] * 100):,}), holds from epoch {holds}; "
              + (f"raw weights {raw:.2f} %, holds from epoch {holds_raw}" if raw is not None
                 else "no raw weights recorded"))
    acc = seed_stats([r["final_test_acc"] for r in runs])
    print(f"  averaged weights: mean {acc['mean']:.2f} ± sd {acc['sd']:.2f}, min {acc['min']:.2f}, "
          f"max {acc['max']:.2f}")


def print_tracks(tracks: dict[str, dict]) -> None:
    """Each track's goal on the fresh seeds, met or not, and which of its lines it missed."""
    for name, s in tracks.items():
        print(f"{name:9s} {'met' if s['met'] else 'NOT MET':8s} {s['goal']}\n"
              f"{'':18s} min {s['min']:.2f}, mean {s['mean']:.2f}, max {s['max']:.2f} over seeds "
              f"{' '.join(map(str, s['seeds']))}"
              + (f"; lowest of the last 3 epochs {s['min_last3']:.2f}" if s["epochs"] > 3 else "")
              + (f"; {s['bench']['sprint_speedup']:.1f}× the reference (bench)"
                 if name == "sprint" and s["bench"] else "")
              + (f"\n{'':18s} missed: {'; '.join(s['misses'])}" if s["misses"] else ""))


def _range(values: list) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "–"
    return f"{min(values)}" if min(values) == max(values) else f"{min(values)}–{max(values)}"


def markdown_table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def iterations_table(summaries: dict[str, dict]) -> str:
    """One row per iteration: what changed, params, last-epoch test accuracy over seeds, clean train and
    epoch-1 test accuracy, the epoch from which 99.4 % holds, s/epoch, and its comparisons with the one before
    (the last epoch, and the figures its Target names)."""
    rows = []
    for name, s in summaries.items():
        acc = seed_stats(s["final_test_acc"])
        versus = "; ".join(f"{FIGURES[figure][3]} {verdict_text(c)}" for figure, c in s["versus"].items())
        rows.append([name, s["changed"], s["target"], f"{s['params']:,}", acc["n"],
                     f"{acc['mean']:.2f} ± {acc['sd']:.2f}", f"{acc['min']:.2f}–{acc['max']:.2f}",
                     f"{seed_stats(s['train_eval_acc'])['mean']:.2f}",
                     f"{seed_stats(s['epoch1_test_acc'])['mean']:.2f}", _holding(s["first_epoch_holding"]),
                     f"{s['seconds_per_epoch']:.1f}", versus or "–"])
    return markdown_table(
        ["iteration", "changed", "target", "params", "seeds", "test % mean ± sd", "min–max", "clean train %",
         "epoch-1 test %", f"holds ≥ {model.TARGET} % from epoch", "s/epoch", "vs the one before"], rows)


def goal_summary(goal: str, runs: list[dict], folder: str | Path = "results") -> dict:
    """model_summary of `runs` + seed_stats of their final test accuracy + `goal` (what TRACK_GOALS[goal]
    asks), `bench` (folder's bench.json, None without one: sprint's goal needs its speed), `misses` (the
    goal's lines these runs fail, goal_misses) and `met` (none missed)."""
    bench_path = Path(folder) / "bench.json"
    s = {**model_summary(runs), **seed_stats([r["final_test_acc"] for r in runs]),
         "goal": goal_text(goal), "bench": utils.read_json(bench_path) if bench_path.exists() else None}
    misses = goal_misses(goal, s)
    return {**s, "misses": misses, "met": not misses}


def goal_text(goal: str) -> str:
    """What TRACK_GOALS[goal] asks, in one line."""
    return ", ".join(line for line, _ in TRACK_GOALS[goal])


def goal_misses(goal: str, s: dict) -> list[str]:
    """The lines of TRACK_GOALS[goal] that summary `s` fails: none, and the goal is met."""
    return [line for line, check in TRACK_GOALS[goal] if not check(s)]


def _met_cell(s: dict) -> str:  # a table's verdict: which lines missed, where the goal is not met
    return "met" if s["met"] else "**not met**: " + "; ".join(s["misses"])


def track_summaries(folder: str | Path = "results") -> dict[str, dict]:
    """{goal: goal_summary over the fresh seeds of the recipe reported for it (TRACK_MODEL)}, for the final
    model and each goal beyond it; those without results there are left out."""
    runs = {name: load_runs(TRACK_MODEL.get(name, name), folder, HELDOUT_SEEDS) for name in TRACK_GOALS}
    return {name: goal_summary(name, r, folder) for name, r in runs.items() if r}


def _track_label(name: str) -> str:  # the goal, and the recipe reported for it where that has its own name
    chosen = TRACK_MODEL.get(name, name)
    return name if chosen == name else f"{name} (`{chosen}`)"


def _trials_label(name: str) -> str:
    return f"seeds {_span(SEEDS)}: " + ", ".join(f"`{c}`" for c in TRACK_TRIALS[name])


def trial_summaries(folder: str | Path = "results") -> dict[str, dict]:
    """{candidate: goal_summary over the learning log's seeds, with `track` (the goal it is tried for)}, for
    every TRACK_TRIALS candidate with runs on all of SEEDS (one still running is left out)."""
    return {name: {**goal_summary(track, load_runs(name, folder, SEEDS), folder), "track": track}
            for track, candidates in TRACK_TRIALS.items() for name in candidates
            if len(seeds_landed(name, folder)) == len(SEEDS)}


def track_choice(goal: str, folder: str | Path = "results") -> dict:
    """TRACK_MODEL's rule for a goal with two candidates, on their runs on SEEDS: how many seeds meet the goal
    with each, each seed's lowest of its last 3 epochs compared seed by seed (second minus first), and the
    candidate chosen."""
    first, second = TRACK_TRIALS[goal]
    runs = {name: load_runs(name, folder, SEEDS) for name in (first, second)}
    lowest = {name: [min(row["test_acc"] for row in r["history"][-3:]) for r in runs[name]] for name in runs}
    meeting = {name: sum(goal_summary(goal, [r], folder)["met"] for r in runs[name]) for name in runs}
    lowest_last3 = paired_verdict("final_test_acc", lowest[first], lowest[second])
    if meeting[first] != meeting[second]:
        chosen = max(meeting, key=meeting.get)
    else:
        chosen = second if lowest_last3["verdict"] == "higher" else first
    return {"meeting": meeting, "lowest_last3": lowest_last3, "chosen": chosen}


def track_choice_text(goal: str, folder: str | Path = "results") -> str:
    """TRACK_MODEL's rule for `goal`, as track_choice computes it, in one line."""
    first, second = TRACK_TRIALS[goal]
    c = track_choice(goal, folder)
    return (f"{goal}: seeds {_span(SEEDS)} meeting the goal: {first} {c['meeting'][first]}, "
            f"{second} {c['meeting'][second]}; each seed's lowest of the last 3 epochs, {second} minus "
            f"{first}: {verdict_text(c['lowest_last3'])}; chosen: {c['chosen']}")


def trials_table(summaries: dict[str, dict]) -> str:
    """One row per candidate on the learning log's seeds: tracks_table's figures, without its goal and seed
    columns."""
    rows = [[f"{s['track']}: `{name}`", f"{s['params']:,}", s["epochs"], _span(s["seeds"]), f"{s['min']:.2f}",
             f"{s['mean']:.2f} ± {s['sd']:.2f}", f"{s['max']:.2f}",
             f"{s['min_last3']:.2f}" if s["epochs"] > 3 else "–", f"{s['seconds_per_epoch']:.1f}",
             _met_cell(s)] for name, s in summaries.items()]
    return markdown_table(["goal: candidate", "params", "epochs", "seeds", "min", "mean ± sd", "max",
                           "min, last 3 epochs", "s/epoch", "its goal on these seeds"], rows)


def tracks_table(summaries: dict[str, dict]) -> str:
    """One row per track: its size, what its recipe was chosen on and the fresh seeds it reports,
    final-epoch test accuracy over those (and the lowest of the last three epochs), s/epoch, and its goal, met
    or not."""
    rows = [[_track_label(name), f"{s['params']:,}", s["epochs"], _trials_label(name),
             " ".join(map(str, s["seeds"])),
             f"{s['min']:.2f}", f"{s['mean']:.2f} ± {s['sd']:.2f}", f"{s['max']:.2f}",
             f"{s['min_last3']:.2f}" if s["epochs"] > 3 else "–",  # 3 epochs or fewer: not a last few
             f"{s['seconds_per_epoch']:.1f}", s["goal"], _met_cell(s)]
            for name, s in summaries.items()]
    return markdown_table(["model", "params", "epochs", "chosen on", "reported on seeds", "min",
                           "mean ± sd", "max", "min, last 3 epochs", "s/epoch", "goal", ""], rows)


def bench_table(figures: dict) -> str:
    """bench.py's headline figures (None: never reached 99.4 %)."""
    def fmt(key, v):  # accuracies to the hundredth, as everywhere: 99.36 is not 99.4
        if v is None:
            return "not reached"
        return f"{v:.2f}" if key.endswith("_acc") else f"{v:.1f}" if isinstance(v, float) else str(v)
    rows = [[label, fmt(key, figures.get(key))] for key, label in BENCH_ROWS.items()]
    return markdown_table(["figure", "value"], rows)


def print_speed_goals(figures: dict) -> None:
    """Each speed goal against one bench.json: the ratio, met or not, and whether a median moved by seeds that
    never reached 99.4 % bounds it: the reference's ("at least") or ours ("at most")."""
    for key, (goal, what) in SPEED_GOALS.items():
        ratio = figures.get(key)
        if ratio is None:
            print(f"{key:16s} NOT MET   goal {goal}x: never reached {model.TARGET} % ({what})")
            continue
        bounds = {"at least": figures.get("reference_lower_bound") and key != "throughput_ratio",
                  "at most": figures.get("speedup_upper_bound") and key == "speedup"}
        said = " and ".join(word for word, applies in bounds.items() if applies)
        print(f"{key:16s} {'met' if ratio >= goal else 'NOT MET':9s} goal {goal}x: "
              f"{said + ' ' if said else ''}{ratio:.2f}x ({what})")


def plot_iterations(summaries: dict[str, dict], save: str | Path | None = None):
    """Final-epoch test accuracy of each iteration over seeds: every seed (dots) and mean ± sd (bar)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 3.6))
    for i, s in enumerate(summaries.values()):
        accs = s["final_test_acc"]
        stats = seed_stats(accs)
        mean, sd = stats["mean"], stats["sd"]
        ax.scatter([i] * len(accs), accs, s=14, color="tab:blue", alpha=0.5)
        ax.errorbar(i, mean, yerr=sd, fmt="k_", ms=18, mew=2, capsize=4)
    ax.axhline(model.TARGET, color="tab:red", ls="--", lw=1, label=f"{model.TARGET}% target")
    n = sorted({len(s["final_test_acc"]) for s in summaries.values()})
    ax.set(xticks=range(len(summaries)), xticklabels=list(summaries), ylabel="final-epoch test accuracy (%)",
           title=f"Each iteration over {'/'.join(map(str, n))} seeds: dots are seeds, bars mean ± sd")
    ax.legend(loc="lower right")
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    plots.save_figure(fig, save)
    plt.show()


# Public results we measure ourselves against, for the parameters plot: not our runs, but what others reported
# in the file named by "source" (one run each, MNIST's test set doubling as validation). test_acc is the last
# epoch, as for our own points; best_acc the best epoch, which is what their READMEs headline.
PUBLIC_RESULTS = [
    {"params": 4_838, "epochs": 12, "test_acc": 99.41, "best_acc": 99.42,
     "source": "github.com/adilsammar/woolly-of-cv, assets/mnist/docs/MNIST.md (training log)"},
    {"params": 15_794, "epochs": 20, "test_acc": 99.59, "best_acc": 99.59,
     "source": "github.com/divya-r-kamat/EfficientMnist-Under20K, README.md (its Iter4 notebook, epoch 20)"},
    {"params": 19_898, "epochs": 19, "test_acc": 99.21, "best_acc": 99.54,
     "source": "github.com/pradeep6kumar/mnist_994, model_test_results_20241128_192148.txt and README.md"},
]


def public_result_notes() -> list[str]:
    """One line per public point, numbered as the plot marks them: what it is and where it was reported."""
    return [f"[{i}] {r['params']:,} params, {r['epochs']} epochs: last epoch {r['test_acc']:.2f} %, best "
            f"{r['best_acc']:.2f} %; {r['source']}" for i, r in enumerate(PUBLIC_RESULTS, 1)]


def plot_accuracy_vs_params(models: dict[str, dict], save: str | Path | None = None, show: bool = True):
    """Final-epoch test accuracy of every seed (dots) and its mean (bar) against parameters, for our models
    {name: {params, final_test_acc: [one per seed]}}, next to the public results in PUBLIC_RESULTS."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4))
    for name, m in models.items():  # final and sprint share a net: the legend tells their colours apart
        accs = m["final_test_acc"]
        dots = ax.scatter([m["params"]] * len(accs), accs, s=18, alpha=0.6,
                          label=f"{name}: {m['params']:,} params, {m['epochs']} epochs, {len(accs)} seeds")
        ax.plot(m["params"], sum(accs) / len(accs), "_", color=dots.get_facecolor()[0][:3], ms=18, mew=2)
    for i, r in enumerate(PUBLIC_RESULTS, 1):  # numbered: the footnote under the plot says what and where
        ax.scatter(r["params"], r["test_acc"], marker="x", color="grey", s=40)
        ax.annotate(f"[{i}]", (r["params"], r["test_acc"]), textcoords="offset points", xytext=(5, 3),
                    fontsize=7, color="grey")
    ax.axhline(model.TARGET, color="tab:red", ls="--", lw=1)
    everything = ([a for m in models.values() for a in m["final_test_acc"]]
                  + [r["test_acc"] for r in PUBLIC_RESULTS])
    ax.set(xlabel="parameters", ylabel="final-epoch test accuracy (%)", xlim=(3_000, 21_000),
           ylim=(min(everything) - 0.06, max(everything) + 0.03),
           title="Ours on the reporting seeds (dots: seeds, bar: mean) and public results (×)")
    ax.legend(loc="lower left", fontsize=7)
    notes = ["× public results, one run each, as reported (not re-run here):", *public_result_notes()]
    fig.text(0.01, 0.01, "\n".join(notes), fontsize=6, color="grey", va="bottom")
    fig.tight_layout(rect=(0, 0.03 * len(notes), 1, 1))  # room for the footnote
    plots.save_figure(fig, save)
    if show:
        plt.show()
    else:
        plt.close(fig)


def readme_lesson(folder: str | Path = "results") -> str:
    """The README's first generated section: the checklist and the learning log, from the results files."""
    folder = Path(folder)
    runs = load_runs(model.DEFAULT_MODEL, folder, SEEDS)
    if not runs:
        raise ValueError(f"no {folder}/final_seed*.json: run `make results` first")
    checklist = markdown_table(["requirement", "shown by the network or results/", ""],
                               [[r, shown, "met" if met else "**not met**"] for r, shown, met in
                                requirements(folder)])
    return "\n\n".join([
        "**The assignment's checklist** (and the next assignment's 'consistently') for the final model "
        "(`report.print_checklist`; accuracies compared as counts of correct test digits):", checklist,
        f"**The learning log**, one change per iteration (7–10 bundle several), each on seeds {_span(SEEDS)} "
        f"(`make results`: "
        f"{runs[0]['device']}, {runs[0]['cpu']}, {runs[0]['threads']} thread per run). Test accuracy is the "
        "last epoch's; the last column compares each iteration with the one before, in the figures its "
        "target names (difference ± standard error; an effect past twice that, else within noise):",
        iterations_table(iteration_summaries(folder))])


def readme_evidence(folder: str | Path = "results") -> str:
    """The README's second generated section: the ablations, the schedule controls, the fresh seeds, the
    tracks beyond the assignment and the bench."""
    folder = Path(folder)
    parts = [
        f"**The final model, one part taken away at a time** (seeds {_span(SEEDS)}; the rule: a part stays "
        "when taking it away lowers the last epoch or delays the epoch 99.4 % holds from, past the bar, or "
        "when the assignment requires it; the parts that tie, taken away together, last):",
        ablation_table(ablation_summaries({**ABLATIONS, **TOGETHER}, folder), folder),
        "**The schedule, taken apart** (the final recipe with one or both of OneCycle's two changes "
        "undone):", ablation_table(ablation_summaries(SCHEDULE_CONTROLS, folder), folder),
        "**The two parts the rule dropped** (iteration 10), each taken away from the recipe before it "
        "(iteration 9, `average`):", ablation_table(ablation_summaries(DROPPED, folder), folder)]
    trials = trial_summaries(folder)
    if trials:
        parts += [f"**Each goal's candidates, on seeds {_span(SEEDS)}** (`report.TRACK_TRIALS`; the one "
                  "reported on the fresh seeds is chosen here, before it runs there):", trials_table(trials)]
        parts += [f"Chosen by the rule at `report.TRACK_MODEL`: {track_choice_text(goal, folder)}."
                  for goal, candidates in TRACK_TRIALS.items()
                  if len(candidates) == 2 and all(name in trials for name in candidates)]
        parts += [f"Read by the rule at `report.reading_decision`: {reading_text(name, folder)}."
                  for name in READ_BY_RULE if name in trials]
    tracks = track_summaries(folder)
    if tracks:
        parts += [f"**The goals, on fresh seeds** ({_span(HELDOUT_SEEDS)}, fixed before looking):",
                  tracks_table(tracks)]
    else:
        parts += [f"**The goals, on fresh seeds** ({_span(HELDOUT_SEEDS)}): not run yet "
                  f'(`make results MODELS=final SEEDS="{" ".join(map(str, HELDOUT_SEEDS))}"`).']
    if (folder / "bench.json").exists():
        bench = utils.read_json(folder / "bench.json")
        parts += [f"**Speed** (`make bench BENCH_JSON=results/bench.json`, one run on {bench['device']}, "
                  f"{bench['threads']} threads):", bench_table(bench)]
    return "\n\n".join(parts)


README_SECTIONS = {  # marker → what writes the text between it and its end marker
    "lesson": readme_lesson,
    "evidence": readme_evidence,
}


def readme_markers(section: str) -> tuple[str, str]:
    return (f"<!-- {section}:start (written by `make readme` from results/) -->", f"<!-- {section}:end -->")


def write_readme(readme: str | Path = "README.md", folder: str | Path = "results",
                 plot: str | Path | None = "images/accuracy_vs_params.png") -> None:
    """Rewrite the README's generated sections and the accuracy-vs-parameters plot from the results files."""
    tracks = track_summaries(folder)
    if plot and tracks:
        plot_accuracy_vs_params(tracks, save=plot, show=False)
    readme = Path(readme)
    text = readme.read_text()
    for section, write in README_SECTIONS.items():
        start, end = readme_markers(section)
        head, rest = text.split(start, 1)
        _, tail = rest.split(end, 1)
        text = f"{head}{start}\n{write(folder)}\n{end}{tail}"
    readme.write_text(text)


def main(argv=None) -> int:
    """The command line: parsed before anything is written, so that --help (or a typo) changes nothing."""
    from cli import Parser
    Parser(prog="report.py", description=__doc__.split("\n")[0]).parse_args(argv)
    try:
        for path in ("README.md", "images/accuracy_vs_params.png"):
            utils.check_output(path)
        write_readme()
    except (ValueError, FileNotFoundError, IndexError) as error:
        sys.exit(f"report.py: error: {error}")
    print("README.md results section and images/accuracy_vs_params.png rewritten from results/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
