"""The notebook's hand-written prose, checked against its stored outputs and against results/.

The analysis is written by hand after a full run. These tests fail when a new run no longer supports it: a
number in the markdown that no output or results file holds, a step called an effect (or noise) that the seeds
now judge otherwise, or a lesson in "What we learned" that the seed table contradicts."""
import json
import re
import statistics

import pytest
from conftest import ROOT

import model
import report

NUMBER = re.compile(r"(?<![\w.])\d+(?:,\d{3})*(?:\.\d+)?")


def notebook() -> dict:
    return json.loads((ROOT / "S6_MNIST.ipynb").read_text())


def markdown_cells() -> list[str]:
    return ["".join(c["source"]) for c in notebook()["cells"] if c["cell_type"] == "markdown"]


def stored_outputs() -> str:
    parts = []
    for cell in notebook()["cells"]:
        if cell["cell_type"] != "code":
            continue
        parts.append("".join(cell["source"]))
        for output in cell.get("outputs", []):
            parts.append("".join(output.get("text", "")))
            for kind in ("text/plain", "text/markdown"):
                parts.append("".join(output.get("data", {}).get(kind, "")))
    return "\n".join(parts)


def results_figures() -> str:
    """Every number in results/*.json but the per-epoch histories, rounded as the notebook prints them."""
    figures = []

    def walk(value):
        if isinstance(value, dict):  # per-epoch histories left out: thousands of figures would match anything
            for key, v in value.items():
                if key != "history":
                    walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            figures.extend([str(value), f"{value:.2f}", f"{value:.1f}", f"{value:.0f}", f"{value:,.0f}"])

    for path in (ROOT / "results").glob("*.json"):
        walk(json.loads(path.read_text()))
    return " ".join(figures)


def iteration_sections() -> dict[str, list[str]]:
    """The markdown cells of each iteration (from its "## Iteration" heading to the next heading), by name."""
    sections, current = [], None
    for text in markdown_cells():
        if text.startswith("## "):
            current = [text] if text.startswith("## Iteration") else None
            if current is not None:
                sections.append(current)
        elif current is not None:
            current.append(text)
    assert len(sections) == len(report.ITERATIONS), "one section per iteration of report.ITERATIONS"
    return dict(zip(report.ITERATIONS, sections, strict=False))


def part(name: str, label: str) -> str:
    """The iteration's Target (in its heading cell), Result or Analysis text."""
    (text,) = [t for t in iteration_sections()[name] if f"**{label}.**" in t]
    return text.split(f"**{label}.**", 1)[1]


def analyses() -> dict[str, str]:
    return {name: part(name, "Analysis") for name in report.ITERATIONS}


@pytest.mark.parametrize("name", list(report.ITERATIONS))
def test_each_iteration_has_a_target_a_result_with_numbers_and_a_short_analysis(name):
    target, result, analysis = (part(name, label) for label in ("Target", "Result", "Analysis"))
    assert NUMBER.search(target), f"{name}: the Target states what we expect, with a number"
    params = f"{report.iteration_summaries(ROOT / 'results')[name]['params']:,}"
    assert params in result and "Seeds 0–4" in result and "Seed 0, live" in result, name
    assert word_count(analysis) <= 110, f"{name}: the Analysis is at most ~100 words"


@pytest.mark.parametrize("name", list(report.ITERATIONS))
def test_each_result_states_the_seeds_and_the_live_run_as_the_results_files_have_them(name):
    result = part(name, "Result")
    acc = report.seed_stats(report.iteration_summaries(ROOT / "results")[name]["final_test_acc"])
    assert f"test {acc['mean']:.2f} ± {acc['sd']:.2f} % ({acc['min']:.2f}–{acc['max']:.2f})" in result, name
    (live,) = [r for r in json.loads((ROOT / "results" / "notebook.json").read_text())["iterations"]
               if r["name"] == name]
    said = f"clean train {live['final_train_eval_acc']:.2f} %, test {live['final_test_acc']:.2f} %"
    assert said in result, f"{name}: the Result's seed-0 figures are not the stored run's ({said})"


def test_the_speed_result_quotes_the_stored_runs_seconds_per_epoch():
    live = {r["name"]: r for r in json.loads((ROOT / "results" / "notebook.json").read_text())["iterations"]}
    said = (f"Seconds per epoch in this run: {live['onecycle']['seconds_per_epoch']:.1f} → "
            f"{live['speed']['seconds_per_epoch']:.1f}")
    assert said in " ".join(part("speed", "Result").split()), f"the stored run says: {said}"


def word_count(text: str) -> int:
    """Words: runs of non-space holding a letter or a digit (a lone %, ≥ or = is not a word)."""
    return len(re.findall(r"\S*[^\W_]\S*", text))


def test_the_markdown_is_short_and_no_cell_is_a_wall_of_text():
    words = [word_count(text) for text in markdown_cells()]
    assert sum(words) < 3000 and max(words) <= 150, (sum(words), max(words))


