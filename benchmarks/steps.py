"""The bench's steps, each run in a fresh process: ``python -m benchmarks.steps TASK ARGS``.

Each prints its figures as JSON on its last line (``benchmarks.harness.child`` reads them), so
each peak RSS is that step's own and no step warms another's caches.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

from assistant.api import Assistant
from assistant.config import Settings
from benchmarks.baselines import llamaindex_baseline
from benchmarks.harness import cores_available, ms, rss_mb, settings_for
from benchmarks.llm_path import scripted_model
from benchmarks.recall import recall_at_5
from evals.dataset import load_pairs

NEW_EPISODE_NUMBER = 9001


def embed(args: dict) -> dict:
    """Passage embedding throughput on a seeded sample of real chunks, per embedder."""
    import random

    from assistant.index.embeddings import get_embedder
    from assistant.ingestion.chunking import chunk_corpus
    from assistant.ingestion.corpus import load_corpus

    settings = Settings(corpus_dir=Path(args["corpus"]))
    nodes = chunk_corpus(
        load_corpus(settings.index.corpus_dir).episodes,
        settings.index.chunk_tokens,
        settings.index.chunk_overlap,
    )
    sample = random.Random(args["seed"]).sample(nodes, min(args["sample"], len(nodes)))
    texts = [n.text for n in sample]
    figures: dict = {"sample_chunks": len(texts)}
    for name in filter(None, (settings.index.embedder, settings.index.crosslingual_embedder)):
        embedder = get_embedder(settings, name)
        embedder.embed_passages(["warm-up"])  # loads the model
        started = time.perf_counter()
        for start in range(0, len(texts), embedder.embed_batch_size):
            embedder.embed_passages(texts[start : start + embedder.embed_batch_size])
        seconds = time.perf_counter() - started
        figures[name] = {
            "chunks_per_s": round(len(texts) / seconds, 2),
            "batch": embedder.embed_batch_size,
            "seconds": round(seconds, 1),
        }
    figures |= query_embed({})
    return figures


def query_embed(args: dict) -> dict:
    """Latency of embedding one question, per embedder."""
    from assistant.index.embeddings import get_embedder

    settings = Settings()
    questions = [p.question for p in load_pairs()][:30]
    figures = {}
    for name in filter(None, (settings.index.embedder, settings.index.crosslingual_embedder)):
        embedder = get_embedder(settings, name)
        embedder.embed_query(questions[0])
        samples = []
        for q in questions:
            started = time.perf_counter()
            embedder.embed_query(q)
            samples.append((time.perf_counter() - started) * 1000)
        figures[name] = ms(samples)
    return {"query_ms": figures}


def cold(args: dict) -> dict:
    """Build the index of a corpus copy without its shipped vectors, in a fresh index folder:
    every chunk is embedded (what a user with their own podcast waits for)."""
    work = Path(args["index"])
    corpus = work / "corpus"
    shutil.copytree(Path(args["corpus"]), corpus, ignore=shutil.ignore_patterns(".*"))
    bot = Assistant(settings_for({"corpus": str(corpus), "index": str(work / "index")}))
    started = time.perf_counter()
    report = bot.index()
    seconds = time.perf_counter() - started
    shutil.rmtree(work, ignore_errors=True)
    return {
        "cold_build_s": round(seconds, 1),
        "cold_chunks": report.chunks,
        "cold_embedded": report.embedded,
        "cold_chunks_per_s": round(report.chunks / seconds, 1),
    }


def first(args: dict) -> dict:
    """In a fresh process: open the index, then the first search and the first ask (each a
    question of its own), which pay whatever warming up is left after opening."""
    bot = Assistant(settings_for(args))
    started = time.perf_counter()
    bot.retriever()
    opened = time.perf_counter()
    bot.search("How much better are MoE models than dense models?", k=5)
    searched = time.perf_counter()
    bot.ask("What did Noam Brown say about Magic the Gathering?")
    asked = time.perf_counter()
    return {
        "open_s": round(opened - started, 2),
        "first_search_s": round(searched - opened, 3),
        "first_ask_s": round(asked - searched, 3),
    }


def build(args: dict) -> dict:
    """Build the index (from the embedding cache where it serves) and time it."""
    bot = Assistant(settings_for(args))
    started = time.perf_counter()
    report = bot.index()
    seconds = time.perf_counter() - started
    spaces = 2 if bot.settings.index.crosslingual_embedder else 1
    return {
        "seconds": round(seconds, 1),
        "chunks": report.chunks,
        "episodes": report.episodes,
        "chunks_per_s": round(report.chunks / seconds, 1),
        "embedded": report.embedded,
        # Chunk texts the embedding cache served (the synthetic copies repeat real chunks).
        "cache_served_share": round(1 - report.embedded / max(1, report.chunks * spaces), 4),
        "peak_rss_mb": rss_mb(),
    }


class Counted:
    """A Chroma collection that counts the passages each ``get`` reads (to show a question
    never reads the corpus's text; vectors are never read from Chroma at all)."""

    def __init__(self, inner: object) -> None:
        self._inner = inner
        self.rows: list[int] = []

    def get(self, *args: object, **kwargs: object) -> dict:
        got = self._inner.get(*args, **kwargs)
        if "documents" in kwargs.get("include", ["documents"]):
            self.rows.append(len(got["ids"]))
        return got

    def __getattr__(self, name: str) -> object:
        return getattr(self._inner, name)


def serve(args: dict) -> dict:
    """Open the index, then warm search and ask latencies, concurrent clients and recall@5."""
    from benchmarks.synthetic import load_origins

    bot = Assistant(settings_for(args))
    started = time.perf_counter()
    retriever = bot.retriever()
    open_s = time.perf_counter() - started
    retriever.cache_queries = False
    counted = Counted(retriever.collection)
    retriever.collection = counted
    pairs = load_pairs()
    questions = [p.question for p in pairs]
    english = [p.question for p in pairs if p.language == "en"]
    korean = [p.question for p in pairs if p.language == "ko"]
    for q in (english[0], korean[0]):  # warm-up: both embedders loaded, first calls paid
        bot.search(q, k=5)
        bot.ask(q)

    def timed(fn: Callable[[str], object], q: str) -> tuple[float, object]:
        began = time.perf_counter()
        result = fn(q)
        return (time.perf_counter() - began) * 1000, result

    search = [timed(lambda q: bot.search(q, k=5), q) for q in questions]
    rows_per_question = max(counted.rows, default=0)
    asks = [timed(bot.ask, q)[0] for q in questions]
    test = [i for i, p in enumerate(pairs) if p.split == "test"]
    origins = load_origins(Path(args["corpus"]))
    recall, strict = recall_at_5([pairs[i] for i in test], [search[i][1] for i in test], origins)

    # What the machine gives two busy processes at this moment: 8 clients cannot beat it.
    available = cores_available()
    clients = args["clients"]
    concurrency = {
        "search": compare(lambda q: bot.search(q, k=5), questions, clients, rounds=3),
        "ask": compare(bot.ask, questions, clients, rounds=3),
    }
    with scripted_model(bot) as llm:
        llm.ask(questions[0])
        # Users of the LLM path mostly wait on the model; their waits must overlap.
        concurrency["ask_llm"] = compare(llm.ask, questions, clients, total=40)
    return {
        "open_s": round(open_s, 2),
        "search_ms": ms([s for s, _ in search]),
        "search_en_ms": ms([search[i][0] for i, p in enumerate(pairs) if p.language == "en"]),
        "search_ko_ms": ms([search[i][0] for i, p in enumerate(pairs) if p.language == "ko"]),
        "search_test_ms": ms([search[i][0] for i in test]),
        "ask_ms": ms(asks),
        "recall_at_5": recall,
        "recall_at_5_strict": strict,
        "max_rows_read_per_question": rows_per_question,
        "concurrency": concurrency,
        "cores_available": available,
        "peak_rss_mb": rss_mb(),
        "questions": len(questions),
        "korean": len(korean),
    }


def throughput(
    fn: Callable[[str], object],
    questions: list[str],
    workers: int,
    total: int,
    cpu: Callable[[], float] = time.process_time,
) -> dict:
    """``total`` calls of ``fn`` (cycling through ``questions``) from ``workers`` threads;
    ``cpu`` is the CPU seconds used so far by whatever serves them (this process's own)."""
    from concurrent.futures import ThreadPoolExecutor

    errors = 0

    def call(i: int) -> None:
        nonlocal errors
        try:
            fn(questions[i % len(questions)])
        except Exception:
            errors += 1

    began, used = time.perf_counter(), cpu()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(call, range(total)))
    seconds = time.perf_counter() - began
    return {
        "per_s": round(total / seconds, 2),
        "requests": total,
        "errors": errors,
        "seconds": seconds,
        # Cores kept busy: with both of this machine's cores busy, more clients can only
        # queue, so this bounds the speedup.
        "cores_busy": round((cpu() - used) / seconds, 2),
    }


