"""The Slack adapter end to end: real signed HTTP requests to the adapter's server, a local
stand-in for Slack's Web API that records what Slack would have received, and the project's
scripted model server (benchmarks/fake_openai.py) where an answer is a model's. Nothing of
ours is patched."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import http.client
import itertools
import json
import logging
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from counts import COUNTS
from pydantic import SecretStr

from assistant import Answer, Assistant, Citation, QuestionError, Settings
from assistant.schema import Turn
from assistant.surfaces.bots.core import (
    APOLOGY,
    BotCore,
    BotReply,
    ConversationBook,
    SeenEvents,
    compact_heading,
    split_text,
)
from assistant.surfaces.bots.slack import (
    DELIVERY_APOLOGY,
    THINKING,
    USAGE,
    SlackBot,
    SlackConfigError,
    create_slack_app,
    format_source,
    question_text,
    run_slack,
    slack_messages,
)
from assistant.surfaces.bots.slack_http import SlackHTTPServer
from benchmarks.fake_openai import FakeOpenAI, Reply

pytestmark = pytest.mark.server

BOT_TOKEN = "xoxb-test-0000-NEVER-LOG-THIS"
SIGNING_SECRET = "signing-secret-never-log-this"
BOT_USER = "UBOT"
BOT_ID = "BBOT"
DEADLINE = 20.0


# --- a stand-in for Slack's Web API ---------------------------------------------------------


@dataclass
class Call:
    """One request Slack's Web API received."""

    method: str
    params: dict[str, Any]
    headers: dict[str, str]
    at: float
    response: dict[str, Any] = field(default_factory=dict)


class FakeSlack:
    """Records every Web API call and answers like Slack; responses can be scripted."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self._scripts: dict[str, list[tuple[int, dict[str, Any], dict[str, str]]]] = {}
        self._lock = threading.Lock()
        self._ts = itertools.count(1)
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                if "json" in (self.headers.get("Content-Type") or ""):
                    params = json.loads(raw or "{}")
                else:
                    params = {k: v[0] for k, v in urllib.parse.parse_qs(raw).items()}
                path = self.path.split("?")[0]
                method = path.rsplit("/", 1)[-1] if path.startswith("/api/") else path
                status, body, headers = fake._respond(method, params, dict(self.headers))
                data = json.dumps(body).encode() if isinstance(body, dict) else str(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.api_url = f"http://127.0.0.1:{self.server.server_address[1]}/api/"
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def _respond(
        self, method: str, params: dict[str, Any], headers: dict[str, str]
    ) -> tuple[int, dict[str, Any] | str, dict[str, str]]:
        with self._lock:
            scripted = self._scripts.get(method)
            if scripted:
                status, body, extra = scripted.pop(0)
            else:
                status, body, extra = 200, self._normal(method, params), {}
            self.calls.append(Call(method, params, headers, time.monotonic(), body))
        return status, body, extra

    def _normal(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        if method == "auth.test":
            return {
                "ok": True,
                "url": "https://test.slack.com/",
                "team": "Test",
                "user": "assistant",
                "team_id": "T0001",
                "user_id": BOT_USER,
                "bot_id": BOT_ID,
                "is_enterprise_install": False,
            }
        if method == "chat.postMessage":
            ts = f"1700000000.{next(self._ts):06d}"
            return {"ok": True, "channel": params.get("channel"), "ts": ts, "message": params}
        if method == "chat.update":
            return {"ok": True, "channel": params.get("channel"), "ts": params.get("ts")}
        return {"ok": True}

    def script(self, method: str, *responses: tuple[int, dict[str, Any], dict[str, str]]) -> None:
        """The next calls of ``method`` get these (status, body, headers) instead."""
        with self._lock:
            self._scripts.setdefault(method, []).extend(responses)

    def of(self, method: str, **match: Any) -> list[Call]:
        """Calls of ``method`` whose params include ``match``."""
        with self._lock:
            calls = list(self.calls)
        return [
            c
            for c in calls
            if c.method == method and all(c.params.get(k) == v for k, v in match.items())
        ]

    def in_channel(self, channel: str) -> list[Call]:
        """Every call that posted or updated a message in ``channel``."""
        with self._lock:
            return [c for c in self.calls if c.params.get("channel") == channel]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def wait_for(check: Callable[[], Any], timeout: float = DEADLINE) -> Any:
    """Poll ``check`` until it returns something truthy; fail at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for Slack to receive the answer")
        time.sleep(0.02)


# --- signed requests, computed here rather than with Bolt's helper --------------------------


def sign(body: str, timestamp: str, secret: str = SIGNING_SECRET) -> str:
    base = f"v0:{timestamp}:{body}".encode()
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def post(
    url: str,
    body: str,
    *,
    content_type: str = "application/json",
    timestamp: str | None = None,
    signature: str | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, str, float]:
    """POST a request as Slack would; returns status, body and seconds taken."""
    timestamp = timestamp or str(int(time.time()))
    all_headers = {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": signature if signature is not None else sign(body, timestamp),
        **(headers or {}),
    }
    request = urllib.request.Request(url, data=body.encode(), headers=all_headers, method="POST")
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode(), time.monotonic() - started
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(), time.monotonic() - started