def code_cells() -> list[str]:
    return ["".join(c["source"]) for c in notebook()["cells"] if c["cell_type"] == "code"]


def test_each_network_is_shown_once_where_it_first_appears_and_summarised_once():
    import model
    classes = list(dict.fromkeys(model.MODELS[name] for name in report.ITERATIONS))
    shown = [c for c in code_cells() if "inspect.getsource(type(net))" in c]
    assert len(shown) == len(classes), "one code listing per architecture of the learning log"
    names = [re.search(r'make_model\("(\w+)"', c).group(1) for c in shown]
    assert [model.MODELS[n] for n in names] == classes
    summaries = [c for c in code_cells() if "utils.summary(" in c]
    assert len(summaries) == len(classes) + 1, "one summary per architecture, and the final model's own"


@pytest.mark.parametrize("name", ["tiny", "accurate", "reference"])
def test_the_networks_beyond_the_assignment_are_shown_with_their_parameters(name):
    import model
    cls = model.MODELS[name]
    outputs = stored_outputs()
    assert f"class {cls.__name__}(nn.Module):" in outputs
    assert f"{name}: {sum(p.numel() for p in cls().parameters()):,} parameters" in outputs


@pytest.mark.parametrize("name", list(report.ITERATIONS))
def test_each_iterations_curves_are_drawn_with_their_seed_band(name):
    assert any(f'report.plot_curves("{name}", runs["{name}"]' in c for c in code_cells())


def test_every_number_in_the_markdown_is_in_an_output_or_a_results_file():
    haystack = " ".join([stored_outputs(), results_figures(), (ROOT / "model.py").read_text()])
    missing = set()
    for text in markdown_cells():
        text = re.sub(r"\]\([^)]*\)", "]", text)  # link targets are addresses, not figures
        for number in NUMBER.findall(text):
            if not re.search(rf"(?<![\d.]){re.escape(number)}(?![\d])", haystack):
                missing.add(number)
    assert not missing, f"numbers in the notebook's markdown that no output or results file holds: {missing}"


def test_the_notebook_holds_no_unwritten_analysis():
    assert not [t for t in markdown_cells() if "TODO" in t]


@pytest.mark.parametrize("name", list(report.ITERATIONS)[1:])
def test_each_analysis_calls_its_step_what_the_seeds_show(name):
    verdict = report.iteration_summaries(ROOT / "results")[name]["versus"]["verdict"]
    text = analyses()[name].lower()
    if verdict == "within noise":
        assert "within seed noise" in text, f"{name}: the seeds show no effect; the analysis must say so"
    else:
        assert "an effect" in text, f"{name}: the seeds show an effect ({verdict}); the analysis must say so"


def comparison(summaries: dict, name: str, figure: str, before: str | None = None) -> dict:
    """`figure` of iteration `name` against `before` (default: the iteration before it): diff, se, verdict."""
    names = list(summaries)
    before = before or names[names.index(name) - 1]
    return report.compare(summaries[before][figure], summaries[name][figure])


def versus(summaries: dict, name: str, figure: str, before: str | None = None) -> str:
    return comparison(summaries, name, figure, before)["verdict"]


def margin(summaries: dict, name: str, figure: str) -> float:
    """How many standard errors `figure` of iteration `name` moved from the iteration before it."""
    c = comparison(summaries, name, figure)
    return c["diff"] / c["se"]


def read(key: str, seeds=report.SEEDS) -> dict:
    """The final model's runs read one way (averaged weights with their own or the averaged BatchNorm
    statistics, or the raw weights): per-epoch means, last epochs and the epoch each seed holds 99.4 %
    from."""
    return report.average_comparison(ROOT / "results", seeds)[key]


def heldout() -> list[float]:
    """Final-epoch test accuracy of the final model on the seeds no choice looked at."""
    runs = report.load_runs(model.DEFAULT_MODEL, ROOT / "results", report.HELDOUT_SEEDS)
    return [r["final_test_acc"] for r in runs]


def ablation(name: str) -> dict:
    """One ablation or control row's summary, judged against the final model (paired where it can be)."""
    rows = {**report.ABLATIONS, **report.SCHEDULE_CONTROLS}
    return report.ablation_summaries({name: rows[name]}, ROOT / "results")[name]


def taken_away(name: str) -> str:
    return ablation(name)["versus"]["verdict"]


