"""Results files → the tables the notebook and the README show, and the README's results section.

    python report.py            # rewrite README.md's results section and images/accuracy_vs_params.png
                                # (`make readme`; after `make results` or `make bench`)

Every figure comes from `results/`: `<model>_seed<N>.json` written by `train.py --results` (`make results`),
`bench.json` by `bench.py --json` (`make bench`). A difference between two iterations is called an effect when
their means differ by more than twice its standard error over seeds; otherwise it is within seed noise.
"""
from __future__ import annotations

import math
import sys
from dataclasses import asdict
from pathlib import Path

import model
import utils

# The learning log: each iteration, what it changes against the one before, and what we expect of it.
ITERATIONS = {
    "baseline": ("conv → ReLU, 7×7 conv classifier, SGD 0.02", "a yardstick"),
    "batchnorm": ("+ BatchNorm after every conv", "learn faster, higher"),
    "dropout": ("+ dropout 0.05 after each pool and the last conv", "a smaller train–test gap"),
    "gap": ("7×7 conv classifier → 1×1 conv + GAP", "most of the accuracy, under half the parameters"),
    "capacity": ("one 16-channel conv at 7×7 → three 24-channel ones", "higher, within 20k"),
    "augment": ("+ random rotation, shift and zoom", "higher test accuracy"),
    "onecycle": ("constant LR 0.02 → OneCycle, peak 0.1", "a high, stable last epoch"),
    "speed": ("GapNet → FastNet: the same parameters, fewer operations", "the same accuracy, less time"),
    "final": ("test a moving average of the weights", "99.4 % sooner"),
}
SEEDS = (0, 1, 2, 3, 4)                  # the learning log's seeds: every choice was made looking at them
HELDOUT_SEEDS = (100, 101, 102, 103, 104)  # seeds no choice looked at: every goal is judged here
# The final model and the tracks beyond the assignment: each goal, and its check on the held-out seeds'
# summary (model_summary + seed_stats of the final test accuracy).
TRACK_GOALS = {
    "final": (f"< 20,000 params, < 20 epochs, every seed ≥ {model.TARGET:.2f} %",
              lambda s: s["params"] < 20_000 and s["epochs"] < 20 and s["min"] >= model.TARGET),
    "tiny": (f"≤ 4,000 params, ≤ 15 epochs, every seed ≥ {model.TARGET:.2f} %",
             lambda s: s["params"] <= 4_000 and s["epochs"] <= 15 and s["min"] >= model.TARGET),
    "accurate": ("< 20,000 params, ≤ 19 epochs, mean ≥ 99.65 %, every seed ≥ 99.55 %",
                 lambda s: (s["params"] < 20_000 and s["epochs"] <= 19 and s["mean"] >= 99.65
                            and s["min"] >= 99.55)),
    "sprint": (f"< 20,000 params, ≤ 3 epochs, every seed ≥ {model.TARGET:.2f} %",
               lambda s: s["params"] < 20_000 and s["epochs"] <= 3 and s["min"] >= model.TARGET),
}
BENCH_ROWS = {  # bench.json key → what the README calls it
    "reference_time_to_target_s": "reference: 15 epochs × its measured s/epoch",
    "time_to_target_s": f"final: seconds to {model.TARGET} % (process start)",
    "speedup": "final: speedup (×)",
    "sprint_time_s": "sprint: seconds for its 3 epochs (process start)",
    "sprint_test_acc": "sprint: last-epoch test % (seed 0)",
    "sprint_speedup": "sprint: speedup (×)",
    "throughput_ratio": "images/s on the reference net, ours ÷ PIL (×)",
}
README_START = "<!-- results:start (written by `make readme` from results/) -->"
README_END = "<!-- results:end -->"


def load_runs(name: str, folder: str | Path = "results", seeds=None) -> list[dict]:
    """Every complete `train.py --results` file of one model in `folder` (of `seeds` only, if given), by seed.
    A file trained with another recipe or architecture than model.py has now is refused, never mixed in."""
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
    return sorted(runs, key=lambda r: r["seed"])


