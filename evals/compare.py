"""Comparing two runs: metric by metric and question by question, what got better or worse."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field
from rich.console import Console
from rich.table import Table

from evals.models import METRICS, QUESTION_SCORES, EvalReport, fmt

Verdict = Literal["better", "worse", "same", "new", "gone"]


class MetricChange(BaseModel):
    """One summary metric in two runs."""

    name: str
    old: float | None
    new: float | None
    delta: float | None
    verdict: Verdict


class QuestionChange(BaseModel):
    """One question whose scores moved between two runs."""

    id: str
    type: str
    old_overall: float
    new_overall: float
    verdict: Verdict
    changes: dict[str, tuple[float | None, float | None]] = Field(default_factory=dict)


class Comparison(BaseModel):
    """What got better and what got worse from one report to another."""

    old: str
    new: str
    metrics: list[MetricChange] = Field(default_factory=list)
    questions: list[QuestionChange] = Field(default_factory=list)
    added: list[str] = Field(default_factory=list)
    removed: list[str] = Field(default_factory=list)

    @property
    def better(self) -> list[str]:
        """Metrics that improved."""
        return [m.name for m in self.metrics if m.verdict == "better"]

    @property
    def worse(self) -> list[str]:
        """Metrics that got worse."""
        return [m.name for m in self.metrics if m.verdict == "worse"]


def _verdict(old: float | None, new: float | None, higher_is_better: bool, tol: float) -> Verdict:
    if old is None and new is None:
        return "same"
    if old is None:
        return "new"
    if new is None:
        return "gone"
    if abs(new - old) <= tol:
        return "same"
    return "better" if (new > old) == higher_is_better else "worse"


def compare_reports(old: EvalReport, new: EvalReport) -> Comparison:
    """Metric by metric and question by question, what changed from ``old`` to ``new``."""
    comparison = Comparison(
        old=f"{old.split}-{old.answerer} ({old.created})",
        new=f"{new.split}-{new.answerer} ({new.created})",
    )
    for name, meta in METRICS.items():
        a, b = old.summary.get(name), new.summary.get(name)
        # Timing is noisy: only a change of more than 20% counts.
        tol = max(0.2 * abs(a), 0.01) if name == "mean_seconds" and a else 1e-6
        comparison.metrics.append(
            MetricChange(
                name=name,
                old=a,
                new=b,
                delta=None if a is None or b is None else round(b - a, 4),
                verdict=_verdict(a, b, meta.higher_is_better, tol),
            )
        )
    before = {r.id: r for r in old.results}
    after = {r.id: r for r in new.results}
    comparison.added = sorted(set(after) - set(before))
    comparison.removed = sorted(set(before) - set(after))
    for qid in sorted(set(before) & set(after)):
        a_r, b_r = before[qid], after[qid]
        changes = {
            k: (getattr(a_r.scores, k), getattr(b_r.scores, k))
            for k in QUESTION_SCORES
            if getattr(a_r.scores, k) != getattr(b_r.scores, k)
        }
        if not changes:
            continue
        comparison.questions.append(
            QuestionChange(
                id=qid,
                type=b_r.type,
                old_overall=a_r.overall,
                new_overall=b_r.overall,
                verdict=_verdict(a_r.overall, b_r.overall, True, 1e-6),
                changes=changes,
            )
        )
    return comparison


def compare(old_json: Path, new_json: Path, console: Console | None = None) -> Comparison:
    """Load two JSON reports, print what got better and worse, and return the comparison."""
    old = EvalReport.model_validate_json(Path(old_json).read_text(encoding="utf-8"))
    new = EvalReport.model_validate_json(Path(new_json).read_text(encoding="utf-8"))
    comparison = compare_reports(old, new)
    print_comparison(comparison, console or Console())
    return comparison


def print_comparison(comparison: Comparison, console: Console) -> None:
    """Metric changes, then the questions that got worse and better."""
    colour = {"better": "green", "worse": "red", "same": "dim", "new": "cyan", "gone": "yellow"}
    table = Table(title=f"{comparison.old} → {comparison.new}", title_justify="left")
    for column in ("metric", "old", "new", "Δ", ""):
        table.add_column(column, justify="left" if column in ("metric", "") else "right")
    for m in comparison.metrics:
        meta = METRICS[m.name]
        delta = "" if m.delta is None else f"{m.delta:+.3f}"
        table.add_row(
            m.name,
            fmt(m.old, meta.share),
            fmt(m.new, meta.share),
            delta,
            f"[{colour[m.verdict]}]{m.verdict}[/]",
        )
    console.print(table)
    for verdict in ("worse", "better"):
        moved = [q for q in comparison.questions if q.verdict == verdict]
        if not moved:
            continue
        console.print(f"[bold {colour[verdict]}]{len(moved)} question(s) got {verdict}:[/]")
        for q in moved:
            detail = ", ".join(f"{k} {fmt(a)}→{fmt(b)}" for k, (a, b) in q.changes.items())
            console.print(
                f"  {q.id} ({q.type}) overall {q.old_overall:.3f}→{q.new_overall:.3f}: {detail}"
            )
    mixed = [q for q in comparison.questions if q.verdict == "same"]
    if mixed:
        console.print(f"[dim]{len(mixed)} question(s) changed without moving overall.[/]")
    if comparison.added or comparison.removed:
        console.print(
            f"[dim]only in new: {', '.join(comparison.added) or '–'}; "
            f"only in old: {', '.join(comparison.removed) or '–'}[/]"
        )
