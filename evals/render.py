"""Showing a run: the terminal tables, the Markdown report and the bar chart by type."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from evals.floors import Floors
from evals.models import METRICS, QUESTION_SCORES, EvalReport, QuestionResult, fmt
from evals.summary import TYPE_COLUMNS

# Metrics of the model judges: left out of the terminal table when no model judged.
OPTIONAL = ("faithfulness_llm", "faithfulness_llamaindex", "llamaindex_judge_failed")


def print_report(report: EvalReport, console: Console, floors: Floors | None = None) -> None:
    """The summary, the per-type table, the judge's check and the five worst questions."""
    title = f"Eval · {report.split} split · {report.answerer} · {report.questions} questions"
    table = Table(title=title, title_justify="left")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("floor", justify="right")
    for name, meta in METRICS.items():
        value = report.summary.get(name)
        if value is None and name in OPTIONAL:
            continue
        floor = floors.floors.get(name) if floors else None
        style = ""
        if floor is not None and value is not None:
            style = "green" if value >= floor - 1e-9 else "bold red"
        table.add_row(
            f"{meta.label} [dim]({name})[/]",
            f"[{style}]{fmt(value, meta.share)}[/]" if style else fmt(value, meta.share),
            fmt(floor) if floor is not None else "",
        )
    console.print(table)

    types = Table(title="By question type", title_justify="left")
    types.add_column("type")
    types.add_column("n", justify="right")
    for column in TYPE_COLUMNS:
        types.add_column(column, justify="right")
    for qtype, row in report.by_type.items():
        types.add_row(
            qtype,
            fmt(row["questions"], share=False),
            *(fmt(row.get(c)) for c in TYPE_COLUMNS),
        )
    console.print(types)

    if report.perturbations is not None:
        p = report.perturbations
        console.print(
            f"[bold]Offline judge check:[/] caught {p.caught}/{p.unfaithful} broken answers; "
            f"wrongly flagged {p.wrongly_flagged}/{p.faithful} faithful ones."
        )
        kinds = Table(show_header=True, title_justify="left")
        kinds.add_column("cases")
        kinds.add_column("flagged", justify="right")
        for kind, tally in {**p.by_kind, **p.by_source}.items():
            kinds.add_row(escape(kind), f"{tally.flagged}/{tally.total}")
        console.print(kinds)

    worst = Table(title="The 5 worst questions", title_justify="left")
    worst.add_column("question", no_wrap=True)
    for column in ("overall", "hit@5", "cite", "facts", "faith"):
        worst.add_column(column, justify="right")
    worst.add_column("asked → answered", min_width=36, ratio=1, overflow="fold")
    for r in report.worst(5):
        s = r.scores
        answer = r.error or ("(abstained) " if r.abstained else "") + r.answer
        worst.add_row(
            f"{r.id}\n{r.type}\n{r.language}",
            fmt(r.overall),
            fmt(s.hit_at_5),
            fmt(s.cites_gold),
            fmt(s.key_facts),
            fmt(s.faithfulness),
            escape(f"{r.question}\n→ {answer[:140]}"),
        )
    console.print(worst)
    for line in report.broken_floors:
        console.print(f"[bold red]floor broken:[/] {escape(line)}")


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(report: EvalReport) -> str:
    """The report as Markdown: summary, per type, the judge's check, then every question."""
    lines = [
        f"# Eval: {report.split} split, {report.answerer}",
        "",
        f"{report.questions} questions · {report.created}"
        + (" · limited run (floors not checked)" if report.limited else ""),
        "",
        "| metric | value |",
        "|---|---:|",
    ]
    for name, meta in METRICS.items():
        lines.append(f"| {meta.label} (`{name}`) | {fmt(report.summary.get(name), meta.share)} |")
    lines += ["", "## By question type", "", "| type | n | " + " | ".join(TYPE_COLUMNS) + " |"]
    lines.append("|---|---:|" + "---:|" * len(TYPE_COLUMNS))
    for qtype, row in report.by_type.items():
        cells = " | ".join(fmt(row.get(c)) for c in TYPE_COLUMNS)
        lines.append(f"| {qtype} | {fmt(row['questions'], False)} | {cells} |")
    if report.broken_floors:
        lines += ["", "## Floors broken", ""] + [f"- {b}" for b in report.broken_floors]
    p = report.perturbations
    if p is not None:
        lines += [
            "",
            "## Offline judge check (perturbations)",
            "",
            f"Caught **{p.caught}/{p.unfaithful}** broken answers; wrongly flagged "
            f"**{p.wrongly_flagged}/{p.faithful}** faithful ones.",
            "",
            "| cases | flagged |",
            "|---|---:|",
        ]
        for kind, tally in {**p.by_kind, **p.by_source}.items():
            lines.append(f"| {kind} | {tally.flagged}/{tally.total} |")
        misses = [c for c in p.cases if c.kind != "faithful" and not c.flagged]
        false = [c for c in p.cases if c.kind == "faithful" and c.flagged]
        if misses:
            lines += ["", "Broken answers it missed:", ""]
            lines += [
                f"- {c.base} ({c.source}, {c.kind}): “{_md(c.changed[:200])}”" for c in misses
            ]
        if false:
            lines += ["", "Faithful answers it flagged:", ""]
            lines += [f"- {c.base} ({c.source}): {_md('; '.join(c.reasons)[:300])}" for c in false]
    lines += ["", "## Questions", ""]
    for r in report.results:
        lines += _question_md(r)
    return "\n".join(lines) + "\n"


