"""The notebook's hand-written prose, held to the evidence it names.

Every figure in a Result, an Analysis, the held-out and appendix analyses and "What we learned" is tied to
the one value it names: the tests build the exact phrase from `report` (a mean, a minimum, a comparison's
difference, standard error and verdict) and look for it in its own cell, and every other number in those
cells must be one of those phrases' numbers or a small count. The stored outputs of the cells that only read
`results/` must be what those cells print today, so a new results file cannot leave an old table standing."""

import contextlib
import io
import json
import re

import pytest
from conftest import ROOT

import model
import report

NUMBER = re.compile(r"(?<![\w.])[−+-]?\d+(?:,\d{3})*(?:\.\d+)?")
LABELS = {
    "final_test_acc": "last epoch",
    "epoch1_test_acc": "epoch 1",
    "gap": "train–test gap",
    "holds_from": "first holding epoch",
}
PART1_WORDS = 1_800


def notebook() -> dict:
    return json.loads((ROOT / "S6_MNIST.ipynb").read_text())


def text_of(cell) -> str:
    return "".join(cell["source"])


def markdown_cells(part: str = "all") -> list[str]:
    """The markdown cells of Part 1 (before the Appendix heading), of the Appendix, or all."""
    texts = [text_of(c) for c in notebook()["cells"] if c["cell_type"] == "markdown"]
    start = next(i for i, t in enumerate(texts) if t.startswith("# Appendix"))
    return {"all": texts, "part1": texts[:start], "appendix": texts[start:]}[part]


def outputs_of(cell) -> str:
    parts = []
    for output in cell.get("outputs", []):
        parts.append("".join(output.get("text", "")))
        for kind in ("text/plain", "text/markdown"):
            parts.append("".join(output.get("data", {}).get(kind, "")))
    return "".join(parts)


def sections() -> dict[str, list[dict]]:
    """Every cell by its section: the heading's text (## or #) up to the next heading."""
    out, current = {}, "top"
    for cell in notebook()["cells"]:
        if cell["cell_type"] == "markdown" and text_of(cell).startswith("#"):
            current = text_of(cell).split("\n")[0].lstrip("# ").strip()
        out.setdefault(current, []).append(cell)
    return out


def section(title_start: str) -> list[dict]:
    (cells,) = [cells for title, cells in sections().items() if title.startswith(title_start)]
    return cells


def labelled(cells: list[dict], label: str) -> str:
    (text,) = [text_of(c) for c in cells if c["cell_type"] == "markdown" and f"**{label}.**" in text_of(c)]
    return " ".join(text.split("**" + label + ".**", 1)[1].split())


ITERATION_SECTIONS = [f"Iteration {i} " for i in range(1, 11)]


def iteration_cells(name: str) -> list[dict]:
    return section(ITERATION_SECTIONS[list(report.ITERATIONS).index(name)])


# -- the phrases: each built from the one value it names ----------------------------------------------------
def signed(x: float) -> str:
    said = f"{x:+.2f}".replace("-", "−")
    return "0.00" if said in ("+0.00", "−0.00") else said


def verdict_phrase(c: dict) -> str:
    """A comparison as the prose says it: 'epoch 1 +0.59 ± 0.12, an effect (higher)'."""
    word = "within seed noise" if c["verdict"] == "within noise" else f"an effect ({c['verdict']})"
    return f"{LABELS[c['figure']]} {signed(c['diff'])} ± {c['se']:.2f}, {word}"


def holds_phrase(epochs: list) -> str:
    held = [e for e in epochs if e is not None]
    if not held:
        return f"no seed holds {model.TARGET} %"
    span = f"{min(held)}" if min(held) == max(held) else f"{min(held)}–{max(held)}"
    return f"holds {model.TARGET} % on {len(held)} of {len(epochs)} seeds, from epoch {span}"


