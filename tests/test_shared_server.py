"""Shared server mode: one real `chroma run` server, indexed once, two app processes (a UI and a
bot, say) searching it at the same time; after one of them re-indexes, the other's long-lived
Assistant moves to the new generation on its own (it checks every few seconds), its cached
query vectors notwithstanding."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import EPISODES

from assistant import Assistant, Settings

VENV_BIN = Path(sys.executable).parent

# A long-lived app process: one Assistant, settings from the environment, one JSON command a
# line on stdin, one JSON answer a line on stdout.
APP = r"""
import json, sys
from assistant import Assistant
bot = Assistant()
print(json.dumps("ready"), flush=True)
for line in sys.stdin:
    cmd = json.loads(line)
    if cmd["op"] == "search":
        out = [
            {"id": h.id, "episode": h.episode, "timestamp": h.timestamp, "file": h.source_file}
            for h in bot.search(cmd["q"], k=3)
        ]
    elif cmd["op"] == "index":
        report = bot.index()
        out = {"added": report.added, "embedded": report.embedded}
    else:
        out = bot.retriever().manifest.generation
    print(json.dumps(out), flush=True)
"""

QUERIES = [
    "compute multiplier of MoE models",
    "What did Noam say about Diplomacy and Cicero?",
    "environment scaling bottleneck",
]
NEW_FILE = "new_500.txt"
NEW_TEXT = (
    "EP 500: Marmalade notes\n\n"
    "Quokka marmalade is what the team ate while the zeppelin benchmark ran overnight. "
    "Everyone agreed the quokka marmalade was better than the benchmark results.\n"
)


class App:
    """One app process talking JSON lines."""

    def __init__(self, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", APP],
            env={**os.environ, **env},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.read() == "ready"

    def send(self, **cmd: object) -> None:
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()

    def read(self) -> object:
        line = self.proc.stdout.readline()
        assert line, "the app process died"
        return json.loads(line)

    def ask(self, **cmd: object) -> object:
        self.send(**cmd)
        return self.read()

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


@pytest.mark.server
@pytest.mark.timeout(240)
def test_two_app_processes_share_one_chroma_server(tmp_path, chroma_server):
    corpus = tmp_path / "episodes"
    shutil.copytree(EPISODES, corpus)
    common = {
        "EPISODE_ASSISTANT_CHROMA_HOST": "127.0.0.1",
        "EPISODE_ASSISTANT_CHROMA_PORT": str(chroma_server),
        "EPISODE_ASSISTANT_CORPUS_DIR": str(corpus),
        "EPISODE_ASSISTANT_ANSWERER": "offline",
        "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE"),
    }
    # Indexed once, into the server (the embedding cache stays local to whoever indexes).
    report = Assistant(
        Settings(
            corpus_dir=corpus,
            index_dir=tmp_path / "indexer",
            chroma_host="127.0.0.1",
            chroma_port=chroma_server,
            answerer="offline",
        )
    ).index()
    assert report.episodes == 5 and not (tmp_path / "indexer" / "chroma").exists()

    ui = App({**common, "EPISODE_ASSISTANT_INDEX_DIR": str(tmp_path / "ui")})
    slack = App({**common, "EPISODE_ASSISTANT_INDEX_DIR": str(tmp_path / "slack")})
    try:
        # The same questions to both at once: the same, correct passages.
        for q in QUERIES:
            ui.send(op="search", q=q)
            slack.send(op="search", q=q)
            mine, theirs = ui.read(), slack.read()
            assert mine == theirs and len(mine) == 3
            if q == QUERIES[0]:
                assert (mine[0]["episode"], mine[0]["timestamp"]) == ("EP 81", "04:34")
        before = slack.ask(op="search", q="quokka marmalade zeppelin")
        assert NEW_FILE not in {h["file"] for h in before}
        generation = slack.ask(op="generation")

        # The UI process re-indexes after a file is added; only that file is embedded.
        (corpus / NEW_FILE).write_text(NEW_TEXT, encoding="utf-8")
        done = ui.ask(op="index")
        assert done["added"] == [NEW_FILE] and done["embedded"] == 1  # one chunk, one space

        # The bot process, never restarted, moves to the new generation by itself.
        deadline = time.monotonic() + 20
        while True:
            after = slack.ask(op="search", q="quokka marmalade zeppelin")
            if after[0]["file"] == NEW_FILE or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert after[0]["file"] == NEW_FILE and after[0]["episode"] == "EP 500"
        assert slack.ask(op="generation") == generation + 1
        assert slack.ask(op="search", q=QUERIES[0]) == ui.ask(op="search", q=QUERIES[0])
    finally:
        ui.close()
        slack.close()
