"""The command line as a user types it: --version, python -m assistant, index --json, the
chat commands, and commands that load only what they need."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from conftest import EPISODES, cli_env, free_port

VENV_BIN = Path(sys.executable).parent


def _run(
    args: list[str],
    index_dir: Path,
    stdin: str | None = None,
    module: bool = False,
    **settings: str,
) -> subprocess.CompletedProcess[str]:
    env = cli_env(index_dir, **settings)
    command = (
        [sys.executable, "-m", "assistant"] if module else [str(VENV_BIN / "episode-assistant")]
    )
    return subprocess.run(
        command + args, input=stdin, env=env, capture_output=True, text=True, timeout=120
    )


def test_version_from_the_command_and_from_python_m(index_dir: Path) -> None:
    command = _run(["--version"], index_dir)
    module = _run(["--version"], index_dir, module=True)
    assert command.returncode == module.returncode == 0
    assert command.stdout.startswith("episode-assistant 0.") and module.stdout == command.stdout


def test_index_json_reports_what_it_did(private_index: Path) -> None:
    result = _run(["--quiet", "index", "--json"], private_index)
    report = json.loads(result.stdout)
    assert result.returncode == 0
    assert report["changed"] is False and report["chunks"] > 400 and len(report["unchanged"]) == 5


def test_index_warns_of_a_large_file_before_it_starts_and_shows_its_progress(
    private_index: Path, corpus_copy: Path
) -> None:
    # Thresholds lowered to an episode's size: a real 10 MB file takes a minute to index.
    episode = (corpus_copy / "000_ffc5dd2c9992a3bc.txt").read_text(encoding="utf-8")
    (corpus_copy / "big.txt").write_text(episode.replace("EP 81", "EP 181", 1), "utf-8")
    result = _run(
        ["index", "--corpus", str(corpus_copy)],
        private_index,
        module=True,  # this checkout's code, not the installed one's
        EPISODE_ASSISTANT_WARN_FILE_MB="0.02",
        EPISODE_ASSISTANT_WARN_CHAPTERS="10",
    )
    assert result.returncode == 0, result.stderr
    size = f"warning: big.txt: {len(episode.encode()) / 1e6:.1f} MB: indexing it takes a while"
    chapters = "warning: big.txt: 14 chapters: indexing it takes a while"
    # Said once each (at once, not again in the summary), and only of the file being indexed.
    assert result.stderr.count(size) == 1 and result.stderr.count(chapters) == 1
    assert "000_ffc5dd2c9992a3bc.txt: " not in result.stderr
    # Then a bar for each stage, storing included.
    assert "reading episodes" in result.stderr and "storing (" in result.stderr
    assert "1 added" in result.stdout


def test_chat_help_small_talk_and_quit(index_dir: Path) -> None:
    result = _run(["chat"], index_dir, stdin="/help\nhi!\nwhy?\n/frobnicate\n/quit\nMoE?\n")
    assert result.returncode == 0
    assert "/new" in result.stdout and "/quit" in result.stdout  # /help lists the commands
    # "hi!" and a bare "why?" are not searched; each gets the reminder.
    assert result.stdout.count("Ask me a question about the episodes") == 2
    assert "Unknown command /frobnicate" in result.stderr
    assert "Sources" not in result.stdout  # /quit left before the last line was asked


def test_chat_a_short_follow_up_is_asked_not_brushed_off(index_dir: Path) -> None:
    result = _run(["chat"], index_dir, stdin="What is MoE?\nwhy?\nthanks\n")
    assert result.returncode == 0
    assert result.stdout.count("Sources") == 2  # the question and "why?" were answered
    assert result.stdout.count("Ask me a question about the episodes") == 1  # "thanks"


def test_ask_loads_no_server_framework(index_dir: Path) -> None:
    code = (
        "import sys; from assistant import Assistant, Settings\n"
        f"bot = Assistant(Settings(index_dir={str(index_dir)!r}, corpus_dir={str(EPISODES)!r}, "
        "answerer='offline'))\n"
        "assert bot.ask('What is MoE?').citations\n"
        "roots = {m.split('.')[0] for m in sys.modules}\n"
        "print(sorted(roots & {'fastapi', 'mcp', 'uvicorn', 'gradio', 'slack_bolt'}))\n"
        "print(sorted(m for m in sys.modules if m.startswith('assistant.surfaces')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:2] == ["[]", "[]"]


def test_verbosity_flags_set_the_log_level(index_dir: Path) -> None:
    args = ["search", "compute multiplier", "-k", "1"]
    default, debug, quiet = (_run(flags + args, index_dir) for flags in ([], ["-vv"], ["--quiet"]))
    assert default.returncode == debug.returncode == quiet.returncode == 0
    assert "DEBUG " in debug.stderr and "DEBUG " not in default.stderr
    assert quiet.stderr == "" and quiet.stdout == default.stdout  # logs never touch stdout


@pytest.mark.server
def test_ui_takes_host_and_port_from_the_command_line(index_dir: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [str(VENV_BIN / "episode-assistant"), "ui", "--host", "127.0.0.1", "--port", str(port)],
        env=cli_env(index_dir),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        # The page prints where it is once it listens.
        lines = (proc.stdout.readline() for _ in range(20))
        assert any(f"127.0.0.1:{port}" in line for line in lines)
        assert httpx.get(f"http://127.0.0.1:{port}/", timeout=30).status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=20)