def compare(
    fn: Callable[[str], object],
    questions: list[str],
    clients: int,
    *,
    total: int | None = None,
    rounds: int = 1,
    cpu: Callable[[], float] = time.process_time,
) -> dict:
    """One client and ``clients`` at once in alternating rounds, summed: on a shared machine
    a single pair of runs a second long swung between 1.0x and 1.4x a minute apart."""
    total = total or len(questions)
    runs = [
        (
            throughput(fn, questions, 1, total, cpu),
            throughput(fn, questions, clients, total, cpu),
        )
        for _ in range(rounds)
    ]
    one, many = (_summed([r[side] for r in runs]) for side in (0, 1))
    return {
        "one_client": one,
        f"{clients}_clients": many,
        "speedup": round(many["per_s"] / one["per_s"], 2),
        "rounds": rounds,
    }


def serve_http(args: dict) -> dict:
    """8 concurrent HTTP clients against ``episode-assistant serve`` (POST /search, k=5), with
    one worker process and with ``server.workers`` = the machine's cores: what many users of
    the HTTP API get. The clients run in this process; the cores counted are the server's."""
    pairs = load_pairs()
    questions = [p.question for p in pairs]
    out: dict = {"cores_available": cores_available()}
    for workers in sorted({1, args.get("workers") or os.cpu_count() or 1}):
        with HttpServer(args, workers) as server:
            for q in questions[:20]:  # every worker warm: first calls paid
                server.search(q)
            out[f"workers_{workers}"] = compare(
                server.search, questions, args["clients"], rounds=3, cpu=server.cpu_seconds
            )
    return out


