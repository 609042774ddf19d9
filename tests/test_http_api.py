"""The HTTP API as other programs use it: the official ``openai`` client against a real
`episode-assistant serve` process (streaming included), and plain HTTP for /search, /ask,
the API key and bad requests."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import openai
import pytest
import uvicorn
from conftest import cli_env, free_port, wait_until_serving
from fastapi.testclient import TestClient

from assistant import Answer, Assistant, Hit, Turn
from assistant.surfaces.http import create_app
from benchmarks.fake_openai import FakeOpenAI, Reply

pytestmark = pytest.mark.server

VENV_BIN = Path(sys.executable).parent
KEY = "test-key-for-the-http-api"
QUESTION = "What did Seonghyun say about MoE's compute multiplier?"
FIRST, FOLLOW_UP = "When do they talk about environment scaling?", "and what did Chester answer?"


@pytest.fixture(scope="module")
def server(index_dir: Path):
    """`episode-assistant serve` on a free port, with an API key; yields its base URL."""
    port = free_port()
    proc = subprocess.Popen(
        [str(VENV_BIN / "episode-assistant"), "--quiet", "serve", "--port", str(port)],
        env=cli_env(index_dir, EPISODE_ASSISTANT_API_KEY=KEY),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    wait_until_serving(proc, base)
    yield base
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="module")
def client(server: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=server + "/v1", api_key=KEY, max_retries=0)


def _extra(obj: object) -> dict:
    return obj.model_extra or {}  # type: ignore[attr-defined]


def test_openai_client_gets_the_answer_with_markers_and_structured_citations(
    client: openai.OpenAI, bot: Assistant
) -> None:
    models = client.models.list().data
    assert [m.id for m in models] == ["episode-assistant"]
    assert client.models.retrieve("episode-assistant").id == "episode-assistant"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("gpt-4o")
    reply = client.chat.completions.create(
        model=models[0].id, messages=[{"role": "user", "content": QUESTION}]
    )
    content = reply.choices[0].message.content or ""
    expected = bot.ask(QUESTION)
    # The same answer the Python API gives, then a sources list a plain chat UI can show.
    assert content.startswith(expected.text)
    assert "[1]" in content and "\n\nSources:\n[1] EP 81" in content
    citations = _extra(reply)["citations"]
    assert citations == [c.model_dump(mode="json") for c in expected.citations]
    assert citations[0]["timestamp"] == "04:34" and citations[0]["speaker"] == "Seonghyun Kim"
    assert reply.choices[0].finish_reason == "stop"


def test_streaming_gives_the_same_reply_and_citations_in_the_last_chunk(
    client: openai.OpenAI,
) -> None:
    whole = client.chat.completions.create(
        model="episode-assistant", messages=[{"role": "user", "content": QUESTION}]
    )
    chunks = list(
        client.chat.completions.create(
            model="episode-assistant",
            messages=[{"role": "user", "content": QUESTION}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    deltas = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta]
    assert len([d for d in deltas if d]) > 1  # it streams, not one block
    assert "".join(d or "" for d in deltas) == whole.choices[0].message.content
    last = next(c for c in chunks if c.choices and c.choices[0].finish_reason)
    assert last.choices[0].finish_reason == "stop"
    assert _extra(last)["citations"] == _extra(whole)["citations"]
    assert chunks[-1].usage is not None  # include_usage: a final usage chunk


def test_prior_messages_become_the_conversation_history(
    client: openai.OpenAI, bot: Assistant
) -> None:
    first = client.chat.completions.create(
        model="episode-assistant", messages=[{"role": "user", "content": FIRST}]
    )
    previous = first.choices[0].message.content or ""
    follow = client.chat.completions.create(
        model="episode-assistant",
        messages=[
            {"role": "system", "content": "You are helpful."},
            {"role": "user", "content": FIRST},
            {"role": "assistant", "content": previous},
            {"role": "user", "content": [{"type": "text", "text": FOLLOW_UP}]},
        ],
    )
    text = follow.choices[0].message.content or ""
    with_history = bot.ask(FOLLOW_UP, history=[Turn(question=FIRST, answer=bot.ask(FIRST).text)])
    assert text.startswith(with_history.text)
    # Without the history the follow-up is another answer: the history was used.
    assert not text.startswith(bot.ask(FOLLOW_UP).text)


def test_bad_requests_get_a_json_4xx_never_a_traceback(server: str, client) -> None:
    auth = {"Authorization": f"Bearer {KEY}"}
    cases = [
        (
            "/v1/chat/completions",
            {"messages": [{"role": "user", "content": "x" * 2001}]},
            "invalid_question",
        ),
        (
            "/v1/chat/completions",
            {
                "messages": [{"role": "user", "content": "MoE?"}],
                "episode": "EP 999",
                "stream": True,
            },
            "unknown_filter",
        ),
        (
            "/v1/chat/completions",
            {"messages": [{"role": "assistant", "content": "hi"}]},
            "invalid_question",
        ),
        ("/v1/chat/completions", {"messages": []}, "invalid_request"),
        ("/search", {"query": "MoE", "speaker": "Nobody Atall"}, "unknown_filter"),
        ("/ask", {"question": "   "}, "invalid_question"),
    ]
    for path, body, code in cases:
        response = httpx.post(server + path, json=body, headers=auth)
        assert response.status_code == 400, (path, body, response.text)
        error = response.json()["error"]
        assert error["code"] == code and error["message"]
        assert "Traceback" not in response.text
    malformed = httpx.post(
        server + "/ask",
        content=b'{"question": "MoE',
        headers={**auth, "content-type": "application/json"},
    )
    assert malformed.status_code == 400 and malformed.json()["error"]["code"] == "invalid_json"
    assert httpx.get(server + "/nowhere", headers=auth).status_code == 404
    with pytest.raises(openai.BadRequestError, match="EP 999"):
        client.chat.completions.create(
            model="episode-assistant",
            messages=[{"role": "user", "content": "MoE?"}],
            extra_body={"episode": "EP 999"},
        )


def test_search_and_ask_return_the_typed_objects(server: str) -> None:
    auth = {"Authorization": f"Bearer {KEY}"}
    hits = httpx.post(
        server + "/search",
        json={"query": "compute multiplier", "k": 3, "episode": "81"},
        headers=auth,
    ).json()
    parsed = [Hit.model_validate(h) for h in hits]
    assert len(parsed) == 3 and {h.episode for h in parsed} == {"EP 81"}
    first = Answer.model_validate(
        httpx.post(server + "/ask", json={"question": FIRST}, headers=auth).json()
    )
    assert first.citations and first.text.count("[1]") == 1
    follow = Answer.model_validate(
        httpx.post(
            server + "/ask",
            json={"question": FOLLOW_UP, "history": [t.model_dump() for t in first.history]},
            headers=auth,
        ).json()
    )
    assert follow.history[0].question == FIRST


def test_concurrent_searches_each_get_their_own_passages(server: str) -> None:
    """Searches queued behind the server's bound on searches at once still answer their own
    query and filters, none mixed up with another's."""
    auth = {"Authorization": f"Bearer {KEY}"}
    asks = [
        {"query": "compute multiplier", "k": 3, "episode": "81"},
        {"query": "environment scaling", "k": 2, "episode": "88"},
        {"query": "Diplomacy and Cicero", "k": 4},
        {"query": "self-play", "k": 1, "speaker": "Noam"},
    ] * 3

    def search(body: dict) -> list[Hit]:
        reply = httpx.post(server + "/search", json=body, headers=auth, timeout=60)
        return [Hit.model_validate(h) for h in reply.raise_for_status().json()]

    alone = [search(body) for body in asks[:4]]
    with ThreadPoolExecutor(len(asks)) as pool:
        together = list(pool.map(search, asks))
    assert [[h.id for h in hits] for hits in together] == [
        [h.id for h in hits] for hits in alone * 3
    ]
    assert {h.episode for h in together[0]} == {"EP 81"} and len(together[2]) == 4