_ids = itertools.count(1)


def new_ts() -> str:
    return f"{int(time.time())}.{next(_ids):06d}"


def event_body(event: dict[str, Any], event_id: str | None = None) -> str:
    return json.dumps(
        {
            "token": "legacy-verification-token",
            "team_id": "T0001",
            "api_app_id": "A0001",
            "event": event,
            "type": "event_callback",
            "event_id": event_id or f"Ev{next(_ids):08d}",
            "event_time": int(time.time()),
        }
    )


def mention(channel: str, text: str, ts: str, thread_ts: str | None = None) -> dict[str, Any]:
    event = {
        "type": "app_mention",
        "user": "U0ASKER",
        "text": f"<@{BOT_USER}> {text}",
        "ts": ts,
        "channel": channel,
        "event_ts": ts,
    }
    if thread_ts:
        event["thread_ts"] = thread_ts
    return event


def dm(channel: str, text: str, ts: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "message",
        "channel_type": "im",
        "user": "U0ASKER",
        "text": text,
        "ts": ts,
        "channel": channel,
        "event_ts": ts,
        **extra,
    }


# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fake_slack() -> Iterator[FakeSlack]:
    fake = FakeSlack()
    yield fake
    fake.close()


def slack_settings(base: Settings, api_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "slack_bot_token": SecretStr(BOT_TOKEN),
        "slack_signing_secret": SecretStr(SIGNING_SECRET),
        "slack_app_token": None,
        "slack_api_url": api_url,
        **overrides,
    }
    return base.model_copy(update=values)


@pytest.fixture(scope="module")
def assistant(bot: Assistant) -> Assistant:
    """The offline assistant over the session index that most tests' bot answers with."""
    return bot


def sharing_models(new: Assistant, owner: Assistant) -> Assistant:
    """``new`` with the embedders ``owner`` loaded already: loading them again costs a second
    or two per assistant and tests nothing here."""
    new._embedder, new._crosslingual = owner.embedder, owner.crosslingual
    return new


class Sleeps(list[float]):
    """Records the waits the Web API wrapper asks for, and waits only briefly."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)
        time.sleep(min(seconds, 0.05))


@pytest.fixture(scope="module")
def sleeps() -> Sleeps:
    return Sleeps()


@contextlib.contextmanager
def serving(
    answerer: Assistant, fake: FakeSlack, sleeps: Sleeps, *, stream_interval: float = 3600
) -> Iterator[tuple[SlackBot, SlackHTTPServer]]:
    """A Slack bot answering with ``answerer``, behind its own HTTP endpoint, posting to
    ``fake``.

    Answers are edited in as they are written only when a test asks (``stream_interval``): an
    offline answer is ready at once, and most tests count the calls Slack receives.
    """
    slack = SlackBot(
        answerer,
        slack_settings(answerer.settings, fake.api_url),
        web_sleep=sleeps,
        stream_interval=stream_interval,
    )
    http = SlackHTTPServer(slack.app, "127.0.0.1", 0).start()
    try:
        yield slack, http
    finally:
        http.stop()
        slack.close()


@pytest.fixture(scope="module")
def served(
    assistant: Assistant, fake_slack: FakeSlack, sleeps: Sleeps
) -> Iterator[tuple[SlackBot, SlackHTTPServer]]:
    with serving(assistant, fake_slack, sleeps) as both:
        yield both


@pytest.fixture(scope="module")
def slack_bot(served: tuple[SlackBot, SlackHTTPServer]) -> SlackBot:
    return served[0]


@pytest.fixture(scope="module")
def server(served: tuple[SlackBot, SlackHTTPServer]) -> SlackHTTPServer:
    return served[1]


# Answers a model writes: only the model server is fake; the assistant, its answer pipeline
# and its citation checks run as they do for a user.


@pytest.fixture(scope="module")
def model() -> Iterator[FakeOpenAI]:
    """The OpenAI-compatible server; each test scripts the reply it needs."""
    fake = FakeOpenAI().start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def writer(assistant: Assistant, model: FakeOpenAI) -> Assistant:
    """An assistant over the session index whose answers a model writes."""
    settings = assistant.settings.model_copy(
        update={
            "answerer": "openai",
            "openai_base_url": model.base_url,
            "openai_api_key": SecretStr("sk-test-not-a-key"),
            "llm_model": "test-model",
            "llm_timeout": 5.0,
            "llm_max_retries": 0,
            # A deployment that lets answers run past the default 6,000 characters, so that
            # a long one reaches Slack whole.
            "max_answer_chars": 10_000,
        }
    )
    return sharing_models(Assistant(settings), assistant)


def answer_in(fake: FakeSlack, channel: str, thread_ts: str) -> str:
    """The answer posted in a thread: the update of the "Thinking…" message there."""
    thinking = wait_for(lambda: fake.of("chat.postMessage", channel=channel, thread_ts=thread_ts))
    assert thinking[0].params["text"] == THINKING
    placeholder = thinking[0].response["ts"]
    updates = wait_for(lambda: fake.of("chat.update", channel=channel, ts=placeholder))
    return updates[0].params["text"]


# --- end to end -----------------------------------------------------------------------------


def expected_first_source(assistant: Assistant, question: str) -> str:
    """The sources line Slack must show first: the assistant's own first citation."""
    return f"*[1]* {compact_heading(assistant.ask(question).citations[0])}"


