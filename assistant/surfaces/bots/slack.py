"""The Slack adapter: a Bolt app answering mentions, direct messages and ``/ask`` in thread.

Slack wants an acknowledgement within 3 seconds, so listeners only check and queue; a small
thread pool answers, posting "Thinking…" in the question's thread and then updating it with
the answer and its sources (Slack mrkdwn). Signatures and ``url_verification`` are Bolt's
built-in middleware; redeliveries are dropped by event id, and one message is answered once
even when it arrives both as a mention and as a DM. Web API failures are retried once
(honouring ``Retry-After``), then an apology is attempted; nothing here raises into Bolt.

Entry points: ``run_slack(settings)`` (what ``episode-assistant slack`` runs) and
``create_slack_app(assistant, settings)``; ``SlackBot`` when the pool must be drained or shut.
"""

from __future__ import annotations

import logging
import re
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pydantic import SecretStr
from slack_bolt import App, BoltContext, BoltRequest, BoltResponse
from slack_bolt.error import BoltError
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.web import SlackResponse
from slack_sdk.webhook import WebhookClient

from assistant.api import Assistant
from assistant.config import Settings
from assistant.errors import SlackConfigError
from assistant.schema import Citation
from assistant.surfaces.bots.core import (
    Asker,
    BotCore,
    BotReply,
    compact_parts,
    shorten,
    split_text,
)
from assistant.surfaces.bots.slack_http import EVENTS_PATH, SlackHTTPServer

logger = logging.getLogger(__name__)

# One message's text: Slack's limit for a section block, and under chat.update's 4,000.
TEXT_LIMIT = 3000
# More than this many messages is a flood, not an answer.
MAX_MESSAGES = 6
QUOTE_CHARS = 220
ANSWER_WORKERS = 4
# Longer Retry-After than this and a worker would sit idle too long; give up instead.
MAX_RETRY_WAIT = 30.0
RETRY_PAUSE = 1.0

THINKING = ":hourglass_flowing_sand: _Thinking…_"
DELIVERY_APOLOGY = "Sorry, I could not post the answer here. Please try again in a moment."
USAGE = "Ask a question after the command, e.g. `/ask what do they say about MoE?`"

# Errors worth one more try; anything else (not_in_channel, invalid_auth…) would fail again.
RETRYABLE_ERRORS = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)
# Plain user messages; edits, joins, deletions and bot posts are not questions.
QUESTION_SUBTYPES = frozenset({None, "file_share", "thread_broadcast"})


# --- mrkdwn -----------------------------------------------------------------------------------