def result_claims(name: str) -> list[str]:
    s = report.iteration_summaries(ROOT / "results")[name]
    acc, train = report.seed_stats(s["final_test_acc"]), report.seed_stats(s["train_eval_acc"])
    return [
        f"{s['params']:,} parameters",
        f"test {acc['mean']:.2f} % (min {acc['min']:.2f}, max {acc['max']:.2f})",
        f"clean train {train['mean']:.2f} %",
        holds_phrase(s["first_epoch_holding"]),
        *(verdict_phrase(c) for c in s["versus"].values()),
    ]


def numbers(text: str) -> set[str]:
    return {n.lstrip("+−-") for n in NUMBER.findall(re.sub(r"\]\([^)]*\)", "]", text))}


def small_counts(text: str) -> set[str]:
    """Numbers a sentence may use without a phrase: counts and epochs up to 20, the target, the limits."""
    fixed = {f"{model.TARGET}", f"{model.TARGET:.2f}", "20,000", "10,000", "0–9", "110–114"}
    return {n for n in numbers(text) if n in fixed or (n.isdigit() and int(n) <= 20)}


def unclaimed(text: str, claims: list[str]) -> set[str]:
    """Numbers in `text` outside every occurrence of its claims, that are neither a claim's number nor a
    small count."""
    rest = text
    for claim in sorted(claims, key=len, reverse=True):
        rest = rest.replace(claim, " ")
    allowed = set().union(*(numbers(c) for c in claims)) if claims else set()
    return numbers(rest) - allowed - small_counts(rest)


def loose_verdicts(text: str, claims: list[str]) -> list[str]:
    """'an effect' or 'within seed noise' said outside a claim: a verdict no comparison stands behind."""
    rest = text
    for claim in claims:
        rest = rest.replace(claim, " ")
    return re.findall(r"an effect|within (?:seed )?noise", rest)


@pytest.mark.parametrize("name", list(report.ITERATIONS))
def test_each_result_states_its_ten_seeds_and_its_verdicts_as_results_has_them(name):
    result = labelled(iteration_cells(name), "Result")
    for claim in result_claims(name):
        assert claim in result, f"{name}: the Result should say {claim!r}"
    assert not unclaimed(result, result_claims(name)), f"{name}: {unclaimed(result, result_claims(name))}"
    assert not loose_verdicts(result, result_claims(name)), name


@pytest.mark.parametrize("name", list(report.ITERATIONS))
def test_each_analysis_is_short_and_quotes_only_its_results_figures(name):
    cells = iteration_cells(name)
    target, analysis = labelled(cells, "Target"), labelled(cells, "Analysis")
    assert NUMBER.search(target), f"{name}: the Target states what we expect, with a number"
    assert word_count(analysis) <= 100, f"{name}: the Analysis is at most 100 words"
    claims = result_claims(name)
    printed = numbers(" ".join(outputs_of(c) for c in cells))  # what its own cells printed
    assert not unclaimed(analysis, claims) - printed, f"{name}: {unclaimed(analysis, claims) - printed}"
    assert not loose_verdicts(analysis, claims), f"{name}: a verdict outside its comparison"


def word_count(text: str) -> int:
    """Words: runs of non-space holding a letter or a digit (a lone %, ≥ or = is not a word)."""
    text = re.sub(r"`[^`]*`", "", re.sub(r"\]\([^)]*\)", "]", text))  # code and link targets are not prose
    return len(re.findall(r"\S*[^\W_]\S*", text))


def test_part_one_is_a_twenty_minute_lesson_and_no_cell_is_a_wall_of_text():
    part1 = [word_count(t) for t in markdown_cells("part1")]
    assert sum(part1) <= PART1_WORDS, f"Part 1 has {sum(part1)} words of prose (at most {PART1_WORDS})"
    assert max(word_count(t) for t in markdown_cells()) <= 200


def test_the_lesson_comes_first_and_the_evidence_in_an_appendix():
    titles = list(sections())
    part1 = [
        "The checklist",
        "Data",
        *ITERATION_SECTIONS,
        "All ten iterations side by side",
        "The final model",
        "Where it errs",
        "Try your own digit",
        "What we learned",
        "Appendix",
    ]
    at = [next(i for i, t in enumerate(titles) if t.startswith(p)) for p in part1]
    assert at == sorted(at), "Part 1's sections in order, then the Appendix"
    appendix = [t for t in titles[at[-1] + 1 :]]
    assert [t[:2] for t in appendix] == ["A.", "B.", "C.", "D.", "E.", "F.", "G."], appendix