def seed_stats(values: list[float]) -> dict:
    """n, mean, sample standard deviation, min and max of one figure over seeds."""
    n = len(values)
    mean = sum(values) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
    return {"n": n, "mean": mean, "sd": sd, "min": min(values), "max": max(values)}


def compare(before: list[float], after: list[float]) -> dict:
    """How `after` differs from `before` over seeds: the difference of the means, its standard error, and
    "higher" / "lower" when the difference is more than twice its standard error, else "within noise"."""
    a, b = seed_stats(before), seed_stats(after)
    diff = b["mean"] - a["mean"]
    se = math.sqrt(a["sd"] ** 2 / a["n"] + b["sd"] ** 2 / b["n"])
    verdict = "within noise" if abs(diff) <= 2 * se else ("higher" if diff > 0 else "lower")
    return {"diff": diff, "se": se, "verdict": verdict}


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
        "seconds_per_epoch": sum(seconds) / len(seconds),
    }


def iteration_summaries(folder: str | Path = "results") -> dict[str, dict]:
    """{iteration: model_summary + changed, target, and `versus`, the comparison with the iteration before}.
    Iterations without results files are left out."""
    summaries, before = {}, None
    for name, (changed, target) in ITERATIONS.items():
        runs = load_runs(name, folder, SEEDS)
        if not runs:
            continue
        s = {**model_summary(runs), "changed": changed, "target": target}
        s["versus"] = compare(before["final_test_acc"], s["final_test_acc"]) if before else None
        summaries[name] = before = s
    return summaries


def print_seeds(name: str, folder: str | Path = "results") -> None:
    """Print an iteration's final test accuracy over the seeds of its results files and, when it has one, the
    comparison with the iteration before it."""
    summaries = iteration_summaries(folder)
    if name not in summaries:
        print(f"no results/{name}_seed*.json yet: run `make results MODELS={name}`")
        return
    s = summaries[name]
    acc = seed_stats(s["final_test_acc"])
    print(f"{name} over seeds {' '.join(map(str, s['seeds']))} (make results): final test accuracy "
          f"{' / '.join(f'{a:.2f}' for a in s['final_test_acc'])} %")
    print(f"  min {acc['min']:.2f}, max {acc['max']:.2f}; first epoch >= {model.TARGET} %: "
          f"{_range(s['first_epoch_at_target'])}; {s['seconds_per_epoch']:.1f} s per training epoch")
    previous = summaries[list(summaries)[list(summaries).index(name) - 1]] if s["versus"] else None
    figures = (("final test accuracy", "final_test_acc"), ("test accuracy after epoch 1", "epoch1_test_acc"),
               ("clean train - test gap", "gap"))
    for label, key in figures:
        stats = seed_stats(s[key])
        line = (f"  {label}: mean {stats['mean']:.2f} ± sd {stats['sd']:.2f} "
                f"({stats['min']:.2f}–{stats['max']:.2f})")
        if previous:
            v = compare(previous[key], s[key])
            line += (f"; vs the one before: {v['diff']:+.2f} ± {v['se']:.2f} (standard error) "
                     f"-> {v['verdict']}")
        print(line)


def print_versus(name: str, before: str, figure: str = "final_test_acc",
                 folder: str | Path = "results") -> None:
    """One figure of two iterations seed by seed, and the verdict on the difference of their means."""
    summaries = iteration_summaries(folder)
    a, b = summaries[before], summaries[name]
    print(f"{figure}, seed by seed ({' '.join(map(str, b['seeds']))}):")
    print(f"  {before:>9}: {' / '.join(f'{v:.2f}' if isinstance(v, float) else str(v) for v in a[figure])}")
    print(f"  {name:>9}: {' / '.join(f'{v:.2f}' if isinstance(v, float) else str(v) for v in b[figure])}")
    v = compare(a[figure], b[figure])
    print(f"  {name} - {before}: {v['diff']:+.2f} ± {v['se']:.2f} (standard error) -> {v['verdict']}")