# Each lesson "What we learned" states: where it comes from (adding a part in the iterations, taking it away
# from the final model, both, or the held-out seeds) and what results/ must show for it to stand.
LESSONS = {
    "BatchNorm speeds up the first epoch; taken away, the final model loses accuracy and no seed reaches": (
        "Both", lambda s: (
            versus(s, "batchnorm", "epoch1_test_acc") == "higher" and taken_away("minus_batchnorm") == "lower"
            and ablation("minus_batchnorm")["max"] < model.TARGET)),
    "GAP alone costs accuracy; three convolutions after it only tie the 7×7 classifier, yet taken away": (
        "Both", lambda s: (
            versus(s, "gap", "final_test_acc") == "lower"
            and versus(s, "capacity", "final_test_acc", before="dropout") == "within noise"
            and taken_away("minus_capacity") == "lower"
            and min(report.ablation_summaries(report.ABLATIONS, ROOT / "results").values(),
                    key=lambda row: row["versus"]["diff"]) == ablation("minus_capacity"))),
    "Augmentation closes the train–test gap by lowering clean training accuracy; dropout narrows it,": (
        "Added", lambda s: (
            versus(s, "augment", "gap") == "lower" and abs(statistics.mean(s["augment"]["gap"])) < 0.1
            and versus(s, "augment", "train_eval_acc") == "lower"
            and versus(s, "augment", "final_test_acc") == "within noise"
            and 2 < -margin(s, "dropout", "gap") < 3)),
    "Dropout, augmentation, weight decay and Nesterov each leave the final accuracy within seed noise.": (
        "Taken away", lambda s: all(taken_away(name) == "within noise" for name in (
            "minus_dropout", "minus_augment", "minus_weight_decay", "minus_nesterov"))),
    "OneCycle is an effect where it is added; taken apart, only lowering its peak is one, and small.": (
        "Both", lambda s: (
            versus(s, "onecycle", "final_test_acc") == "higher" and taken_away("onecycle_low_peak") == "lower"
            and abs(ablation("onecycle_low_peak")["versus"]["diff"]) < 0.1
            and taken_away("onecycle_constant_lr") == taken_away("onecycle_fixed_momentum")
            == "within noise")),
    "The speed changes cost no detectable accuracy.": (
        "Added", lambda s: versus(s, "speed", "final_test_acc") == "within noise"),
    "The weight average holds 99.4 % from an earlier epoch, its BatchNorm statistics recomputed or": (
        "Both", lambda s: (
            max(read("test_acc")["holding"] + read("test_acc_avg_buffers")["holding"])
            < min(s["speed"]["first_epoch_holding"])
            and taken_away("minus_average") == "lower")),
    "The goal holds on unseen seeds, by hundredths; the raw weights miss on one.": (
        "Held out", lambda s: (
            len(heldout()) >= 5 and model.TARGET <= min(heldout()) < model.TARGET + 0.1
            and min(read("test_acc_raw", report.HELDOUT_SEEDS)["final_values"]) < model.TARGET)),
}


@pytest.mark.parametrize("lesson", list(LESSONS))
def test_each_lesson_says_where_it_comes_from_and_the_seeds_support_it(lesson):
    (learned,) = [t for t in markdown_cells() if t.startswith("## What we learned")]
    flat = " ".join(learned.split())
    direction, holds = LESSONS[lesson]
    assert f"- **{direction}:** {lesson}" in flat, "the lesson's words or direction changed: update LESSONS"
    assert holds(report.iteration_summaries(ROOT / "results")), f"the seeds no longer show: {lesson}"


def test_every_lesson_in_the_notebook_has_its_check():
    (learned,) = [t for t in markdown_cells() if t.startswith("## What we learned")]
    bullets = [" ".join(b.split()) for b in " ".join(learned.split("\n")).split("- **")[1:]]
    assert len(bullets) == len(LESSONS), "a lesson without its check in LESSONS (or a check without a lesson)"


def test_the_assignment_holds_on_every_held_out_seed_of_the_final_model():
    final = report.track_summaries(ROOT / "results")[model.DEFAULT_MODEL]
    assert final["seeds"] == list(report.HELDOUT_SEEDS), "the goal is judged on seeds no choice looked at"
    assert final["min"] >= model.TARGET and final["epochs"] < 20 and final["params"] < 20_000, final


@pytest.mark.parametrize("name", [n for n in report.TRACK_GOALS if n != model.DEFAULT_MODEL])
def test_the_beyond_analysis_says_whether_each_track_met_its_goal(name):
    (text,) = [t for t in markdown_cells() if t.startswith("**What the reporting seeds say.**")]
    met = report.track_summaries(ROOT / "results")[name]["met"]
    says = f"`{name}` meets its goal" if met else f"`{name}` misses its goal"
    assert says in text, f"the reporting seeds say {name}'s goal is {'met' if met else 'not met'}"


def test_the_beyond_analysis_cites_the_measured_yardstick_and_the_bench_that_used_it():
    (text,) = [t for t in markdown_cells() if t.startswith("**What the reporting seeds say.**")]
    text = " ".join(text.split())
    yardstick = report.reference_yardstick(ROOT / "results")
    bench = json.loads((ROOT / "results" / "bench.json").read_text())
    assert bench["reference_epochs_to_target"] == yardstick["epochs_to_target"], "re-run make bench"
    assert f"median {yardstick['epochs_to_target']:g}" in text
    bound = "at least " if yardstick["lower_bound"] else ""
    assert f"{bound}{bench['speedup']:.1f}× faster" in text
    assert f"the sprint {bench['sprint_speedup']:.1f}×" in text