def _question_md(r: QuestionResult) -> list[str]:
    s = r.scores
    scores = ", ".join(
        f"{k} {fmt(getattr(s, k))}" for k in QUESTION_SCORES if getattr(s, k) is not None
    )
    lines = [
        f"### {r.id} · {r.type} · {r.language} · overall {fmt(r.overall)}",
        "",
        f"**Q:** {_md(r.question)}",
        "",
        f"**Answer** ({r.answerer or 'none'}, {r.seconds:.2f} s"
        + (f", {r.prompt_tokens}+{r.completion_tokens} tokens" if r.prompt_tokens else "")
        + ("" if not r.abstained else ", abstained")
        + f"): {_md(r.error or r.answer)}",
        "",
    ]
    for c in r.citations:
        marks = ("gold" if c.gold else "not gold") + (
            ", verbatim" if c.verbatim else ", NOT verbatim"
        )
        lines.append(f"- [{c.n}] {_md(c.heading)} ({marks}): “{_md(c.quote)}”")
    if r.citations:
        lines.append("")
    lines += [f"**Scores:** {scores}", ""]
    if r.key_facts:
        missing = [f for f in r.key_facts if f not in r.facts_found]
        lines += [
            f"**Key facts:** found {r.facts_found or 'none'}"
            + (f", missing {missing}" if missing else ""),
            "",
        ]
    for j in r.judgements:
        if j.prompt_tokens:
            lines += [
                f"**{j.judge} judge:** faithfulness {fmt(j.faithfulness)}, "
                f"{j.prompt_tokens}+{j.completion_tokens} tokens, {j.seconds:.2f} s",
                "",
            ]
        if j.error:
            lines += [f"**{j.judge} judge error:** {_md(j.error)}", ""]
        for v in j.flagged:
            lines.append(
                f"- {j.judge} judge flags claim {v.claim} “{_md(v.text[:160])}”: {_md('; '.join(v.reasons))}"
            )
        if j.flagged:
            lines.append("")
    lines += [f"**Reference:** {_md(r.reference_answer)}", ""]
    return lines


def chart(report: EvalReport, path: Path) -> Path:
    """A grouped bar chart of the metrics by question type, as PNG."""
    import matplotlib

    matplotlib.use("Agg")  # no display: CI and servers
    import matplotlib.pyplot as plt

    types = list(report.by_type)
    fig, ax = plt.subplots(figsize=(11, 4.8), dpi=110)
    width = 0.8 / len(TYPE_COLUMNS)
    for i, column in enumerate(TYPE_COLUMNS):
        values = [report.by_type[t].get(column) for t in types]
        xs = [x + (i - (len(TYPE_COLUMNS) - 1) / 2) * width for x in range(len(types))]
        ax.bar(xs, [v if v is not None else 0.0 for v in values], width, label=column)
        for x, v in zip(xs, values, strict=True):
            if v is None:
                ax.text(x, 0.01, "n/a", ha="center", va="bottom", fontsize=6, rotation=90)
    ax.set_xticks(range(len(types)))
    ax.set_xticklabels(
        [f"{t}\n(n={int(report.by_type[t]['questions'] or 0)})" for t in types], fontsize=9
    )
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("score")
    ax.set_title(f"{report.split} split · {report.answerer}: metrics by question type")
    ax.legend(ncol=len(TYPE_COLUMNS), fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14))
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