def print_heldout(folder: str | Path = "results") -> None:
    """The final model on the held-out seeds, against the assignment's bar."""
    s = track_summaries(folder).get(model.DEFAULT_MODEL)
    if s is None:
        seeds = " ".join(map(str, HELDOUT_SEEDS))
        print(f'no held-out runs yet: make results MODELS=final SEEDS="{seeds}"')
        return
    print(f"final on held-out seeds {' '.join(map(str, s['seeds']))}: "
          f"{' / '.join(f'{a:.2f}' for a in s['final_test_acc'])} %")
    print(f"  mean {s['mean']:.2f} ± sd {s['sd']:.2f}, min {s['min']:.2f}, max {s['max']:.2f}; "
          f"every seed >= {model.TARGET} %: {s['min'] >= model.TARGET}")


def _range(values: list) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "–"
    return f"{min(values)}" if min(values) == max(values) else f"{min(values)}–{max(values)}"


def _verdict(versus: dict | None) -> str:
    if versus is None:
        return "–"
    return f"{versus['verdict']} ({versus['diff']:+.2f} ± {versus['se']:.2f})"


def markdown_table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def iterations_table(summaries: dict[str, dict]) -> str:
    """One row per iteration: what changed, params, epochs, final test accuracy over seeds, clean train
    accuracy, first epoch at 99.4 %, s/epoch, and the verdict against the iteration before."""
    rows = []
    for name, s in summaries.items():
        acc = seed_stats(s["final_test_acc"])
        train = f"{seed_stats(s['train_eval_acc'])['mean']:.2f}" if s["train_eval_acc"] else "–"
        rows.append([name, s["changed"], s["target"], f"{s['params']:,}", s["epochs"], acc["n"],
                     f"{acc['mean']:.2f} ± {acc['sd']:.2f}", f"{acc['min']:.2f}–{acc['max']:.2f}", train,
                     _range(s["first_epoch_at_target"]), f"{s['seconds_per_epoch']:.1f}",
                     _verdict(s["versus"])])
    return markdown_table(
        ["iteration", "changed", "target", "params", "epochs", "seeds", "test % mean ± sd", "min–max",
         "clean train %", f"first epoch ≥ {model.TARGET} %", "s/epoch", "vs the one before (± SE)"], rows)


def track_summaries(folder: str | Path = "results") -> dict[str, dict]:
    """{track: model_summary over the held-out seeds + seed_stats of its final test accuracy + `goal` (what
    TRACK_GOALS asks) and `met`}, for the final model and each track beyond it; those without results are
    left out."""
    summaries = {}
    for name, (goal, check) in TRACK_GOALS.items():
        runs = load_runs(name, folder, HELDOUT_SEEDS)
        if runs:
            s = {**model_summary(runs), **seed_stats([r["final_test_acc"] for r in runs]), "goal": goal}
            summaries[name] = {**s, "met": check(s)}
    return summaries


def tracks_table(summaries: dict[str, dict]) -> str:
    """One row per track: its size, the seeds its recipe was chosen on and the held-out seeds it reports,
    final-epoch test accuracy over those, s/epoch, and its goal, met or not."""
    chosen = f"{SEEDS[0]}–{SEEDS[-1]}"
    rows = [[name, f"{s['params']:,}", s["epochs"], chosen, " ".join(map(str, s["seeds"])), f"{s['min']:.2f}",
             f"{s['mean']:.2f} ± {s['sd']:.2f}", f"{s['max']:.2f}", f"{s['seconds_per_epoch']:.1f}",
             s["goal"], "met" if s["met"] else "**not met**"] for name, s in summaries.items()]
    return markdown_table(["model", "params", "epochs", "chosen on seeds", "reported on seeds", "min",
                           "mean ± sd", "max", "s/epoch", "goal", ""], rows)


def bench_table(figures: dict) -> str:
    """bench.py's headline figures (None: never reached 99.4 %)."""
    def fmt(key, v):  # accuracies to the hundredth, as everywhere: 99.36 is not 99.4
        if v is None:
            return "not reached"
        return f"{v:.2f}" if key.endswith("_acc") else f"{v:.1f}" if isinstance(v, float) else str(v)
    rows = [[label, fmt(key, figures.get(key))] for key, label in BENCH_ROWS.items()]
    return markdown_table(["figure", "value"], rows)


