"""Many users at once: `episode-assistant serve --workers 2` serves the HTTP API from two
processes, each serving what the command line asked for (its corpus, its key), not the
defaults a fresh process would read; and a Python program that imported numpy first still
searches with one BLAS thread per call (two made concurrent searches queue)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from conftest import cli_env, free_port, wait_until_serving

from assistant.config import Settings

pytestmark = pytest.mark.server

KEY = "key-for-the-workers"
NEW_FILE = "new_700.txt"
NEW_TEXT = (
    "EP 700: Marmalade notes\n\n"
    "Quokka marmalade is what the team ate while the zeppelin benchmark ran overnight. "
    "Everyone agreed the quokka marmalade was better than the benchmark results.\n"
)


def _workers(pid: int) -> list[int]:
    """Child processes of ``pid`` that multiprocessing spawned to run code (uvicorn's
    workers; not its resource tracker)."""
    children = [
        int(c)
        for task in Path(f"/proc/{pid}/task").glob("*/children")
        for c in task.read_text().split()
    ]
    return [c for c in children if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]


@pytest.mark.timeout(240)
def test_two_worker_processes_serve_the_command_lines_corpus(
    tmp_path: Path, corpus_copy: Path
) -> None:
    (corpus_copy / NEW_FILE).write_text(NEW_TEXT, encoding="utf-8")
    port = free_port()
    # The environment names the shipped corpus; --corpus the copy with the new episode.
    env = cli_env(tmp_path / "index", EPISODE_ASSISTANT_API_KEY=KEY)
    command = ["serve", "--corpus", str(corpus_copy), "--port", str(port), "--workers", "2"]
    proc = subprocess.Popen(
        # The module, not the console script: this checkout's code wherever it is installed.
        [sys.executable, "-m", "assistant", "--quiet", *command],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base, auth = f"http://127.0.0.1:{port}", {"Authorization": f"Bearer {KEY}"}
    try:
        wait_until_serving(proc, base, seconds=180)
        deadline = time.monotonic() + 60
        # Both workers up (one may answer before the other has opened the index).
        while len(_workers(proc.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.3)
        assert len(_workers(proc.pid)) == 2
        with httpx.Client(timeout=30) as client:
            for _ in range(12):  # new connections: whichever worker accepts, the same answer
                reply = client.post(
                    base + "/search",
                    json={"query": "quokka marmalade zeppelin", "k": 3},
                    headers={**auth, "Connection": "close"},
                )
                assert reply.status_code == 200, reply.text
                assert reply.json()[0]["source_file"] == NEW_FILE
            refused = client.post(base + "/search", json={"query": "quokka", "k": 1})
            assert refused.status_code == 401
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_exported_settings_are_what_a_fresh_process_reads(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The group's own variable would otherwise win over what the command line set.
    monkeypatch.setenv("EPISODE_ASSISTANT_INDEX__CORPUS_DIR", str(tmp_path / "from-env"))
    monkeypatch.setenv("EPISODE_ASSISTANT_TOP_K", "7")
    given = Settings(corpus_dir=tmp_path / "from-cli", top_k=3, api_key="secret", server_workers=2)
    environ = dict(os.environ)
    given.export(environ)  # what a worker process starts with
    for name in set(os.environ) - set(environ):
        monkeypatch.delenv(name)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    fresh = Settings()
    assert fresh.model_dump() == given.model_dump()
    assert fresh.index.corpus_dir == tmp_path / "from-cli" and fresh.retrieval.top_k == 3
    assert fresh.server.api_key is not None and fresh.server.api_key.get_secret_value() == "secret"


# A user's script that loads numpy before the assistant, so the OPENBLAS_NUM_THREADS that
# ``assistant.offline`` sets comes too late for it.
NUMPY_FIRST = r"""
import json
import numpy
from threadpoolctl import threadpool_info
from assistant import Assistant

Assistant().search("compute multiplier of MoE models", k=1)
print(json.dumps([i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]))
"""


def test_a_script_that_imported_numpy_first_searches_with_one_blas_thread(
    index_dir: Path,
) -> None:
    env = {k: v for k, v in cli_env(index_dir).items() if k != "OPENBLAS_NUM_THREADS"}
    run = subprocess.run(
        [sys.executable, "-c", NUMPY_FIRST], env=env, capture_output=True, text=True, check=True
    )
    threads = json.loads(run.stdout.strip().splitlines()[-1])
    assert threads and set(threads) == {1}