def test_mention_is_answered_in_its_thread_with_sources(
    server: SlackHTTPServer, slack_bot: SlackBot, fake_slack: FakeSlack, assistant: Assistant
) -> None:
    ts = new_ts()
    status, _, seconds = post(
        server.url, event_body(mention("C0MENTION", "What do they say about MoE?", ts))
    )
    assert status == 200
    assert seconds < 3.0  # Slack's acknowledgement deadline

    text = answer_in(fake_slack, "C0MENTION", ts)
    assert "MoE" in text
    assert "\n*Sources*\n" in text
    assert expected_first_source(assistant, "What do they say about MoE?") + " — “" in text
    assert "[1]" in text.split("*Sources*")[0]  # markers stay in the answer text

    assert slack_bot.drain(DEADLINE)
    calls = fake_slack.in_channel("C0MENTION")
    assert [c.method for c in calls] == ["chat.postMessage", "chat.update"]  # one answer
    assert all(c.params.get("thread_ts", ts) == ts for c in calls)
    # Slack's servers would fetch what an answer links to: the message it lives in never unfurls.
    assert calls[0].params.get("unfurl_links") is False
    assert calls[0].params.get("unfurl_media") is False
    # The Web client went to SLACK_API_URL, with the bot token.
    assert calls[0].headers["Authorization"] == f"Bearer {BOT_TOKEN}"


def test_follow_up_in_the_thread_uses_its_history(
    server: SlackHTTPServer, slack_bot: SlackBot, fake_slack: FakeSlack
) -> None:
    first = new_ts()
    post(server.url, event_body(mention("C0FOLLOW", "What do they say about MoE?", first)))
    answer_in(fake_slack, "C0FOLLOW", first)

    follow_up = new_ts()
    post(server.url, event_body(mention("C0FOLLOW", "and what did Chester say?", follow_up, first)))
    assert slack_bot.drain(DEADLINE)
    updates = fake_slack.of("chat.update", channel="C0FOLLOW")
    assert len(updates) == 2
    text = updates[1].params["text"]
    sources = text.split("*Sources*")[1]
    assert "Chester Roh" in sources and "EP 81" in sources
    assert "MoE" in text
    # Both answers went to the first question's thread.
    assert {
        c.params.get("thread_ts") for c in fake_slack.of("chat.postMessage", channel="C0FOLLOW")
    } == {first}

    # The same words in a new thread have no MoE context to lean on.
    fresh = new_ts()
    post(server.url, event_body(mention("C0FRESH", "and what did Chester say?", fresh)))
    assert "MoE" not in answer_in(fake_slack, "C0FRESH", fresh)


def test_direct_message_is_answered(server: SlackHTTPServer, fake_slack: FakeSlack) -> None:
    ts = new_ts()
    status, _, _ = post(
        server.url, event_body(dm("D0DM", "When do they talk about environment scaling?", ts))
    )
    assert status == 200
    text = answer_in(fake_slack, "D0DM", ts)
    assert "*Sources*" in text and "*[1]*" in text


def test_slash_command_posts_the_question_and_answers_under_it(
    server: SlackHTTPServer, slack_bot: SlackBot, fake_slack: FakeSlack, assistant: Assistant
) -> None:
    form = urllib.parse.urlencode(
        {
            "token": "legacy",
            "team_id": "T0001",
            "channel_id": "C0SLASH",
            "user_id": "U0ASKER",
            "command": "/ask",
            "text": "What do they say about MoE?",
            "response_url": f"{fake_slack.base}/commands/response-1",
            "trigger_id": "trigger-1",
        }
    )
    status, body, seconds = post(server.url, form, content_type="application/x-www-form-urlencoded")
    assert status == 200 and seconds < 3.0
    assert body == ""  # nothing shown to the channel by the acknowledgement itself

    question = wait_for(
        lambda: [
            c
            for c in fake_slack.of("chat.postMessage", channel="C0SLASH")
            if "thread_ts" not in c.params
        ]
    )
    assert question[0].params["text"] == "<@U0ASKER> asked: What do they say about MoE?"
    thread = question[0].response["ts"]
    text = answer_in(fake_slack, "C0SLASH", thread)
    assert expected_first_source(assistant, "What do they say about MoE?") in text

    # Empty: usage, straight in the acknowledgement, and nothing posted.
    empty = form.replace("What+do+they+say+about+MoE%3F", "").replace("trigger-1", "trigger-2")
    status, body, _ = post(server.url, empty, content_type="application/x-www-form-urlencoded")
    assert status == 200 and USAGE in body
    assert slack_bot.drain(DEADLINE)
    assert len(fake_slack.in_channel("C0SLASH")) == 3