def plot_iterations(summaries: dict[str, dict], save: str | Path | None = None):
    """Final-epoch test accuracy of each iteration over seeds: every seed (dots) and mean ± sd (bar)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 3.6))
    for i, (name, s) in enumerate(summaries.items()):
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
    utils.save_figure(fig, save)
    plt.show()


# Public results we measure ourselves against (not our runs: what others reported), for the parameters plot.
PUBLIC_RESULTS = [
    {"label": "smallest public ≥ 99.4 % (mean of last 3 epochs, 1 seed)", "params": 6_260, "test_acc": 99.42},
    {"label": "best public run under 20k (1 seed, 20 epochs)", "params": 15_794, "test_acc": 99.59},
    {"label": "typical public solution (first ≥ 99.4 % at epoch 15)", "params": 19_114, "test_acc": 99.40},
]


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
    for r in PUBLIC_RESULTS:
        ax.scatter(r["params"], r["test_acc"], marker="x", color="grey", s=40)
        right_half = r["params"] > 12_000  # label towards the middle, above the point
        ax.annotate(r["label"], (r["params"], r["test_acc"]), textcoords="offset points",
                    xytext=(-7 if right_half else 7, 3), ha="right" if right_half else "left", fontsize=7,
                    color="grey")
    ax.axhline(model.TARGET, color="tab:red", ls="--", lw=1)
    everything = ([a for m in models.values() for a in m["final_test_acc"]]
                  + [r["test_acc"] for r in PUBLIC_RESULTS])
    ax.set(xlabel="parameters", ylabel="final-epoch test accuracy (%)", xlim=(3_000, 21_000),
           ylim=(min(everything) - 0.06, max(everything) + 0.03),
           title="Ours on the reporting seeds (dots: seeds, bar: mean) and public results (×)")
    ax.legend(loc="lower left", fontsize=7)
    fig.tight_layout()
    utils.save_figure(fig, save)
    if show:
        plt.show()
    else:
        plt.close(fig)


def readme_section(folder: str | Path = "results") -> str:
    """The README's results section, built from the results files alone."""
    folder = Path(folder)
    runs = load_runs("final", folder)
    if not runs:
        raise ValueError(f"no {folder}/final_seed*.json: run `make results` first")
    parts = [
        f"Measured on {runs[0]['device']} ({runs[0].get('threads', '?')} thread per run), `make results` "
        "(`results/<model>_seed<N>.json`); final-epoch test accuracy over seeds, ± the standard deviation. "
        "MNIST's test set doubles as the validation set.",
        "**The learning log**, one change per iteration; the last column compares each with the one before "
        "(difference of the means ± its standard error; an effect when larger than twice that):",
        iterations_table(iteration_summaries(folder)),
        "**The final model and the three tracks beyond the assignment**, on seeds no choice looked at:",
        tracks_table(track_summaries(folder)),
    ]
    if (folder / "bench.json").exists():
        bench = utils.read_json(folder / "bench.json")
        parts += [f"**Speed** (`make bench BENCH_JSON=results/bench.json`, one run on {bench['device']}, "
                  f"{bench['threads']} threads):", bench_table(bench)]
    return "\n\n".join(parts)


def write_readme(readme: str | Path = "README.md", folder: str | Path = "results",
                 plot: str | Path | None = "images/accuracy_vs_params.png") -> None:
    """Rewrite the README's results section and the accuracy-vs-parameters plot from the results files."""
    if plot:
        plot_accuracy_vs_params(track_summaries(folder), save=plot, show=False)
    readme = Path(readme)
    head, rest = readme.read_text().split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    readme.write_text(f"{head}{README_START}\n{readme_section(folder)}\n{README_END}{tail}")


if __name__ == "__main__":
    try:
        write_readme()
    except (ValueError, FileNotFoundError, IndexError) as error:
        sys.exit(f"report.py: error: {error}")
    print("README.md results section and images/accuracy_vs_params.png rewritten from results/")
