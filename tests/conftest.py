"""Shared fixtures: the network is cut for the whole suite, and one index of the shipped
episodes is built once (from the shipped embedding cache) for every test that reads it."""

from __future__ import annotations

import ipaddress
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import assistant  # noqa: F401  (sets the offline switches before anything else loads)
from assistant import Assistant, Settings

ROOT = Path(__file__).resolve().parent.parent
EPISODES = ROOT / "episodes"
VENV_BIN = Path(sys.executable).parent
_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _is_loopback(address: object) -> bool:
    if not isinstance(address, tuple) or not address:
        return True  # unix sockets
    host = str(address[0])
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class NetworkBlocked(OSError):
    """Raised when code under test tries to reach beyond this machine."""


def _guard(address: object) -> None:
    if not _is_loopback(address):
        raise NetworkBlocked(f"test tried to reach the network: {address!r}")


def _connect(self: socket.socket, address: object) -> None:
    _guard(address)
    return _real_connect(self, address)


def _connect_ex(self: socket.socket, address: object) -> int:
    _guard(address)
    return _real_connect_ex(self, address)


@pytest.fixture(scope="session", autouse=True)
def no_network():
    """Only loopback connections are allowed: the suite passes with the network gone."""
    socket.socket.connect = _connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _connect_ex  # type: ignore[method-assign]
    yield
    socket.socket.connect = _real_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _real_connect_ex  # type: ignore[method-assign]


@pytest.fixture(scope="session")
def index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An index of the shipped episodes, built once per session."""
    path = tmp_path_factory.mktemp("index")
    Assistant(Settings(index_dir=path, corpus_dir=EPISODES, answerer="offline")).index()
    return path


@pytest.fixture(scope="session")
def bot(index_dir: Path) -> Assistant:
    """An offline assistant over the shipped episodes (shared: treat as read-only)."""
    return Assistant(Settings(index_dir=index_dir, corpus_dir=EPISODES, answerer="offline"))


@pytest.fixture
def corpus_copy(tmp_path: Path) -> Path:
    """A private copy of the shipped corpus (with its embedding cache) to modify."""
    target = tmp_path / "episodes"
    shutil.copytree(EPISODES, target)
    return target


@pytest.fixture
def private_index(tmp_path: Path, index_dir: Path) -> Path:
    """A private copy of the session index, for tests that change it."""
    target = tmp_path / "index"
    shutil.copytree(index_dir, target)
    return target


def cli_env(index_dir: Path, **extra: str) -> dict[str, str]:
    """The environment for a command over ``index_dir`` and the shipped corpus, offline,
    with no settings leaking in from the developer's own environment."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("EPISODE_ASSISTANT_", "OPENAI_"))
    }
    env.update(
        EPISODE_ASSISTANT_INDEX_DIR=str(index_dir),
        EPISODE_ASSISTANT_CORPUS_DIR=str(EPISODES),
        EPISODE_ASSISTANT_ANSWERER="offline",
        **extra,
    )
    return env


def wait_until_serving(proc: subprocess.Popen, base: str, seconds: float = 60) -> None:
    """Return once ``base``/healthz answers 200; fail with the server's stderr if ``proc``
    exits or ``seconds`` pass first."""
    import httpx

    deadline = time.monotonic() + seconds
    while True:
        try:
            if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"serve did not start: {proc.stderr.read() if proc.stderr else ''}")
        time.sleep(0.2)


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def chroma_server(tmp_path: Path):
    """A real `chroma run` server on a free loopback port; yields the port."""
    port = free_port()
    proc = subprocess.Popen(
        [str(VENV_BIN / "chroma"), "run", "--path", str(tmp_path / "server"), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    yield port
    proc.terminate()
    proc.wait(timeout=10)


def pytest_terminal_summary(terminalreporter) -> None:
    """Print the reliability counts (tests/counts.py) of the tests that ran."""
    from counts import COUNTS

    if COUNTS:
        terminalreporter.section("reliability counts")
        for name, n in sorted(COUNTS.items()):
            terminalreporter.write_line(f"{name}: {n}")
