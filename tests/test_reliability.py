"""Reliability: an app keeps answering while another process updates and rebuilds its index,
and the counts the README quotes.

Each test adds its counts to ``COUNTS``; the module prints them at the end (run with ``-s``
to see them, or read them in the terminal summary).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from conftest import EPISODES

from assistant import Assistant, Settings
from assistant.schema import Answer

VENV_BIN = Path(sys.executable).parent
COUNTS: Counter[str] = Counter()

CLIENTS = 8
# (question, episode filter): unfiltered questions go through Chroma's HNSW search, filtered
# ones through the exact scoring of an episode's stored vectors (where "Error finding id" hit).
QUESTIONS = [
    ("What did Seonghyun say about MoE's compute multiplier?", None),
    ("What is the quokka marmalade benchmark?", None),
    ("What is the quokka marmalade benchmark?", "EP 81"),
    ("compute multiplier", "EP 81"),
    ("When do they talk about environment scaling?", "EP 79"),
    ("Who is moving to London?", None),
    ("What did Noam say about Diplomacy?", None),
]
EP81 = "000_ffc5dd2c9992a3bc.txt"
ADDED = (
    "\nSeonghyun Kim The quokka marmalade benchmark measures how much the compute multiplier "
    "of a sparse model grows. Nobody had heard of the quokka marmalade benchmark before.\n"
)


def signature(answer: Answer) -> tuple:
    """What a user sees of an answer (chunk ids differ between generations, so not those)."""
    return (
        answer.text,
        answer.abstained,
        tuple((c.episode, c.timestamp, c.speaker, c.quote) for c in answer.citations),
    )


def answers(bot: Assistant) -> dict[tuple, tuple]:
    return {(q, ep): signature(bot.ask(q, episode=ep)) for q, ep in QUESTIONS}


def _cli(args: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(
        [str(VENV_BIN / "episode-assistant"), *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]


def _update_while_asking(app: Settings, writer_env: dict[str, str], corpus: Path) -> None:
    """8 clients ask one long-lived app while another process updates, then rebuilds."""
    bot = Assistant(app)
    before = answers(bot)
    seen: list[tuple[tuple, tuple]] = []
    errors: list[str] = []
    stop = threading.Event()

    def client(n: int) -> None:
        i = n
        while not stop.is_set():
            q, ep = QUESTIONS[i % len(QUESTIONS)]
            i += 1
            try:
                seen.append(((q, ep), signature(bot.ask(q, episode=ep))))
            except Exception as exc:  # every kind counts: the user saw an error
                errors.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for t in threads:
        t.start()
    try:
        time.sleep(1)
        path = corpus / EP81
        path.write_text(path.read_text(encoding="utf-8") + ADDED, encoding="utf-8")
        _cli(["index"], writer_env)
        updated = answers(Assistant(app))  # a fresh app's view of the update
        during_update = len(seen)
        _cli(["index", "--rebuild"], writer_env)
        generation = Assistant(app).retriever().manifest.generation
        deadline = time.monotonic() + 30  # the app looks every 2 s; a loaded CI machine is slow
        while bot.retriever().manifest.generation != generation:
            assert time.monotonic() < deadline, "the long-lived app never moved to the rebuild"
            time.sleep(0.2)
        rebuilt = answers(bot)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
    COUNTS["questions asked during updates"] += len(seen)
    COUNTS["errors"] += len(errors)
    assert not errors, errors[:3]
    assert before != updated, "the update must change some answer, or this test cannot fail"
    # A rebuild makes a new HNSW graph, whose approximate nearest neighbours may differ a little
    # from the update's: once it is in use, its own answers count as "after" too.
    unexpected = [
        (key, sig)
        for i, (key, sig) in enumerate(seen)
        if sig not in (before[key], updated[key]) and (i < during_update or sig != rebuilt[key])
    ]
    COUNTS["answers neither before nor after"] += len(unexpected)
    assert not unexpected, [(*u, before[u[0]], updated[u[0]]) for u in unexpected[:1]]
    assert len(seen) >= 4 * CLIENTS


def _settings(**kw: object) -> Settings:
    return Settings(answerer="offline", **kw)


@pytest.mark.timeout(300)
def test_questions_during_an_update_in_another_process_embedded(private_index, corpus_copy):
    app = _settings(index_dir=private_index, corpus_dir=corpus_copy)
    env = {
        "EPISODE_ASSISTANT_INDEX_DIR": str(private_index),
        "EPISODE_ASSISTANT_CORPUS_DIR": str(corpus_copy),
    }
    _update_while_asking(app, env, corpus_copy)


@pytest.mark.server
@pytest.mark.timeout(300)
def test_questions_during_an_update_in_another_process_server(tmp_path, corpus_copy, chroma_server):
    server = {"chroma_host": "127.0.0.1", "chroma_port": chroma_server}
    Assistant(_settings(index_dir=tmp_path / "w", corpus_dir=corpus_copy, **server)).index()
    app = _settings(index_dir=tmp_path / "app", corpus_dir=corpus_copy, **server)
    env = {
        "EPISODE_ASSISTANT_INDEX_DIR": str(tmp_path / "w"),
        "EPISODE_ASSISTANT_CORPUS_DIR": str(corpus_copy),
        "EPISODE_ASSISTANT_CHROMA_HOST": "127.0.0.1",
        "EPISODE_ASSISTANT_CHROMA_PORT": str(chroma_server),
    }
    _update_while_asking(app, env, corpus_copy)


def test_zz_print_counts() -> None:
    """The figures the README quotes (last in the module, so every count is in)."""
    lines = [f"{name}: {n}" for name, n in sorted(COUNTS.items())]
    print("\nreliability counts\n  " + "\n  ".join(lines))
    assert EPISODES.exists()