def escape_mrkdwn(text: str) -> str:
    """Escape the three characters Slack reserves for its ``<…>`` syntax."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def link(url: str, label: str) -> str:
    """``<url|label>``; ``|`` in the URL is percent-encoded as it would end the URL early."""
    return f"<{escape_mrkdwn(url).replace('|', '%7C')}|{escape_mrkdwn(label)}>"


def format_source(citation: Citation) -> str:
    """``*[1]* EP 81 · <url|04:34> · Seonghyun Kim — “quote”`` (linked when there is a URL)."""
    episode, timestamp, speaker = compact_parts(citation)
    parts = [escape_mrkdwn(episode), escape_mrkdwn(timestamp or ""), escape_mrkdwn(speaker or "")]
    url = (
        citation.url if citation.url and citation.url.startswith(("https://", "http://")) else None
    )
    if url:
        # The time is the natural link target: the URL already seeks to it.
        if timestamp:
            parts[1] = link(url, timestamp)
        else:
            parts[0] = link(url, episode)
    heading = " · ".join(p for p in parts if p)
    return f"*[{citation.n}]* {heading} — “{escape_mrkdwn(shorten(citation.quote, QUOTE_CHARS))}”"


def format_reply(reply: BotReply) -> str:
    """The whole reply in mrkdwn: the answer, a notice in italics, then its sources."""
    lines = [escape_mrkdwn(reply.text.strip()) or "_(no answer)_"]
    if reply.notice:
        lines += ["", f"_{escape_mrkdwn(reply.notice.strip())}_"]
    if reply.citations:
        lines += ["", "*Sources*", *(format_source(c) for c in reply.citations)]
    if reply.see_also:
        lines += ["", "*See also*", *(format_source(c) for c in reply.see_also)]
    return "\n".join(lines)


def slack_messages(reply: BotReply, limit: int = TEXT_LIMIT) -> list[str]:
    """The reply as one or more message texts, each within ``limit`` characters."""
    pieces = split_text(format_reply(reply), limit)
    if len(pieces) > MAX_MESSAGES:
        pieces = pieces[:MAX_MESSAGES]
        pieces[-1] = shorten(pieces[-1], limit - 40) + "\n_(answer cut: too long for Slack)_"
    return pieces


_TOKEN = re.compile(r"<([^<>]*)>")


def question_text(text: str, bot_user_id: str | None = None) -> str:
    """A Slack message as the plain question the assistant should see.

    The bot's own mention goes; other mentions, channels and links keep their readable label.
    """

    def plain(match: re.Match[str]) -> str:
        target, _, label = match.group(1).partition("|")
        if target.startswith("@"):
            return "" if target[1:] == bot_user_id else (f"@{label}" if label else "")
        if target.startswith("#"):
            return f"#{label}" if label else ""
        if target.startswith("!"):  # <!here>, <!channel>, <!subteam^…|@team>
            return label
        return label or target  # a link

    text = _TOKEN.sub(plain, text or "")
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return " ".join(text.split())


# --- Web API calls --------------------------------------------------------------------------


def _retry_after(response: SlackResponse) -> float:
    for name, value in (response.headers or {}).items():
        if name.lower() == "retry-after":
            try:
                return max(0.0, float(value if isinstance(value, str) else value[0]))
            except (TypeError, ValueError, IndexError):
                break
    return RETRY_PAUSE


class SlackWeb:
    """Web API calls that never raise: one retry for transient failures, then ``None``.

    Logs say which method failed and Slack's error code; never tokens, never message text.
    """

    def __init__(
        self,
        client: WebClient,
        *,
        sleep: Callable[[float], None] = time.sleep,
        max_wait: float = MAX_RETRY_WAIT,
    ) -> None:
        self.client = client
        self._sleep = sleep
        self.max_wait = max_wait

    def call(self, method: str, *, retry: bool = True, **params: Any) -> SlackResponse | None:
        """Call ``method`` with JSON ``params``; the response, or ``None`` once it has failed."""
        attempts = 2 if retry else 1
        for attempt in range(1, attempts + 1):
            try:
                return self.client.api_call(method, json=params)
            except SlackApiError as exc:
                error = str(exc.response.get("error") or f"HTTP {exc.response.status_code}")
                limited = exc.response.status_code == 429 or error == "ratelimited"
                retryable = limited or error in RETRYABLE_ERRORS or exc.response.status_code >= 500
                wait = _retry_after(exc.response) if limited else RETRY_PAUSE
            except Exception as exc:  # unreachable host, timeout, bad JSON from a proxy
                error, retryable, wait = type(exc).__name__, True, RETRY_PAUSE
            if attempt == attempts or not retryable or wait > self.max_wait:
                logger.warning("Slack %s failed (%s); giving up", method, error)
                return None
            logger.warning("Slack %s failed (%s); retrying in %.1f s", method, error, wait)
            self._sleep(wait)
        return None


# --- the bot ----------------------------------------------------------------------------------


def _secret(value: SecretStr | None) -> str | None:
    """The secret's value, with an empty or blank one counted as unset."""
    text = value.get_secret_value().strip() if value is not None else ""
    return text or None


def _api_url(url: str) -> str:
    # WebClient joins method names onto the base URL, so it must end with a slash.
    return url if url.endswith("/") else url + "/"


