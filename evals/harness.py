"""The eval command (``episode-assistant eval``): run one split, print it, write its reports,
check the floors and compare with an earlier run.

The pieces: ``run.py`` asks and scores (``scoring.py``, the judges in ``judges/``, the
judge's own check in ``judge_check.py``), ``summary.py`` sums up, ``floors.py`` holds the
minimums, ``render.py`` shows a run, ``compare.py`` sets two side by side; ``models.py``
says what each metric means. The test split is held out: floors in ``evals/floors.json``
are checked on it in CI; tune on dev.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape

from assistant.config import user_data_dir
from evals.compare import compare_reports, print_comparison
from evals.dataset import load_pairs
from evals.floors import FLOORS_PATH, broken_floors, floors_apply, load_floors
from evals.judges import LLMJudge
from evals.llamaindex import LlamaIndexFaithfulness
from evals.models import EvalReport
from evals.render import chart, markdown, print_report
from evals.run import ModelJudge, run_eval

if TYPE_CHECKING:
    from assistant.api import Assistant
    from assistant.config import Settings

REPORTS_DIR = user_data_dir() / "evals" / "reports"


def report_name(report: EvalReport) -> str:
    """``<split>-<answerer>``, safe as a file name (``test-offline``, ``test-openai-gpt-4.1``)."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", f"{report.split}-{report.answerer}").strip("-")
    return name + ("-limited" if report.limited else "")


def model_judges(settings: Settings, console: Console) -> list[ModelJudge]:
    """The judges that need the configured model: ours (``prompts/judge.txt``) and
    LlamaIndex's ``FaithfulnessEvaluator``; one that cannot start is said and left out."""
    judges: list[ModelJudge] = []
    try:
        judges.append(LLMJudge(settings))
    except FileNotFoundError as exc:
        console.print(f"[yellow]LLM judge off: {escape(str(exc))}[/]")
    try:
        judges.append(LlamaIndexFaithfulness(settings))
    except ImportError as exc:
        console.print(
            f"[yellow]LlamaIndex faithfulness off ({escape(str(exc))}): "
            "pip install 'episode-assistant[evals]'[/]"
        )
    return judges


def write_reports(report: EvalReport, out_dir: Path | None = None) -> dict[str, Path]:
    """Write ``<split>-<answerer>.json``, ``.md`` and ``.png`` into ``out_dir`` (overwriting)."""
    out_dir = Path(out_dir or REPORTS_DIR)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = report_name(report)
    paths = {
        "json": out_dir / f"{stem}.json",
        "md": out_dir / f"{stem}.md",
        "png": out_dir / f"{stem}.png",
    }
    paths["json"].write_text(report.model_dump_json(indent=2) + "\n", encoding="utf-8")
    paths["md"].write_text(markdown(report), encoding="utf-8")
    chart(report, paths["png"])
    return paths


def evaluate(
    bot: Assistant,
    *,
    split: str = "test",
    compare_with: Path | None = None,
    out_dir: Path | None = None,
    limit: int | None = None,
    console: Console | None = None,
    progress: bool = True,
    floors_path: Path = FLOORS_PATH,
) -> tuple[EvalReport, int]:
    """Run, print and write one eval with ``bot``; the report and the exit code (1 when an
    offline run over the whole held-out split breaks a floor)."""
    console = console or Console()
    # Read the old report first: a bad path fails now, not after the run, and the new report
    # may overwrite it.
    old = (
        EvalReport.model_validate_json(Path(compare_with).read_text(encoding="utf-8"))
        if compare_with is not None
        else None
    )
    pairs = load_pairs(split=split)
    limited = limit is not None and limit < len(pairs)
    if limit is not None:
        pairs = pairs[:limit]
    report = run_eval(
        bot,
        pairs,
        split=split,
        limited=limited,
        model_judges=model_judges(bot.settings, console) if bot.settings.llm_enabled else (),
        progress=progress,
    )
    floors = load_floors(floors_path) if floors_path.is_file() else None
    gated = floors is not None and floors_apply(report, floors)
    if floors is not None and gated:
        report.broken_floors = broken_floors(report.summary, floors)
    print_report(report, console, floors if gated else None)
    paths = write_reports(report, out_dir)
    console.print("Reports: " + ", ".join(escape(str(p)) for p in paths.values()))
    if old is not None:
        print_comparison(compare_reports(old, report), console)
    if floors is not None and not gated:
        console.print(
            f"[dim]Floors are checked only on a full {floors.split}-split {floors.answerer} run.[/]"
        )
    return report, 1 if report.broken_floors else 0