class HttpServer:
    """``episode-assistant serve`` on a free loopback port, with ``workers`` processes."""

    def __init__(self, args: dict, workers: int) -> None:
        self.args, self.workers = args, workers

    def __enter__(self) -> HttpServer:
        import socket
        import subprocess
        import urllib.request

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        env = {
            **os.environ,
            "EPISODE_ASSISTANT_CORPUS_DIR": self.args["corpus"],
            "EPISODE_ASSISTANT_INDEX_DIR": self.args["index"],
            "EPISODE_ASSISTANT_ANSWERER": "offline",
            # Each question embedded afresh, as in the in-process figures.
            "EPISODE_ASSISTANT_RETRIEVAL__QUERY_CACHE": "0",
        }
        command = ["serve", "--port", str(self.port), "--workers", str(self.workers)]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "assistant", *command],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2):
                    break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.proc.kill()
                    raise RuntimeError(
                        f"the HTTP server did not start ({self.workers} workers)"
                    ) from None
                time.sleep(0.3)
        return self

    def __exit__(self, *exc: object) -> None:
        import signal

        self.proc.send_signal(signal.SIGINT)  # uvicorn stops its workers, then itself
        try:
            self.proc.wait(timeout=30)
        except Exception:
            self.proc.kill()
            self.proc.wait()

    def search(self, query: str) -> None:
        """POST /search on a connection of its own; an error status raises.

        Not keep-alive: 8 keep-alive connections opened in one burst went 8 to 0 to one
        worker in one of three tries (whichever was awake accepted them all) and stayed
        there, so a run timed the kernel's accept race (2 workers 0.99x against 1.84x with a
        connection a request, in one run); a new connection goes to a worker free to take it.
        """
        import http.client

        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            conn.request(
                "POST",
                "/search",
                json.dumps({"query": query, "k": 5}),
                {"Content-Type": "application/json", "Connection": "close"},
            )
            response = conn.getresponse()
            body = response.read()
        finally:
            conn.close()
        if response.status != 200:
            raise RuntimeError(f"/search answered {response.status}: {body[:200]!r}")

    def cpu_seconds(self) -> float:
        """CPU seconds the server and its worker processes have used so far."""
        pids = [self.proc.pid]
        for pid in pids:  # grows while it is walked: each worker's own children too
            for task in Path(f"/proc/{pid}/task").glob("*/children"):
                pids.extend(int(c) for c in task.read_text().split())
        ticks = 0
        for pid in pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            ticks += int(fields[11]) + int(fields[12])  # utime + stime
        return ticks / os.sysconf("SC_CLK_TCK")


def _summed(runs: list[dict]) -> dict:
    """Throughput runs of one client count taken together."""
    seconds = sum(r["seconds"] for r in runs)
    requests = sum(r["requests"] for r in runs)
    return {
        "per_s": round(requests / seconds, 2),
        "requests": requests,
        "errors": sum(r["errors"] for r in runs),
        "seconds": round(seconds, 2),
        "cores_busy": round(sum(r["cores_busy"] * r["seconds"] for r in runs) / seconds, 2),
    }


def incremental(args: dict) -> dict:
    """Add one new episode (text no cache has seen) and re-index."""
    from benchmarks.synthetic import new_article

    corpus = Path(args["corpus"])
    name, text = new_article(corpus, NEW_EPISODE_NUMBER, args["seed"])
    (corpus / name).write_text(text, encoding="utf-8")
    bot = Assistant(settings_for(args))
    started = time.perf_counter()
    report = bot.index()
    seconds = time.perf_counter() - started
    manifest = bot.store.manifest()
    new_chunks = manifest.files[name].chunks
    spaces = 2 if manifest.crosslingual else 1
    return {
        "seconds": round(seconds, 1),
        "added": report.added,
        "unchanged_files": len(report.unchanged),
        "new_chunks": new_chunks,
        "embedded": report.embedded,
        "only_new_episode_embedded": report.embedded == new_chunks * spaces,
        "chunks": report.chunks,
        "peak_rss_mb": rss_mb(),
    }


TASKS: dict[str, Callable[[dict], dict]] = {
    "embed": embed,
    "query_embed": query_embed,
    "cold": cold,
    "first": first,
    "build": build,
    "serve": serve,
    "http": serve_http,
    "baseline": llamaindex_baseline,
    "incremental": incremental,
}


if __name__ == "__main__":
    _result = TASKS[sys.argv[1]](json.loads(sys.argv[2]) if len(sys.argv) > 2 else {})
    print(json.dumps(_result, ensure_ascii=False))
