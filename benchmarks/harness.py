"""Run bench steps and whole commands in fresh interpreters, and turn timings into figures."""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from assistant.config import Settings


def settings_for(args: dict) -> Settings:
    """The settings of a step: its corpus and index folders, the offline answerer."""
    return Settings(
        corpus_dir=Path(args["corpus"]), index_dir=Path(args["index"]), answerer="offline"
    )


def child(task: str, args: dict, env: dict[str, str]) -> dict:
    """Run one step of ``benchmarks.steps`` in a fresh interpreter with ``env`` added to the
    environment; its figures come back as JSON on the last line of its output."""
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.steps", task, json.dumps(args)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"bench step {task} failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def cli(args: list[str], env: dict[str, str]) -> tuple[float, int]:
    """Wall-clock seconds of one CLI run and its peak RSS in MB."""
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "assistant.surfaces.cli", *args],
        env={**os.environ, **env},
        check=True,
        capture_output=True,
    )
    elapsed = time.perf_counter() - started
    return elapsed, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024


# A fixed pure-Python loop (about 0.3 s on one idle core here): prints its own wall-clock time.
_SPIN = (
    "import time; t = time.perf_counter(); s = 0\n"
    "for i in range(4_000_000): s += i\n"
    "print(time.perf_counter() - t)"
)


def cores_available() -> float:
    """How many cores' worth of CPU two busy processes get right now (2.0 on an idle 2-core
    machine): the ceiling of any concurrency speedup measured at the same moment, which
    other people's jobs on a shared machine lower."""

    def spin(copies: int) -> list[float]:
        procs = [
            subprocess.Popen([sys.executable, "-c", _SPIN], stdout=subprocess.PIPE, text=True)
            for _ in range(copies)
        ]
        return [float(p.communicate()[0]) for p in procs]

    alone = spin(1)[0]
    return round(sum(alone / t for t in spin(2)), 2)


def percentiles(samples: list[float]) -> dict[str, float]:
    """p50, p95 and p99 of ``samples`` (at least two), and their number."""
    ordered = sorted(samples)
    q = statistics.quantiles(ordered, n=100, method="inclusive")
    return {"p50": q[49], "p95": q[94], "p99": q[98], "n": len(ordered)}


def ms(samples: list[float]) -> dict[str, float]:
    """``percentiles`` rounded to 0.1 ms; fewer than two samples have no spread to report."""
    if len(samples) < 2:
        return {"p50": samples[0] if samples else 0.0, "p95": 0.0, "p99": 0.0, "n": len(samples)}
    return {k: round(v, 1) if k != "n" else v for k, v in percentiles(samples).items()}


def rss_mb() -> int:
    """This process's peak resident memory so far, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def disk_mb(path: Path) -> float:
    """Disk space used below ``path`` (allocated blocks), in MB."""
    if not path.exists():
        return 0.0
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return sum(p.stat().st_blocks * 512 for p in files) / 1e6


def loadavg() -> list[float]:
    """The machine's load average over 1, 5 and 15 minutes."""
    return [round(x, 2) for x in os.getloadavg()]


def save(figures: dict, out: Path | None) -> None:
    """Write ``figures`` to ``out`` as JSON (nothing without ``out``)."""
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(figures, indent=2, ensure_ascii=False), encoding="utf-8")