def test_the_setup_cell_is_folded_away_so_the_lesson_opens_with_the_exercise():
    cells = notebook()["cells"]
    setup = next(c for c in cells if c["cell_type"] == "code")
    assert (
        text_of(setup).startswith("#@title") and '{ display-mode: "form" }' in text_of(setup).split("\n")[0]
    )
    assert setup["metadata"].get("cellView") == "form" and setup["metadata"]["jupyter"]["source_hidden"]
    assert text_of(cells[0]).startswith("# S6") and "Validation dataset as test dataset itself" in text_of(
        cells[0]
    )


def test_the_notebook_holds_no_unwritten_analysis():
    assert not [t for t in markdown_cells() if "TODO" in t]


def code_cells() -> list[str]:
    return [text_of(c) for c in notebook()["cells"] if c["cell_type"] == "code"]


def test_each_network_is_shown_once_where_it_first_appears_and_summarised_once():
    classes = list(dict.fromkeys(model.MODELS[name] for name in report.ITERATIONS))
    shown = [c for c in code_cells() if "inspect.getsource(type(net))" in c]
    assert len(shown) == len(classes), "one code listing per architecture of the learning log"
    names = [re.search(r'make_model\("(\w+)"', c).group(1) for c in shown]
    assert [model.MODELS[n] for n in names] == classes
    summaries = [c for c in code_cells() if "utils.summary(" in c]
    assert len(summaries) == len(classes) + 1, "one summary per architecture, and the final model's own"


@pytest.mark.parametrize("name", ["tiny", "accurate", "reference"])
def test_the_networks_beyond_the_assignment_are_shown_with_their_parameters(name):
    cls = model.MODELS[name]
    outputs = "".join(outputs_of(c) for c in notebook()["cells"])
    assert f"class {cls.__name__}(nn.Module):" in outputs
    assert f"{name}: {sum(p.numel() for p in cls().parameters()):,} parameters" in outputs


@pytest.mark.parametrize("name", list(report.ITERATIONS))
def test_each_iterations_curves_are_drawn_with_their_seed_band_and_its_live_line(name):
    assert any(
        f'report.plot_curves("{name}", runs["{name}"]' in c and f'report.print_live("{name}"' in c
        for c in code_cells()
    )


# Cells that only read results/: what they printed when the notebook ran must be what they print now.
READERS = {
    "report.print_checklist()": lambda: report.print_checklist(ROOT / "results"),
    "report.print_method()": lambda: report.print_method(ROOT / "results"),
    "report.print_average_comparison()": lambda: report.print_average_comparison(ROOT / "results"),
    "report.print_heldout()": lambda: report.print_heldout(ROOT / "results"),
}


@pytest.mark.parametrize("call", list(READERS))
def test_the_stored_outputs_of_the_cells_that_read_results_are_todays(call):
    (cell,) = [c for c in notebook()["cells"] if c["cell_type"] == "code" and text_of(c).strip() == call]
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        READERS[call]()
    assert outputs_of(cell) == printed.getvalue(), f"{call}: re-run the notebook (make notebook)"


def goals_beyond(folder) -> str:
    """What Appendix G shows: the tracks' table on the fresh seeds, or that they have no runs there yet."""
    tracks = {name: s for name, s in report.track_summaries(folder).items() if name != model.DEFAULT_MODEL}
    return report.tracks_table(tracks) if tracks else "the goals beyond have no runs on seeds"