class _ShortRejections(logging.Filter):
    """Bolt logs every request that fails verification with its whole body at INFO: anyone
    who can reach the endpoint could fill the log. One short line instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        if str(record.msg).startswith("Invalid request signature"):
            record.msg, record.args = "rejected a request without a valid Slack signature", ()
        return True


logging.getLogger("slack_bolt.RequestVerification").addFilter(_ShortRejections())


class SlackBot:
    """The Bolt ``App`` (``.app``), the core it answers with, and the pool that answers."""

    def __init__(
        self,
        assistant: Asker,
        settings: Settings,
        *,
        core: BotCore | None = None,
        workers: int = ANSWER_WORKERS,
        web_sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        token = _secret(settings.slack.bot_token)
        if token is None:
            raise SlackConfigError(
                "SLACK_BOT_TOKEN is not set: copy the Bot User OAuth Token (xoxb-…) from the "
                "app's OAuth & Permissions page."
            )
        self.core = core or BotCore(assistant)
        self.client = WebClient(token=token, base_url=_api_url(settings.slack.api_url))
        self.web = SlackWeb(self.client, sleep=web_sleep)
        # Without a signing secret (Socket Mode needs none) no HTTP request may pass
        # verification, so verify against a secret nobody knows rather than an empty one.
        signing_secret = _secret(settings.slack.signing_secret) or secrets.token_hex(32)
        try:
            self.app = App(
                name="episode-assistant",
                client=self.client,
                signing_secret=signing_secret,
                # Listeners only queue work, so running them before the HTTP response is
                # fast, and it keeps acks out of the pool that answers.
                process_before_response=True,
            )
        except BoltError as exc:
            # Bolt checks the token with auth.test; its message holds Slack's error, not the token.
            raise SlackConfigError(f"Slack did not accept SLACK_BOT_TOKEN: {exc}") from None
        except Exception as exc:
            raise SlackConfigError(
                f"could not reach Slack's Web API at {settings.slack.api_url} "
                f"({type(exc).__name__}); check SLACK_API_URL and the network"
            ) from None
        self.max_chars = settings.answer.max_question_chars
        self.teams = settings.slack.teams or self._own_team()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="slack-answer")
        self._pending = 0
        self._idle = threading.Condition()
        self.app.middleware(self._only_our_teams)
        self.app.middleware(self._drop_redeliveries)
        self.app.event("app_mention")(self._on_mention)
        self.app.event("message")(self._on_message)
        self.app.command("/ask")(self._on_ask)

    # --- lifecycle ----------------------------------------------------------------------------

    def drain(self, timeout: float = 30.0) -> bool:
        """Wait until every queued question has been answered; False if ``timeout`` ran out."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return True

    def close(self, *, wait: bool = True) -> None:
        """Stop taking questions; with ``wait``, let the ones in hand finish."""
        self._pool.shutdown(wait=wait, cancel_futures=not wait)

    def _submit(self, job: Callable[..., None], *args: Any) -> None:
        with self._idle:
            self._pending += 1
        try:
            self._pool.submit(self._run, job, *args)
        except RuntimeError:  # the pool was shut down: the bot is stopping
            self._done()
            logger.warning("Slack bot is stopping; a question was not answered")

    def _run(self, job: Callable[..., None], *args: Any) -> None:
        try:
            job(*args)
        except Exception:
            # A job must never take its worker down, and the person still deserves a word.
            logger.exception("answering a Slack question failed")
        finally:
            self._done()

    def _done(self) -> None:
        with self._idle:
            self._pending -= 1
            if not self._pending:
                self._idle.notify_all()

    def _own_team(self) -> set[str]:
        """The workspace the bot token belongs to (asked once, at start-up)."""
        found = self.web.call("auth.test")
        team = found.get("team_id") if found is not None else None
        if not team:
            logger.warning("could not tell the bot's workspace; set SLACK_TEAM_IDS")
        return {team} if team else set()

    # --- listeners: quick checks, then queue; they run before Slack gets its 200 --------------

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

    def _on_mention(self, event: dict[str, Any], context: BoltContext) -> None:
        self._take_question(event, context.bot_user_id)

    def _on_message(self, event: dict[str, Any], context: BoltContext) -> None:
        # Only direct messages: in channels the bot answers when mentioned.
        if event.get("channel_type") == "im":
            self._take_question(event, context.bot_user_id)

    def _take_question(self, event: dict[str, Any], bot_user_id: str | None) -> None:
        if event.get("bot_id") or event.get("subtype") not in QUESTION_SUBTYPES:
            return
        if bot_user_id and event.get("user") == bot_user_id:
            return
        channel, ts = event.get("channel"), event.get("ts")
        if not channel or not ts:
            return
        # A mention in a DM can arrive as app_mention and as message.im: answer it once.
        if not self.core.seen.first_time(f"message:{channel}:{ts}"):
            return
        thread_ts = event.get("thread_ts") or ts
        self._submit(
            self._answer_in_thread,
            channel,
            thread_ts,
            question_text(event.get("text", ""), bot_user_id),
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
        if self.core.seen.first_time(f"command:{trigger}"):
            self._submit(
                self._answer_command,
                command.get("channel_id", ""),
                command.get("user_id", ""),
                question,
                command.get("response_url"),
                trigger,
            )

    # --- jobs: run in the pool ------------------------------------------------------------------

    def _answer_in_thread(self, channel: str, thread_ts: str, question: str) -> None:
        # No unfurling, here or in the answer that replaces this text: Slack's servers would
        # fetch any URL a model or a quoted passage put in it.
        placeholder = self.web.call(
            "chat.postMessage",
            channel=channel,
            thread_ts=thread_ts,
            text=THINKING,
            unfurl_links=False,
            unfurl_media=False,
        )
        reply = self.core.reply(question, (channel, thread_ts))
        self._deliver(channel, thread_ts, placeholder.get("ts") if placeholder else None, reply)

    def _answer_command(
        self, channel: str, user: str, question: str, response_url: str | None, trigger: str
    ) -> None:
        # A slash command leaves no message to thread on: post the question, answer under it.
        posted = self.web.call(
            "chat.postMessage",
            channel=channel,
            text=f"<@{user}> asked: {escape_mrkdwn(question)}",
            unfurl_links=False,
            unfurl_media=False,
        )
        if posted is not None and posted.get("ts"):
            self._answer_in_thread(channel, str(posted["ts"]), question)
            return
        # The bot cannot post here (not a member, a private channel or someone else's DM):
        # answer the asker alone through the command's response URL.
        reply = self.core.reply(question, (channel, f"command:{trigger}"))
        if response_url:
            self._respond(response_url, slack_messages(reply))

    def _deliver(
        self, channel: str, thread_ts: str, placeholder_ts: str | None, reply: BotReply
    ) -> None:
        first, *rest = slack_messages(reply)
        if placeholder_ts:
            ok = self.web.call("chat.update", channel=channel, ts=placeholder_ts, text=first)
        else:
            ok = self._post(channel, thread_ts, first)
        for text in rest:
            if not ok:
                break
            ok = self._post(channel, thread_ts, text)
        if not ok:
            self.web.call(
                "chat.postMessage",
                retry=False,
                channel=channel,
                thread_ts=thread_ts,
                text=DELIVERY_APOLOGY,
            )

    def _post(self, channel: str, thread_ts: str, text: str) -> SlackResponse | None:
        return self.web.call(
            "chat.postMessage",
            channel=channel,
            thread_ts=thread_ts,
            text=text,
            unfurl_links=False,
            unfurl_media=False,
        )

    @staticmethod
    def _respond(response_url: str, texts: list[str]) -> None:
        webhook = WebhookClient(response_url)
        for text in texts:
            try:
                result = webhook.send(
                    text=text, response_type="ephemeral", unfurl_links=False, unfurl_media=False
                )
            except Exception as exc:
                logger.warning("Slack response_url failed (%s)", type(exc).__name__)
                return
            if result.status_code != 200:
                logger.warning("Slack response_url failed (HTTP %s)", result.status_code)
                return


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