def test_slash_command_where_the_bot_cannot_post_answers_the_asker_alone(
    server: SlackHTTPServer, slack_bot: SlackBot, fake_slack: FakeSlack
) -> None:
    fake_slack.script("chat.postMessage", (200, {"ok": False, "error": "not_in_channel"}, {}))
    form = urllib.parse.urlencode(
        {
            "team_id": "T0001",
            "channel_id": "C0PRIVATE",
            "user_id": "U0ASKER",
            "command": "/ask",
            "text": "What do they say about MoE?",
            "response_url": f"{fake_slack.base}/commands/response-2",
            "trigger_id": "trigger-3",
        }
    )
    assert post(server.url, form, content_type="application/x-www-form-urlencoded")[0] == 200
    assert slack_bot.drain(DEADLINE)
    assert len(fake_slack.of("chat.postMessage", channel="C0PRIVATE")) == 1  # not retried
    responses = fake_slack.of("/commands/response-2")
    assert len(responses) == 1
    assert responses[0].params["response_type"] == "ephemeral"
    assert "*Sources*" in responses[0].params["text"]


def test_a_retried_event_is_answered_once(
    server: SlackHTTPServer, slack_bot: SlackBot, fake_slack: FakeSlack
) -> None:
    ts = new_ts()
    body = event_body(mention("C0RETRY", "What do they say about MoE?", ts), event_id="EvRETRY1")
    assert post(server.url, body)[0] == 200
    retry = {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
    assert post(server.url, body, headers=retry)[0] == 200
    # The same message delivered again under another event (a mention that is also a DM).
    assert (
        post(server.url, event_body(mention("C0RETRY", "What do they say about MoE?", ts)))[0]
        == 200
    )

    answer_in(fake_slack, "C0RETRY", ts)
    assert slack_bot.drain(DEADLINE)
    assert [c.method for c in fake_slack.in_channel("C0RETRY")] == [
        "chat.postMessage",
        "chat.update",
    ]


def test_bots_and_the_bot_itself_are_ignored(
    server: SlackHTTPServer, slack_bot: SlackBot, fake_slack: FakeSlack
) -> None:
    events = [
        dm("D0BOTS", "I am another bot", new_ts(), subtype="bot_message", bot_id="B0OTHER"),
        dm("D0BOTS", "an app posting as a user", new_ts(), bot_id="B0OTHER"),
        dm("D0BOTS", "my own answer", new_ts(), user=BOT_USER, bot_id=BOT_ID),
        dm("D0BOTS", "edited", new_ts(), subtype="message_changed"),
        {**dm("C0CHAN", "a channel message, not a mention", new_ts()), "channel_type": "channel"},
        {**mention("C0BOTS", "a bot mentioning us", new_ts()), "bot_id": "B0OTHER"},
    ]
    for event in events:
        assert post(server.url, event_body(event))[0] == 200
    assert slack_bot.drain(DEADLINE)
    for channel in ("D0BOTS", "C0CHAN", "C0BOTS"):
        assert fake_slack.in_channel(channel) == []


@pytest.mark.parametrize(
    "case",
    ["bad signature", "missing signature", "wrong secret", "stale timestamp", "tampered body"],
)
def test_unsigned_or_stale_requests_are_rejected(
    case: str, server: SlackHTTPServer, slack_bot: SlackBot, fake_slack: FakeSlack
) -> None:
    channel = "C0REJECT" + case.split()[0].upper()
    body = event_body(mention(channel, "What do they say about MoE?", new_ts()))
    now = str(int(time.time()))
    stale = str(int(time.time()) - 6 * 60)
    kwargs: dict[str, Any] = {
        "bad signature": {"signature": "v0=" + "0" * 64},
        "missing signature": {"signature": ""},
        "wrong secret": {"signature": sign(body, now, "not-the-secret"), "timestamp": now},
        "stale timestamp": {"signature": sign(body, stale), "timestamp": stale},
        "tampered body": {"signature": sign(body, now), "timestamp": now},
    }[case]
    sent = body.replace("MoE", "MoE!") if case == "tampered body" else body
    status, _, _ = post(server.url, sent, **kwargs)
    assert status in (401, 403)
    assert slack_bot.drain(DEADLINE)
    assert fake_slack.in_channel(channel) == []


def _ask_form(text: str, trigger: str, channel: str, team: str = "T0001") -> str:
    return urllib.parse.urlencode(
        {
            "team_id": team,
            "channel_id": channel,
            "user_id": "U0ASKER",
            "command": "/ask",
            "text": text,
            "response_url": "http://127.0.0.1:9/unused",
            "trigger_id": trigger,
        }
    )


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ('{"type": "event_callback", "event": ', "application/json"),
        ("not json at all", "application/json"),
        ("[1, 2, 3]", "application/json"),
        ("payload=%7Bnot-json", "application/x-www-form-urlencoded"),
    ],
)
def test_a_signed_body_that_is_not_a_slack_payload_gets_400(
    body: str, content_type: str, server: SlackHTTPServer, caplog: pytest.LogCaptureFixture
) -> None:
    status, text, _ = post(server.url, body, content_type=content_type)
    assert status == 400 and "Traceback" not in text
    assert "Traceback" not in caplog.text
    COUNTS["leak cases blocked"] += 1


