"""Reliability: an app keeps answering while another process updates and rebuilds its index,
a build killed with ``kill -9`` at any of several moments leaves an index that answers, and
one ``index --rebuild`` recovers from each kind of damage, naming what it replaced.

Each test adds to ``tests/counts.py``; the run's terminal summary prints the counts (the leak
tests in test_ui_browser, test_llm and test_slack add theirs), as the README quotes them.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from conftest import EPISODES
from counts import COUNTS

from assistant import Assistant, Settings
from assistant.schema import Answer

VENV_BIN = Path(sys.executable).parent

CLIENTS = 8
# (question, episode filter): filtered ones read an episode's chunks by id, where "Error
# finding id" hit; the quokka ones change with the update.
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
        # "After" is what the app itself answers once it has moved to the new generation.
        # A fresh Assistant in this process sees the update (it shared the stale client).
        fresh = Assistant(app)
        assert (
            "quokka" in fresh.ask("What is the quokka marmalade benchmark?", episode="EP 81").text
        )
        _moved(bot, fresh.retriever().manifest.generation)
        updated = answers(bot)
        during_update = len(seen)
        _cli(["index", "--rebuild"], writer_env)
        _moved(bot, Assistant(app).retriever().manifest.generation)
        rebuilt = answers(bot)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
    COUNTS["questions asked during updates"] += len(seen)
    COUNTS["errors"] += len(errors)
    assert not errors, errors[:3]
    assert before != updated, "the update must change some answer, or this test cannot fail"
    # Once the rebuild is in use, its answers count as "after" too (it stores every chunk
    # anew, under new ids).
    unexpected = [
        (key, sig)
        for i, (key, sig) in enumerate(seen)
        if sig not in (before[key], updated[key]) and (i < during_update or sig != rebuilt[key])
    ]
    COUNTS["answers neither before nor after"] += len(unexpected)
    assert not unexpected, [(*u, before[u[0]], updated[u[0]]) for u in unexpected[:1]]
    assert len(seen) >= 4 * CLIENTS


def _moved(bot: Assistant, generation: int) -> None:
    """Wait until ``bot`` answers from ``generation`` (it looks every 2 s by itself)."""
    deadline = time.monotonic() + 30  # a loaded CI machine is slow
    while bot.retriever().manifest.generation != generation:
        assert time.monotonic() < deadline, f"the app never moved to generation {generation}"
        time.sleep(0.2)


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


# --- kill -9 -----------------------------------------------------------------------------------


def _kill_when(command: list[str], env: dict[str, str], moment: Callable[[], bool]) -> bool:
    """Start ``command`` and kill -9 it (its whole group) once ``moment()`` holds; False if it
    finished first."""
    build = subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while build.poll() is None and not moment():
        assert time.monotonic() < deadline, "the moment to kill the build never came"
        time.sleep(0.005)
    if build.poll() is not None:
        return False
    os.killpg(build.pid, signal.SIGKILL)
    build.wait()
    return True


@pytest.mark.timeout(300)
def test_kill_9_at_several_moments_of_a_rebuild_leaves_an_index_that_answers(
    private_index: Path, bot
) -> None:
    env = {
        **os.environ,
        "EPISODE_ASSISTANT_INDEX_DIR": str(private_index),
        "EPISODE_ASSISTANT_CORPUS_DIR": str(EPISODES),
        "EPISODE_ASSISTANT_ANSWERER": "offline",
    }
    config = _settings(index_dir=private_index, corpus_dir=EPISODES)
    expected = signature(bot.ask(PROBE))
    # python -m: this checkout's code, as the rest of the run tests it.
    command = [sys.executable, "-m", "assistant", "index", "--rebuild"]

    def listing(folder: str) -> set[str]:
        return {p.name for p in (private_index / folder).iterdir()}

    def changed(folder: str) -> Callable[[], bool]:
        before = listing(folder)
        return lambda: listing(folder) != before

    def after(seconds: float) -> Callable[[], bool]:
        started = time.monotonic()
        return lambda: time.monotonic() - started > seconds

    moments = {
        "loading the embedders": lambda: after(1.5),
        "writing the new generation to Chroma": lambda: changed("chroma"),
        "saving the keyword index": lambda: changed("lexical"),
    }
    killed = []
    for _ in range(2):  # each moment twice: the second run cleans up after the first
        for name, moment in moments.items():
            if _kill_when(command, env, moment()):
                killed.append(name)
                assert signature(Assistant(config).ask(PROBE)) == expected, f"killed {name}"
                COUNTS["kills survived"] += 1
    assert len(killed) >= 4, f"only {killed} caught the build still running"
    # The next run finishes what the killed ones left.
    report = Assistant(config).index()
    assert report.chunks > 400 and signature(Assistant(config).ask(PROBE)) == expected


# --- damage ----------------------------------------------------------------------------------

PROBE = "What did Seonghyun say about MoE's compute multiplier?"


def _truncate(path: Path) -> None:
    with path.open("r+b") as f:
        f.truncate(path.stat().st_size // 3)


def _rebuild_recovers(index: Path, names: str, reference: Assistant) -> None:
    config = _settings(index_dir=index, corpus_dir=EPISODES)
    report = Assistant(config).index(rebuild=True)
    assert report.chunks > 0 and any(names in note for note in report.replaced), report.replaced
    assert signature(Assistant(config).ask(PROBE)) == signature(reference.ask(PROBE))
    COUNTS["damage cases recovered"] += 1


def test_a_truncated_chroma_sqlite_is_replaced_by_one_rebuild(private_index: Path, bot) -> None:
    _truncate(private_index / "chroma" / "chroma.sqlite3")
    _rebuild_recovers(private_index, "chroma.sqlite3", bot)


def test_a_deleted_chroma_sqlite_leaves_no_segment_folders(private_index: Path, bot) -> None:
    folder = private_index / "chroma"
    (folder / "chroma.sqlite3").unlink()
    old = {p.name for p in folder.iterdir()}
    _rebuild_recovers(private_index, "without their chroma.sqlite3", bot)
    assert not old & {p.name for p in folder.iterdir()}


def test_a_truncated_embedding_cache_is_replaced(private_index: Path, bot) -> None:
    _truncate(private_index / "embeddings.sqlite")
    _rebuild_recovers(private_index, "embeddings.sqlite", bot)


@pytest.mark.parametrize("damage", ["zeroed BM25 arrays", "reordered rows.json"])
def test_a_tampered_bm25_index_is_rebuilt_not_trusted(private_index: Path, damage: str) -> None:
    config = _settings(index_dir=private_index, corpus_dir=EPISODES)
    questions = [PROBE, "Who is moving to London?", "environment scaling", "Diplomacy Cicero"]
    expected = [[h.id for h in Assistant(config).search(q)] for q in questions]
    for snapshot in (private_index / "lexical").iterdir():
        if damage == "zeroed BM25 arrays":
            for array in (snapshot / "bm25").glob("*.npy"):
                data = np.load(array)
                if data.dtype.kind == "f":
                    np.save(array, np.zeros_like(data))
        else:
            rows = snapshot / "rows.json"
            record = json.loads(rows.read_text("utf-8"))
            for key in ("ids", "episodes", "english", "files"):
                record[key] = record[key][::-1]
            rows.write_text(json.dumps(record), "utf-8")
    assert [[h.id for h in Assistant(config).search(q)] for q in questions] == expected
    COUNTS["damage cases recovered"] += 1  # without a rebuild: the app replaces it


def test_zz_print_counts() -> None:
    """The figures so far (the run's summary prints them all, other modules' too)."""
    print("\nreliability counts\n  " + "\n  ".join(f"{k}: {n}" for k, n in sorted(COUNTS.items())))
    assert COUNTS["errors"] == 0
