"""Floors: the minimums the offline eval of the held-out split must meet (``floors.json``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field

from evals.models import EvalReport

FLOORS_PATH = Path(__file__).resolve().parent / "floors.json"


class Floors(BaseModel):
    """Minimums for the offline eval on the held-out split, set from measured values."""

    split: str = "test"
    answerer: str = "offline"
    note: str = ""
    measured: dict[str, float] = Field(default_factory=dict)
    floors: dict[str, float]


def load_floors(path: Path = FLOORS_PATH) -> Floors:
    """The floors file (``evals/floors.json``)."""
    return Floors.model_validate_json(path.read_text(encoding="utf-8"))


def broken_floors(summary: dict[str, float | None], floors: Floors) -> list[str]:
    """One line per metric below its floor (a metric that could not be measured is broken)."""
    out = []
    for name, floor in floors.floors.items():
        value = summary.get(name)
        if value is None or value < floor - 1e-9:
            shown = "not measured" if value is None else f"{value:.3f}"
            out.append(f"{name} is {shown}, below its floor {floor:.3f}")
    return out


def floors_apply(report: EvalReport, floors: Floors) -> bool:
    """Floors hold for a whole-split run of their split with their answerer (the offline
    eval of the held-out split), not for dev, a model, or ``--limit``."""
    return (
        report.split == floors.split and report.answerer == floors.answerer and not report.limited
    )