def test_slash_commands_from_another_workspace_are_ignored(
    server: SlackHTTPServer, slack_bot: SlackBot, fake_slack: FakeSlack
) -> None:
    form = _ask_form("What do they say about MoE?", "trigger-team", "C0OTHERTEAM", team="T9EVIL")
    status, body, _ = post(server.url, form, content_type="application/x-www-form-urlencoded")
    assert status == 200 and body == ""
    event = event_body(mention("C0OTHERTEAM", "What do they say about MoE?", new_ts()))
    assert post(server.url, event.replace("T0001", "T9EVIL"))[0] == 200
    assert slack_bot.drain(DEADLINE)
    assert fake_slack.in_channel("C0OTHERTEAM") == []
    COUNTS["leak cases blocked"] += 2


def test_teams_can_be_configured(assistant: Assistant, fake_slack: FakeSlack) -> None:
    settings = slack_settings(assistant.settings, fake_slack.api_url, slack_team_ids="T0002, T0003")
    slack = SlackBot(assistant, settings)
    try:
        assert slack.teams == {"T0002", "T0003"}
    finally:
        slack.close()


def test_an_overlong_slash_command_echoes_nothing(
    server: SlackHTTPServer, slack_bot: SlackBot, fake_slack: FakeSlack
) -> None:
    essay = "why " * 2500
    form = _ask_form(essay, "trigger-long", "C0LONG")
    status, body, _ = post(server.url, form, content_type="application/x-www-form-urlencoded")
    assert status == 200 and "9,999 characters" in body and "why why" not in body
    assert slack_bot.drain(DEADLINE)
    assert fake_slack.in_channel("C0LONG") == []
    COUNTS["leak cases blocked"] += 1


def test_unsigned_requests_are_logged_in_one_short_line(
    server: SlackHTTPServer, caplog: pytest.LogCaptureFixture
) -> None:
    # run_slack logs at INFO; Bolt's logger took the test's root level when the app was made.
    caplog.set_level(logging.INFO, logger="slack_bolt.RequestVerification")
    flood = "x" * 5000
    status, _, _ = post(server.url, json.dumps({"flood": flood}), signature="v0=" + "0" * 64)
    assert status == 401
    assert flood[:100] not in caplog.text
    assert "without a valid Slack signature" in caplog.text
    COUNTS["leak cases blocked"] += 1


def test_the_http_endpoint_binds_loopback_unless_told_otherwise(slack_bot: SlackBot) -> None:
    assert Settings().slack.host == "127.0.0.1"
    http = SlackHTTPServer(slack_bot.app, port=0).start()
    try:
        assert http.address[0] == "127.0.0.1"
    finally:
        http.stop()
    COUNTS["leak cases blocked"] += 1


def test_the_endpoint_has_a_health_check_and_refuses_oversized_bodies(
    server: SlackHTTPServer,
) -> None:
    health = server.url.replace("/slack/events", "/healthz")
    with urllib.request.urlopen(health, timeout=10) as response:
        assert (response.status, response.read()) == (200, b"ok")
    # Refused on its Content-Length, before a byte of it is read (sending it all would race
    # the refusal and end in a broken pipe).
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.putrequest("POST", "/slack/events")
        connection.putheader("Content-Type", "application/json")
        connection.putheader("Content-Length", "5000000")
        connection.endheaders()
        response = connection.getresponse()
        assert response.status == 413 and b"Traceback" not in response.read()
    finally:
        connection.close()


