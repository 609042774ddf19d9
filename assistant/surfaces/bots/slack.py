"""The Slack adapter: a Bolt app answering mentions, direct messages, ``/ask`` and Slack's
assistant threads, each in its thread.

Bolt does the plumbing: signatures, ``url_verification``, the acknowledgement within Slack's
3 seconds, and running each listener afterwards in its listener pool. In an assistant thread
(Bolt's ``Assistant`` middleware) a new thread gets suggested prompts and a question shows
"is searching the episodes…" (``set_status``) until the answer is written into the thread;
elsewhere "Thinking…" is posted and replaced by the answer. Either way the answer is edited
in as it is written, then replaced by the checked reply with its sources (Slack mrkdwn).
Redeliveries are dropped by event id, and one message is answered once even when it
arrives both as a mention and as a DM. Retries are slack-sdk's (``slack_web``); nothing
here raises into Bolt.

Entry points: ``run_slack(settings)`` (what ``episode-assistant slack`` runs) and
``create_slack_app(assistant, settings)``; ``SlackBot`` when the pool must be drained or shut.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any

from pydantic import SecretStr
from slack_bolt import App, BoltContext, BoltRequest, BoltResponse
from slack_bolt import Assistant as AssistantThreads
from slack_bolt.error import BoltError

from assistant.api import Assistant
from assistant.config import Settings
from assistant.errors import SlackConfigError
from assistant.surfaces.bots.core import Asker, BotCore
from assistant.surfaces.bots.slack_format import (
    escape_mrkdwn,
    format_source,
    question_text,
    slack_messages,
)
from assistant.surfaces.bots.slack_http import EVENTS_PATH, SlackHTTPServer
from assistant.surfaces.bots.slack_web import (
    DELIVERY_APOLOGY,
    STREAM_INTERVAL,
    Delivery,
    Sleep,
    attempt,
    web_client,
)

__all__ = [
    "DELIVERY_APOLOGY",
    "THINKING",
    "USAGE",
    "SlackBot",
    "SlackConfigError",
    "create_slack_app",
    "format_source",
    "question_text",
    "run_slack",
    "slack_messages",
]

logger = logging.getLogger(__name__)

ANSWER_WORKERS = 4
THINKING = ":hourglass_flowing_sand: _Thinking…_"
SEARCHING = "is searching the episodes…"
GREETING = "Hi! Ask me anything about the episodes; every answer cites episode, time and speaker."
USAGE = "Ask a question after the command, e.g. `/ask what do they say about MoE?`"
# Slack shows up to four suggested prompts in a new assistant thread.
MAX_PROMPTS = 3

# Plain user messages; edits, joins, deletions and bot posts are not questions.
QUESTION_SUBTYPES = frozenset({None, "file_share", "thread_broadcast"})


def _secret(value: SecretStr | None) -> str | None:
    """The secret's value, with an empty or blank one counted as unset."""
    text = value.get_secret_value().strip() if value is not None else ""
    return text or None