@pytest.mark.parametrize(
    "table, build",
    [
        ("iterations_table", lambda: report.iterations_table(report.iteration_summaries(ROOT / "results"))),
        (
            "ablations",
            lambda: report.ablation_table(
                report.ablation_summaries({**report.ABLATIONS, **report.TOGETHER}, ROOT / "results"),
                ROOT / "results",
            ),
        ),
        (
            "controls",
            lambda: report.ablation_table(
                report.ablation_summaries(report.SCHEDULE_CONTROLS, ROOT / "results"), ROOT / "results"
            ),
        ),
        ("tracks_table", lambda: goals_beyond(ROOT / "results")),
        ("trials_table", lambda: report.trials_table(report.trial_summaries(ROOT / "results"))),
        (
            "dropped",
            lambda: report.ablation_table(
                report.ablation_summaries(report.DROPPED, ROOT / "results"), ROOT / "results"
            ),
        ),
    ],
)
def test_the_stored_tables_are_todays(table, build):
    stored = [outputs_of(c) for c in notebook()["cells"] if c["cell_type"] == "code" and table in text_of(c)]
    assert any(build() in output for output in stored), (
        f"the {table} table in the notebook is not today's: re-run it (make notebook)"
    )


# -- the appendix's analyses -----------------------------------------------------------------------------
def listed(analysis: str, word: str) -> list[str]:
    """The `rows` named in the sentence that follows `word` (up to its full stop)."""
    if word not in analysis:
        return []
    return sorted(re.findall(r"`\w+`", re.split(r"\.(?:\s|$)", analysis.split(word, 1)[1])[0]))


def rows_claims(rows: dict) -> list[str]:
    """Both comparisons of every row, as verdict phrases."""
    return [
        verdict_phrase(report.keep_decision(row, ROOT / "results")[figure])
        for row in rows
        for figure in ("accuracy", "holds_from")
    ]


@pytest.mark.parametrize("title, rows", [("C.", {**report.ABLATIONS, **report.TOGETHER}),
                                         ("D.", report.SCHEDULE_CONTROLS), ("E.", report.DROPPED)])
def test_the_appendix_says_what_the_rule_keeps_and_what_goes(title, rows):
    analysis = labelled(section(title), "Analysis")
    decisions = {row: report.keep_decision(row, ROOT / "results") for row in rows}
    kept = sorted(f"`{r}`" for r, d in decisions.items() if d["keep"])
    gone = sorted(f"`{r}`" for r, d in decisions.items() if not d["keep"])
    said_kept, said_gone = listed(analysis, "Kept:"), listed(analysis, "Tied:")
    if title == "D.":  # minus_onecycle is both an ablation and a control: said in C
        kept, said_kept = ([r for r in rows if r != "`minus_onecycle`"] for rows in (kept, said_kept))
    assert (said_kept, said_gone) == (kept, gone), "the rule's verdict per row (Kept: …, Tied: …)"
    claims = rows_claims(rows)
    printed = numbers(" ".join(outputs_of(c) for c in section(title)))
    assert not unclaimed(analysis, claims) - printed, unclaimed(analysis, claims) - printed
    assert not loose_verdicts(analysis, claims)


def heldout_claims() -> list[str]:
    runs = report.load_runs(model.DEFAULT_MODEL, ROOT / "results", report.HELDOUT_SEEDS)
    acc = report.seed_stats([r["final_test_acc"] for r in runs])
    correct = min(round(r["history"][-1]["test_acc"] * 100) for r in runs)
    raw = [r["history"][-1]["test_acc_raw"] for r in runs]
    holds = [report.first_epoch_holding(r["history"]) for r in runs]
    holds_raw = [report.first_epoch_holding(r["history"], "test_acc_raw") for r in runs]
    return [
        f"lowest {acc['min']:.2f} % ({correct:,} of 10,000)",
        f"mean {acc['mean']:.2f} %",
        f"raw weights: lowest {min(raw):.2f} %",
        "averaged: " + holds_phrase(holds),
        "raw: " + holds_phrase(holds_raw),
    ]


def test_the_held_out_analysis_quotes_the_fresh_seeds():
    analysis = labelled(section("F."), "Analysis")
    for claim in heldout_claims():
        assert claim in analysis, claim
    assert not unclaimed(analysis, heldout_claims()), unclaimed(analysis, heldout_claims())


