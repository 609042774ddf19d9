"""``episode-assistant bench``: the shipped corpus's figures against their targets, printed and saved.

Timings are of whole commands where a user would run a command (first run, re-index), so they
include interpreter start-up and model loading; latencies are of warm calls in one process, each
question embedded afresh (the query cache is off). With ``--scale`` it hands over to
``benchmarks.scale`` (synthetic corpora 1x, 10x, 100x the shipped one).
"""

from __future__ import annotations

import json
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.table import Table

from assistant.api import Assistant
from assistant.config import Settings
from benchmarks.harness import child, cli, percentiles, rss_mb
from benchmarks.ingestion import print_ingest, run_ingest_bench
from benchmarks.llm_path import llm_overhead
from benchmarks.scale import run_scale_bench
from evals.dataset import load_pairs

TARGETS = {
    "cold_build_s": ("<", 30.0),
    "first_run_s": ("<", 20.0),
    "reindex_unchanged_s": ("<", 5.0),
    "first_search_s": ("<", 0.5),
    "first_ask_s": ("<", 0.5),
    "search_en_p95_ms": ("<", 25.0),
    "search_ko_p95_ms": ("<", 25.0),
    "ask_p95_ms": ("<", 60.0),
    "ask_ko_p95_ms": ("<", 60.0),
    "peak_rss_mb": ("<", 1536.0),
    "llm_overhead_p95_ms": ("<", 150.0),
}


# Whole commands as a user runs them, start-up included: what the lazy imports are for.
COMMANDS = {
    "--help": ["--help"],
    "--version": ["--version"],
    "search": ["search", "compute multiplier"],
    "ask": ["ask", "What did Seonghyun say about MoE's compute multiplier?"],
}


def _command_times(env: dict[str, str], runs: int = 3) -> dict[str, float]:
    """Median wall-clock seconds of each of ``COMMANDS`` (offline answerer)."""
    env = {**env, "EPISODE_ASSISTANT_ANSWERER": "offline"}
    return {
        name: round(statistics.median(cli(args, env)[0] for _ in range(runs)), 2)
        for name, args in COMMANDS.items()
    }


def _latencies(fn: Callable[[str], object], questions: list[str], n: int) -> dict[str, float]:
    """Percentiles of ``n`` warm calls of ``fn`` in ms, cycling through ``questions``."""
    # Warm-up pass: models load once per process, and the embedders' weights are memory-mapped,
    # so the first sight of each word faults its rows in from disk. Timed calls come after.
    for question in questions:
        fn(question)
    samples = []
    for i in range(n):
        started = time.perf_counter()
        fn(questions[i % len(questions)])
        samples.append((time.perf_counter() - started) * 1000)
    return percentiles(samples)


def run_bench(
    settings: Settings,
    *,
    cold: bool = True,
    out: Path | None = None,
    scales: list[int] | None = None,
    seed: int = 0,
    clients: int = 8,
    embed_sample: int = 32,
) -> dict:
    """Measure the shipped corpus, or with ``scales`` synthetic corpora that many times its
    size (see ``run_scale_bench``); returns the figures (also written to ``out`` as JSON)."""
    if scales:
        return run_scale_bench(
            settings, scales, out=out, seed=seed, clients=clients, embed_sample=embed_sample
        )
    console = Console()
    figures: dict[str, object] = {"corpus": str(settings.index.corpus_dir)}
    work = Path(tempfile.mkdtemp(prefix="ea-bench-"))
    try:
        env = {"EPISODE_ASSISTANT_CORPUS_DIR": str(settings.index.corpus_dir)}
        if cold:
            console.print("cold build (every chunk embedded; seconds with USE-m3)…")
            # The same step as the scale bench's, in a fresh process: no cache at all.
            figures |= child(
                "cold", {"corpus": str(settings.index.corpus_dir), "index": str(work / "cold")}, {}
            )
            console.print("cold ingestion of a synthetic hour in every format…")
            figures["ingest_one_hour"] = run_ingest_bench(settings)
            print_ingest(console, figures["ingest_one_hour"])
        first, rss = cli(["index"], {**env, "EPISODE_ASSISTANT_INDEX_DIR": str(work / "fresh")})
        again, rss2 = cli(["index"], {**env, "EPISODE_ASSISTANT_INDEX_DIR": str(work / "fresh")})
        figures |= {"first_run_s": round(first, 2), "reindex_unchanged_s": round(again, 2)}
        figures["command_s"] = _command_times(
            {**env, "EPISODE_ASSISTANT_INDEX_DIR": str(work / "fresh")}
        )

        figures |= child(
            "first", {"corpus": str(settings.index.corpus_dir), "index": str(work / "fresh")}, {}
        )
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
        # Apart: a Korean answer also embeds its best sentences (the offline answerer
        # cannot look for its words in English turns), an English one does not.
        figures["ask_ms"] = _latencies(bot.ask, english, 60)
        figures["ask_ko_ms"] = _latencies(bot.ask, korean, 40)
        figures["search_en_p95_ms"] = round(figures["search_en_ms"]["p95"], 1)
        figures["search_ko_p95_ms"] = round(figures["search_ko_ms"]["p95"], 1)
        figures["ask_p95_ms"] = round(figures["ask_ms"]["p95"], 1)
        figures["ask_ko_p95_ms"] = round(figures["ask_ko_ms"]["p95"], 1)
        own = rss_mb()
        figures["peak_rss_mb"] = max(own, rss, rss2)
        figures["chunks"] = retriever.manifest.chunks
        figures["llm_overhead_ms"] = llm_overhead(bot, english)
        figures["llm_overhead_p95_ms"] = round(figures["llm_overhead_ms"]["p95"], 1)
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