def test_url_verification_challenge_is_echoed(server: SlackHTTPServer) -> None:
    body = json.dumps(
        {
            "token": "legacy",
            "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
            "type": "url_verification",
        }
    )
    status, text, _ = post(server.url, body)
    assert status == 200
    assert json.loads(text) == {"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}
    # Even the challenge needs a valid signature.
    assert post(server.url, body, signature="v0=" + "1" * 64)[0] == 401


def test_empty_mention_gets_a_friendly_message(
    server: SlackHTTPServer, fake_slack: FakeSlack
) -> None:
    ts = new_ts()
    post(server.url, event_body(mention("C0EMPTY", "", ts)))
    text = answer_in(fake_slack, "C0EMPTY", ts)
    assert text.startswith("Please type a question")
    assert "*Sources*" not in text


def test_answering_failure_is_an_apology_in_thread(
    fake_slack: FakeSlack, sleeps: Sleeps, assistant: Assistant, private_index: Path
) -> None:
    # A failing model never reaches the bot: the pipeline quotes the passages instead. What
    # does reach it comes from below the pipeline, here the index, damaged on disk (as a full
    # disk or a half-copied folder leaves it). Chroma's database file is the boundary that is
    # not ours; everything above it runs as it does for a user.
    database = private_index / "chroma" / "chroma.sqlite3"
    intact = database.read_bytes()
    database.write_bytes(b"this is not a database" * 100)
    damaged = sharing_models(
        Assistant(assistant.settings.model_copy(update={"index_dir": private_index})), assistant
    )
    with serving(damaged, fake_slack, sleeps) as (slack_bot, server):
        ts = new_ts()
        post(server.url, event_body(mention("C0BROKEN", "What do they say about MoE?", ts)))
        assert answer_in(fake_slack, "C0BROKEN", ts) == APOLOGY
        assert slack_bot.drain(DEADLINE)

        # The same bot answers again once the index is whole, without a restart.
        database.write_bytes(intact)
        ts = new_ts()
        post(server.url, event_body(mention("C0BROKEN2", "What do they say about MoE?", ts)))
        assert "*Sources*" in answer_in(fake_slack, "C0BROKEN2", ts)


def test_rate_limit_waits_retry_after_then_delivers(
    server: SlackHTTPServer, slack_bot: SlackBot, fake_slack: FakeSlack, sleeps: Sleeps
) -> None:
    limited = (429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "7"})
    fake_slack.script("chat.update", limited)
    sleeps.clear()
    ts = new_ts()
    post(server.url, event_body(mention("C0LIMIT", "What do they say about MoE?", ts)))
    assert slack_bot.drain(DEADLINE)
    updates = fake_slack.of("chat.update", channel="C0LIMIT")
    assert len(updates) == 2  # the rate-limited one, and the retry that delivered
    assert updates[0].response == limited[1] and "*Sources*" in updates[1].params["text"]
    assert sleeps == [7.0]