def test_the_api_key_is_required_when_set(server: str) -> None:
    body = {"messages": [{"role": "user", "content": QUESTION}]}
    missing = httpx.post(server + "/v1/chat/completions", json=body)
    wrong = httpx.post(
        server + "/v1/chat/completions", json=body, headers={"Authorization": "Bearer nope"}
    )
    assert missing.status_code == wrong.status_code == 401
    assert wrong.json()["error"]["code"] == "invalid_api_key"
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=server + "/v1", api_key="nope", max_retries=0).models.list()
    assert httpx.get(server + "/healthz").json()["episodes"] == 5  # health checks need no key


def test_no_key_on_loopback_is_open(bot: Assistant) -> None:
    with TestClient(create_app(bot)) as http:
        assert http.get("/v1/models").status_code == 200
        assert http.post("/search", json={"query": "MoE"}).status_code == 200


def test_refuses_a_public_host_without_a_key(index_dir: Path) -> None:
    result = subprocess.run(
        [
            str(VENV_BIN / "episode-assistant"),
            "serve",
            "--host",
            "0.0.0.0",
            "--port",
            str(free_port()),
        ],
        env=cli_env(index_dir),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "EPISODE_ASSISTANT_API_KEY" in result.stderr and "Traceback" not in result.stderr


@contextmanager
def serving(app: object) -> Iterator[str]:
    """``app`` on uvicorn in a thread on a free loopback port; yields the base URL."""
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))  # type: ignore[arg-type]
    sock = socket.create_server(("127.0.0.1", 0))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_a_model_behind_it_streams_through_and_a_failing_one_says_so(bot: Assistant) -> None:
    fake = FakeOpenAI().start()
    settings = bot.settings.model_copy(
        update={
            "answerer": "openai",
            "openai_base_url": fake.base_url,
            "llm_max_retries": 0,
            "llm_timeout": 5.0,
        }
    )
    llm_bot = Assistant(settings)
    llm_bot._embedder, llm_bot._crosslingual = bot.embedder, bot.crosslingual  # loaded already
    said = "Seonghyun Kim calls it the compute multiplier [1]."
    try:
        with serving(create_app(llm_bot)) as base:
            client = openai.OpenAI(base_url=base + "/v1", api_key="unused", max_retries=0)
            fake.script(Reply(text=said))
            chunks = list(
                client.chat.completions.create(
                    model="episode-assistant",
                    messages=[{"role": "user", "content": QUESTION}],
                    stream=True,
                )
            )
            text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
            assert text.startswith(said) and "\n\nSources:\n[1] EP 81" in text
            last = next(c for c in chunks if c.choices and c.choices[0].finish_reason)
            assert _extra(last)["citations"][0]["episode"] == "EP 81"
            assert _extra(last)["notice"] is None

            fake.script(Reply(status=500))
            reply = client.chat.completions.create(
                model="episode-assistant", messages=[{"role": "user", "content": QUESTION}]
            )
            content = reply.choices[0].message.content or ""
            assert content.startswith(bot.ask(QUESTION).text)  # the quoted answer instead
            assert content.endswith("\n\nNote: " + _extra(reply)["notice"])
            assert "LLM unavailable" in _extra(reply)["notice"]
    finally:
        fake.stop()