class _ShortRejections(logging.Filter):
    """Bolt logs every request that fails verification with its whole body at INFO: anyone
    who can reach the endpoint could fill the log. One short line instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        if str(record.msg).startswith("Invalid request signature"):
            record.msg, record.args = "rejected a request without a valid Slack signature", ()
        return True


logging.getLogger("slack_bolt.RequestVerification").addFilter(_ShortRejections())


class _ListenerPool(ThreadPoolExecutor):
    """Bolt's listener pool (``App(listener_executor=…)``), remembering the work it has not
    finished so that ``SlackBot.drain`` can wait for it."""

    def __init__(self, workers: int) -> None:
        super().__init__(max_workers=workers, thread_name_prefix="slack-answer")
        self._unfinished: set[Future[Any]] = set()
        self._guard = threading.Lock()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future = super().submit(fn, *args, **kwargs)
        with self._guard:
            self._unfinished.add(future)
        future.add_done_callback(self._finished)
        return future

    def _finished(self, future: Future[Any]) -> None:
        with self._guard:
            self._unfinished.discard(future)

    def drain(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            with self._guard:
                unfinished = set(self._unfinished)
            left = deadline - time.monotonic()
            if not unfinished or left <= 0:
                return not unfinished
            wait(unfinished, timeout=left)


def suggested_prompts(assistant: Asker) -> list[dict[str, str]]:
    """Questions a new assistant thread offers: one about each of the latest episodes."""
    listing = getattr(assistant, "episodes", None)
    try:
        episodes = listing()[-MAX_PROMPTS:] if callable(listing) else []
    except Exception:  # no index yet: the thread still opens, without prompts
        logger.warning("could not list the episodes for suggested prompts", exc_info=True)
        episodes = []
    return [
        {"title": f"{e.label}: {e.title}"[:75], "message": f"What is {e.label} about?"}
        for e in reversed(episodes)
    ]


class SlackBot:
    """The Bolt ``App`` (``.app``), the core it answers with, and the pool that answers."""

    def __init__(
        self,
        assistant: Asker,
        settings: Settings,
        *,
        core: BotCore | None = None,
        workers: int = ANSWER_WORKERS,
        web_sleep: Sleep = time.sleep,
        stream_interval: float = STREAM_INTERVAL,
    ) -> None:
        token = _secret(settings.slack.bot_token)
        if token is None:
            raise SlackConfigError(
                "SLACK_BOT_TOKEN is not set: copy the Bot User OAuth Token (xoxb-…) from the "
                "app's OAuth & Permissions page."
            )
        self.assistant = assistant
        self.core = core or BotCore(assistant)
        self.client = web_client(token, settings.slack.api_url, sleep=web_sleep)
        self.delivery = Delivery(self.client, stream_interval=stream_interval)
        # Without a signing secret (Socket Mode needs none) no HTTP request may pass
        # verification, so verify against a secret nobody knows rather than an empty one.
        signing_secret = _secret(settings.slack.signing_secret) or secrets.token_hex(32)
        self._pool = _ListenerPool(workers)
        try:
            # process_before_response stays off: Bolt acknowledges first, then runs each
            # listener in the pool, which is where answering takes its seconds.
            self.app = App(
                name="episode-assistant",
                client=self.client,
                signing_secret=signing_secret,
                listener_executor=self._pool,
            )
        except BoltError as exc:
            self._pool.shutdown(wait=False)
            # Bolt checks the token with auth.test; its message holds Slack's error, not the token.
            raise SlackConfigError(f"Slack did not accept SLACK_BOT_TOKEN: {exc}") from None
        except Exception as exc:
            self._pool.shutdown(wait=False)
            raise SlackConfigError(
                f"could not reach Slack's Web API at {settings.slack.api_url} "
                f"({type(exc).__name__}); check SLACK_API_URL and the network"
            ) from None
        self.max_chars = settings.answer.max_question_chars
        self.teams = settings.slack.teams or self._own_team()
        self.app.middleware(self._only_our_teams)
        self.app.middleware(self._drop_redeliveries)
        threads = AssistantThreads()
        threads.thread_started(self._on_thread_started)
        threads.user_message(self._on_thread_question)
        self.app.assistant(threads)
        self.app.event("app_mention")(self._on_mention)
        self.app.event("message")(self._on_message)
        self.app.command("/ask")(self._on_ask)

    # --- lifecycle ----------------------------------------------------------------------------

    def drain(self, timeout: float = 30.0) -> bool:
        """Wait until every question received has been answered; False if ``timeout`` ran out."""
        return self._pool.drain(timeout)

    def close(self, *, wait: bool = True) -> None:
        """Stop taking questions; with ``wait``, let the ones in hand finish."""
        self._pool.shutdown(wait=wait, cancel_futures=not wait)

    def _own_team(self) -> set[str]:
        """The workspace the bot token belongs to (asked once, at start-up)."""
        found = attempt("auth.test", self.client.auth_test)
        team = found.get("team_id") if found is not None else None
        if not team:
            logger.warning("could not tell the bot's workspace; set SLACK_TEAM_IDS")
        return {team} if team else set()

    # --- middleware: runs before Slack gets its 200 --------------------------------------------

    def _only_our_teams(
        self, body: dict[str, Any], next: Callable[[], None]
    ) -> BoltResponse | None:
        """Drop requests from other workspaces: a signed request can come from any workspace
        the app is installed in (or was, or that shares a signing secret's leak)."""
        team = body.get("team_id") or (body.get("team") or {}).get("id")
        if team not in self.teams:
            logger.info("ignored a request from workspace %s", str(team)[:20])
            return BoltResponse(status=200, body="")
        next()
        return None

    def _drop_redeliveries(
        self, body: dict[str, Any], request: BoltRequest, next: Callable[[], None]
    ) -> BoltResponse | None:
        """Acknowledge and drop an event already received (Slack retries after timeouts)."""
        event_id = body.get("event_id") if body.get("type") == "event_callback" else None
        if event_id and not self.core.seen.first_time(f"event:{event_id}"):
            retry = request.headers.get("x-slack-retry-num", ["0"])[0]
            reason = request.headers.get("x-slack-retry-reason", ["?"])[0]
            logger.info("dropped redelivery of %s (retry %s, %s)", event_id, retry, reason)
            return BoltResponse(status=200, body="")
        next()
        return None

    # --- listeners: Bolt runs them in the pool, after the acknowledgement ---------------------

    def _on_thread_started(self, say: Callable[..., Any], set_suggested_prompts: Any) -> None:
        attempt("chat.postMessage", say, text=GREETING)
        prompts = suggested_prompts(self.assistant)
        if prompts:
            attempt(
                "assistant.threads.setSuggestedPrompts",
                set_suggested_prompts,
                prompts=prompts,
                title="Try asking:",
            )

    def _on_thread_question(
        self, payload: dict[str, Any], set_status: Any, context: BoltContext
    ) -> None:
        question = self._question(payload, context.bot_user_id)
        if question is None:
            return
        channel, thread_ts = payload["channel"], payload["thread_ts"]
        # The status shows until the bot's first message in the thread replaces it. A reply
        # in a DM thread of an app without the AI-app view gets no status: "Thinking…" then.
        if attempt("assistant.threads.setStatus", set_status, status=SEARCHING):
            pieces = self.core.stream(question, (channel, thread_ts))
            self.delivery.stream(pieces, channel, thread_ts)
        else:
            self._answer_in_thread(channel, thread_ts, question)

    def _on_mention(self, event: dict[str, Any], context: BoltContext) -> None:
        self._answer_event(event, context.bot_user_id)

    def _on_message(self, event: dict[str, Any], context: BoltContext) -> None:
        # Only direct messages: in channels the bot answers when mentioned.
        if event.get("channel_type") == "im":
            self._answer_event(event, context.bot_user_id)

    def _question(self, event: dict[str, Any], bot_user_id: str | None) -> str | None:
        """The event's question, or None when it is no question to answer (a bot, an edit,
        this message seen already)."""
        if event.get("bot_id") or event.get("subtype") not in QUESTION_SUBTYPES:
            return None
        if bot_user_id and event.get("user") == bot_user_id:
            return None
        channel, ts = event.get("channel"), event.get("ts")
        if not channel or not ts:
            return None
        # A mention in a DM can arrive as app_mention and as message.im: answer it once.
        if not self.core.seen.first_time(f"message:{channel}:{ts}"):
            return None
        return question_text(event.get("text", ""), bot_user_id)

    def _answer_event(self, event: dict[str, Any], bot_user_id: str | None) -> None:
        question = self._question(event, bot_user_id)
        if question is not None:
            self._answer_in_thread(
                event["channel"], event.get("thread_ts") or event["ts"], question
            )

    def _on_ask(self, ack: Callable[..., None], command: dict[str, Any]) -> None:
        question = question_text(command.get("text", ""))
        if not question:
            ack(text=USAGE)
            return
        if len(question) > self.max_chars:
            # Said to the asker alone, and without the question: posting it first (as an
            # answerable one is) put a 10,000-character paste in the channel.
            ack(
                text=f"That question is {len(question):,} characters long; please keep it "
                f"under {self.max_chars:,}."
            )
            return
        ack()
        trigger = command.get("trigger_id") or f"{command.get('channel_id')}:{time.time()}"
        if not self.core.seen.first_time(f"command:{trigger}"):
            return
        channel, user = command.get("channel_id", ""), command.get("user_id", "")
        # A slash command leaves no message to thread on: post the question, answer under it.
        asked = self.delivery.post(channel, f"<@{user}> asked: {escape_mrkdwn(question)}")
        if asked:
            self._answer_in_thread(channel, asked, question)
            return
        # The bot cannot post here (not a member, a private channel or someone else's DM):
        # answer the asker alone through the command's response URL.
        reply = self.core.reply(question, (channel, f"command:{trigger}"))
        if command.get("response_url"):
            self.delivery.respond(command["response_url"], reply)

    def _answer_in_thread(self, channel: str, thread_ts: str, question: str) -> None:
        thinking = self.delivery.post(channel, THINKING, thread_ts)
        pieces = self.core.stream(question, (channel, thread_ts))
        self.delivery.stream(pieces, channel, thread_ts, thinking)


def create_slack_app(assistant: Asker, settings: Settings) -> App:
    """A Bolt ``App`` answering mentions, DMs and ``/ask`` with ``assistant``.

    Raises ``SlackConfigError`` when the bot token is missing or Slack rejects it. Use
    ``SlackBot`` directly to drain or shut down the answering pool.
    """
    return SlackBot(assistant, settings).app


def run_slack(
    settings: Settings, *, assistant: Assistant | None = None, host: str | None = None
) -> None:
    """Run the Slack bot until interrupted.

    Socket Mode when ``SLACK_APP_TOKEN`` is set (no public URL needed); otherwise HTTP on
    ``host:settings.slack.port`` at ``/slack/events`` (``host`` defaults to
    ``settings.slack.host``, loopback), which needs ``SLACK_SIGNING_SECRET``. Pass
    ``assistant`` to reuse one whose index is already checked.
    """
    host = host or settings.slack.host
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    app_token = _secret(settings.slack.app_token)
    if app_token is None and _secret(settings.slack.signing_secret) is None:
        raise SlackConfigError(
            "SLACK_SIGNING_SECRET is not set: HTTP mode needs it to verify Slack's requests "
            "(Basic Information → Signing Secret), or set SLACK_APP_TOKEN for Socket Mode."
        )
    assistant = assistant or Assistant(settings)
    # Load (or build) the index now: a broken index should stop start-up, not a question.
    assistant.retriever()
    bot = SlackBot(assistant, settings)
    try:
        if app_token is not None:
            from slack_bolt.adapter.socket_mode import SocketModeHandler

            logger.info("Slack bot connecting in Socket Mode")
            SocketModeHandler(bot.app, app_token).start()
        else:
            server = SlackHTTPServer(bot.app, host, settings.slack.port)
            logger.info("Slack bot listening on http://%s:%d%s", host, server.port, EVENTS_PATH)
            try:
                server.serve_forever()
            finally:
                server.stop()
    except KeyboardInterrupt:
        logger.info("Slack bot stopped")
    finally:
        bot.close(wait=False)