def test_web_api_errors_end_in_an_apology_not_a_crash(
    server: SlackHTTPServer,
    slack_bot: SlackBot,
    fake_slack: FakeSlack,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    failing = (200, {"ok": False, "error": "internal_error"}, {})
    fake_slack.script("chat.update", failing, failing)
    ts = new_ts()
    post(server.url, event_body(mention("C0FAIL", "What do they say about MoE?", ts)))
    assert slack_bot.drain(DEADLINE)
    calls = fake_slack.in_channel("C0FAIL")
    assert [c.method for c in calls] == [
        "chat.postMessage",  # thinking…
        "chat.update",  # failed
        "chat.update",  # retried once, failed again
        "chat.postMessage",  # the apology
    ]
    assert calls[-1].params == {"channel": "C0FAIL", "thread_ts": ts, "text": DELIVERY_APOLOGY}
    assert "chat.update failed (internal_error)" in caplog.text
    # Secrets never reach the logs, even at DEBUG with Slack's own loggers talking.
    assert BOT_TOKEN not in caplog.text
    assert SIGNING_SECRET not in caplog.text


def test_create_slack_app_and_run_slack_check_their_settings(
    assistant: Assistant, fake_slack: FakeSlack
) -> None:
    settings = slack_settings(assistant.settings, fake_slack.api_url.rstrip("/"))
    app = create_slack_app(assistant, settings)
    assert app.client.base_url == fake_slack.api_url

    with pytest.raises(SlackConfigError, match="SLACK_BOT_TOKEN"):
        create_slack_app(
            assistant, slack_settings(assistant.settings, fake_slack.api_url, slack_bot_token=None)
        )
    fake_slack.script("auth.test", (200, {"ok": False, "error": "invalid_auth"}, {}))
    with pytest.raises(SlackConfigError, match="invalid_auth") as rejected:
        create_slack_app(assistant, settings)
    assert BOT_TOKEN not in str(rejected.value)
    with pytest.raises(SlackConfigError, match="SLACK_SIGNING_SECRET"):
        run_slack(slack_settings(assistant.settings, fake_slack.api_url, slack_signing_secret=None))


def test_long_answers_are_split_within_slack_limits(
    writer: Assistant, fake_slack: FakeSlack, sleeps: Sleeps, model: FakeOpenAI
) -> None:
    sentences = [f"Scaling laws came up again in remark {i} of the series [1]." for i in range(160)]
    paragraphs = [" ".join(sentences[i : i + 40]) for i in range(0, 160, 40)]  # ~2,200 each
    model.reset()
    model.script(Reply(pieces=[p + "\n\n" for p in paragraphs]))
    with serving(writer, fake_slack, sleeps) as (slack_bot, server):
        ts = new_ts()
        post(server.url, event_body(mention("C0LONG", "What do they say about scaling laws?", ts)))
        assert slack_bot.drain(DEADLINE)
    assert len(model.requests) == 1  # the model wrote this answer (not the offline quotes)
    update = fake_slack.of("chat.update", channel="C0LONG")
    more = [
        c
        for c in fake_slack.of("chat.postMessage", channel="C0LONG")
        if c.params["text"] != THINKING
    ]
    texts = [update[0].params["text"]] + [c.params["text"] for c in more]
    assert len(texts) >= 3
    assert all(len(t) <= 3000 for t in texts)
    assert all(c.params["thread_ts"] == ts for c in more)
    assert "*Sources*" in texts[-1]
    answer = "".join(texts).split("*Sources*")[0]
    assert answer.count("Scaling laws") == 160
    assert "remark 0 of" in texts[0] and "remark 159 of" in answer


# --- formatting and the core, without HTTP ---------------------------------------------------


def citation(n: int, **extra: Any) -> Citation:
    values: dict[str, Any] = {
        "n": n,
        "episode": "EP 81",
        "episode_title": "t",
        "chapter": "MoE",
        "timestamp": "04:34",
        "seconds": 274,
        "speaker": "Seonghyun Kim",
        "quote": "Until 2024, MoE models were rare <really> & now common.",
        "source_file": "f.txt",
        "passage_id": "p",
        **extra,
    }
    return Citation(**values)


def test_source_lines_are_compact_escaped_and_linked() -> None:
    assert compact_heading(citation(1)) == "EP 81 · 04:34 · Seonghyun Kim"
    assert format_source(citation(1)) == (
        "*[1]* EP 81 · 04:34 · Seonghyun Kim — “Until 2024, MoE models were rare &lt;really&gt; &amp; now common.”"
    )
    linked = format_source(citation(2, url="https://example.com/ep81?t=274&x=1"))
    assert linked.startswith(
        "*[2]* EP 81 · <https://example.com/ep81?t=274&amp;x=1|04:34> · Seonghyun Kim — “"
    )
    article = format_source(
        citation(3, kind="article", timestamp=None, speaker=None, url="https://example.com/a")
    )
    assert article.startswith("*[3]* <https://example.com/a|EP 81 (article)> — “")
    assert "javascript" not in format_source(citation(4, url="javascript:alert(1)"))


def test_slack_text_becomes_a_plain_question() -> None:
    text = f"<@{BOT_USER}> what did <@U123|chester> say in <#C1|general> about <https://x.io/a|this> &amp; <https://y.io>?"
    assert (
        question_text(text, BOT_USER)
        == "what did @chester say in #general about this & https://y.io?"
    )
    assert question_text(f"<@{BOT_USER}>", BOT_USER) == ""


def test_split_text_respects_the_limit_and_keeps_every_word() -> None:
    text = "alpha beta gamma\n\n" + "word " * 500 + "\n" + "x" * 130
    pieces = split_text(text, 100)
    assert all(0 < len(p) <= 100 for p in pieces)
    assert " ".join(" ".join(pieces).split()).replace(" ", "") == " ".join(text.split()).replace(
        " ", ""
    )
    assert pieces[0] == "alpha beta gamma"
    assert len(slack_messages(BotReply(text="short"))) == 1


def test_conversation_book_is_bounded_in_threads_turns_and_age() -> None:
    now = [0.0]
    book = ConversationBook(max_threads=2, max_turns=2, max_age=60, clock=lambda: now[0])
    turns = [Turn(question=f"q{i}", answer="a") for i in range(3)]
    book.record(("C", "1"), turns)
    assert [t.question for t in book.history(("C", "1"))] == ["q1", "q2"]
    book.record(("C", "2"), turns[:1])
    book.record(("C", "3"), turns[:1])
    assert book.history(("C", "1")) == [] and len(book) == 2  # least recently used went
    now[0] = 61
    assert book.history(("C", "3")) == [] and len(book) == 0


def test_seen_events_forget_after_their_ttl() -> None:
    now = [0.0]
    seen = SeenEvents(ttl=10, clock=lambda: now[0])
    assert seen.first_time("Ev1") and not seen.first_time("Ev1")
    now[0] = 11
    assert seen.first_time("Ev1")


def test_core_reply_never_raises() -> None:
    class Flaky:
        def __init__(self, error: Exception) -> None:
            self.error = error

        def ask(self, question: str, *, history: list[Turn] | None = None) -> Answer:
            raise self.error

    refusal = BotCore(Flaky(QuestionError("Please type a question."))).reply("", ("C", "1"))
    assert (refusal.kind, refusal.text) == ("refusal", "Please type a question.")
    apology = BotCore(Flaky(KeyError("boom"))).reply("q", ("C", "1"))
    assert (apology.kind, apology.text, apology.citations) == ("apology", APOLOGY, [])


# --- Slack's AI-app features: assistant threads, status, the answer as it is written ---------


def thread_started(channel: str, thread_ts: str) -> dict[str, Any]:
    return {
        "type": "assistant_thread_started",
        "assistant_thread": {
            "user_id": "U0ASKER",
            "context": {"channel_id": "C0FROM", "team_id": "T0001", "enterprise_id": None},
            "channel_id": channel,
            "thread_ts": thread_ts,
        },
        "event_ts": thread_ts,
    }


def test_a_new_assistant_thread_gets_a_greeting_and_prompts_from_the_episodes(
    server: SlackHTTPServer, slack_bot: SlackBot, fake_slack: FakeSlack, assistant: Assistant
) -> None:
    thread = new_ts()
    assert post(server.url, event_body(thread_started("D0AITHREAD", thread)))[0] == 200
    assert slack_bot.drain(DEADLINE)
    greeting = fake_slack.of("chat.postMessage", channel="D0AITHREAD", thread_ts=thread)
    assert len(greeting) == 1 and "every answer cites" in greeting[0].params["text"]
    prompts = fake_slack.of("assistant.threads.setSuggestedPrompts", channel_id="D0AITHREAD")
    assert len(prompts) == 1 and prompts[0].params["thread_ts"] == thread
    offered = prompts[0].params["prompts"]
    latest = assistant.episodes()[-1]
    assert 1 <= len(offered) <= 4
    assert offered[0]["message"] == f"What is {latest.label} about?"
    assert all(len(p["title"]) <= 75 for p in offered)


def test_a_question_in_an_assistant_thread_shows_a_status_then_the_answer(
    server: SlackHTTPServer, slack_bot: SlackBot, fake_slack: FakeSlack, assistant: Assistant
) -> None:
    thread, ts = new_ts(), new_ts()
    event = dm("D0AIASK", "What do they say about MoE?", ts, thread_ts=thread)
    assert post(server.url, event_body(event))[0] == 200
    assert slack_bot.drain(DEADLINE)
    calls = fake_slack.in_channel("D0AIASK") + fake_slack.of(
        "assistant.threads.setStatus", channel_id="D0AIASK"
    )
    calls.sort(key=lambda c: c.at)
    assert [c.method for c in calls] == ["assistant.threads.setStatus", "chat.postMessage"]
    assert calls[0].params["thread_ts"] == thread and "searching" in calls[0].params["status"]
    answer = calls[1].params
    assert answer["thread_ts"] == thread and answer["unfurl_links"] is False
    assert expected_first_source(assistant, "What do they say about MoE?") in answer["text"]

    # The thread keeps its history like any other.
    follow_up = dm("D0AIASK", "and what did Chester say?", new_ts(), thread_ts=thread)
    post(server.url, event_body(follow_up))
    assert slack_bot.drain(DEADLINE)
    later = fake_slack.of("chat.postMessage", channel="D0AIASK", thread_ts=thread)[-1]
    assert "MoE" in later.params["text"] and "Chester Roh" in later.params["text"]


def test_a_dm_thread_without_the_assistant_view_gets_thinking_instead_of_a_status(
    server: SlackHTTPServer, slack_bot: SlackBot, fake_slack: FakeSlack
) -> None:
    fake_slack.script(
        "assistant.threads.setStatus", (200, {"ok": False, "error": "not_allowed"}, {})
    )
    thread = new_ts()
    event = dm("D0NOVIEW", "What do they say about MoE?", new_ts(), thread_ts=thread)
    assert post(server.url, event_body(event))[0] == 200
    assert "*Sources*" in answer_in(fake_slack, "D0NOVIEW", thread)


def test_the_answer_is_edited_in_as_it_is_written_then_replaced_by_the_checked_reply(
    writer: Assistant, fake_slack: FakeSlack, sleeps: Sleeps, model: FakeOpenAI
) -> None:
    # A model writing slowly, with a marker [7] that points at no passage it was sent. The
    # server holds its last piece until Slack has shown the first ones.
    written = threading.Event()
    model.reset()
    model.script(
        Reply(
            pieces=["MoE models ", "were rare [1] ", "until 2024 [7]."],
            chunk_delay=0.05,
            gate=written,
            gate_after=2,
        )
    )
    with serving(writer, fake_slack, sleeps, stream_interval=0.0) as (slack_bot, server):
        ts = new_ts()
        post(server.url, event_body(mention("C0STREAM", "What do they say about MoE?", ts)))
        # Text before the first marker is held back (a reply that cites nothing is never shown
        # half-way), then the answer is edited in while the model is still writing.
        wait_for(
            lambda: fake_slack.of(
                "chat.update", channel="C0STREAM", text="MoE models were rare [1] …"
            )
        )
        written.set()
        assert slack_bot.drain(DEADLINE)
    assert model.gates_opened == [True]
    assert model.requests[0].content("user").count("<passage ") < 7  # so [7] cites nothing
    edits = [c.params["text"] for c in fake_slack.of("chat.update", channel="C0STREAM")]
    assert len(edits) == 3
    assert edits[0] == "MoE models were rare [1] …"
    assert edits[1].startswith("MoE models were rare [1] until 2024") and edits[1].endswith(" …")
    assert edits[-1].startswith("MoE models were rare [1] until 2024.\n\n*Sources*\n*[1]* EP ")
    assert all("[7]" not in edit for edit in edits)
    assert len(fake_slack.of("chat.postMessage", channel="C0STREAM")) == 1  # "Thinking…" only