# -- What we learned: each lesson, where it comes from, and what results/ must show for it to stand ----------
def c(before, after, figure="final_test_acc") -> str:
    return report.comparison(before, after, figure, ROOT / "results")["verdict"]


def keep(row) -> bool:
    return report.keep_decision(row, ROOT / "results")["keep"]


def heldout_min_correct(last: int = 1) -> int:
    """The fewest correct test digits on the fresh seeds, over each seed's `last` epochs."""
    runs = report.load_runs(model.DEFAULT_MODEL, ROOT / "results", report.HELDOUT_SEEDS)
    return min(round(row["test_acc"] * 100) for r in runs for row in r["history"][-last:])


LESSONS = {
    "BatchNorm makes the first epoch better": lambda: (
        c("baseline", "batchnorm", "epoch1_test_acc") == c("baseline", "batchnorm") == "higher"
    ),
    "Dropout and augmentation narrow the train–test gap": lambda: (
        c("batchnorm", "dropout", "gap") == c("capacity", "augment", "gap") == "narrower"
        and c("batchnorm", "dropout") == "higher"
        and c("capacity", "augment") == "within noise"
    ),
    "GAP frees parameters at a cost in accuracy, which the capacity convolutions buy back": lambda: (
        c("dropout", "gap") == "lower" and c("gap", "capacity") == "higher"
    ),
    "OneCycle gives the largest gain of the training changes": lambda: (
        c("augment", "onecycle") == "higher"
        and all(
            report.comparison(a, b, folder=ROOT / "results")["diff"]
            < report.comparison("augment", "onecycle", folder=ROOT / "results")["diff"]
            for a, b in (("capacity", "augment"), ("onecycle", "speed"), ("speed", "average"))
        )
        and keep("onecycle_low_peak")
        and report.comparison("final", "onecycle_low_peak", folder=ROOT / "results")["diff"]
        < report.comparison("final", "onecycle_constant_lr", folder=ROOT / "results")["diff"]
    ),
    "The weight average makes 99.4 % hold sooner": lambda: c("speed", "average", "holds_from") == "sooner",
    "Ties can combine": lambda: (
        not keep("minus_augment") and not keep("minus_weight_decay") and not keep("onecycle_constant_lr")
        and c("final", "lean") == "lower" and c("final", "lean", "holds_from") == "later"
    ),
    "The goal holds on five more seeds": lambda: (  # through the last three epochs
        heldout_min_correct(last=3) >= round(model.TARGET * 100)
    ),
}


def learned_bullets() -> list[str]:
    (text,) = [t for t in markdown_cells() if t.startswith("## What we learned")]
    return [" ".join(b.split()) for b in " ".join(text.split("\n")).split("- **")[1:]]


@pytest.mark.parametrize("lesson", list(LESSONS))
def test_each_lesson_is_what_the_seeds_show(lesson):
    assert any(b.startswith(lesson) for b in learned_bullets()), "the lesson's words changed: update LESSONS"
    assert LESSONS[lesson](), f"results/ no longer shows: {lesson}"


def test_every_lesson_in_the_notebook_has_its_check_and_no_loose_figures():
    bullets = learned_bullets()
    assert len(bullets) == len(LESSONS), "a lesson without its check in LESSONS (or a check without a lesson)"
    for bullet in bullets:
        assert not unclaimed(bullet, []), bullet


@pytest.mark.parametrize(
    "title, label",
    [
        ("A.", "Analysis"),
        ("B.", "Analysis"),
        ("G.", "Analysis"),
        ("Where it errs", "Analysis"),
        ("The final model", "Which parts it needs"),
    ],
)
def test_the_other_analyses_quote_only_what_their_section_printed(title, label):
    cells = section(title)
    analysis = labelled(cells, label)
    printed = numbers(" ".join(outputs_of(c) for c in cells))
    assert not unclaimed(analysis, []) - printed, unclaimed(analysis, []) - printed
    assert not loose_verdicts(analysis, []), "a verdict belongs beside the comparison it is"
