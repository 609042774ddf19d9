"""Slack's Web API as the bot uses it: a ``WebClient`` whose retries are slack-sdk's retry
handlers, calls that never raise into Bolt, and the delivery of one reply into a thread
("Thinking…" replaced by the answer as it is written, more messages when it is long, an
apology when posting fails).

Logs say which method failed and Slack's error code; never tokens, never message text.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import HttpResponse, RetryState
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.web import SlackResponse
from slack_sdk.webhook import WebhookClient

from assistant.surfaces.bots.core import BotReply
from assistant.surfaces.bots.slack_format import partial_text, slack_messages

logger = logging.getLogger(__name__)

# Longer Retry-After than this and a worker would sit idle too long; give up instead.
MAX_RETRY_WAIT = 30.0
RETRY_PAUSE = 1.0
# Seconds between edits of an answer being written: chat.update allows about one a second.
STREAM_INTERVAL = 1.0

DELIVERY_APOLOGY = "Sorry, I could not post the answer here. Please try again in a moment."

# ``ok: false`` errors worth one more try; anything else (not_in_channel, invalid_auth…)
# would fail again.
RETRYABLE_ERRORS = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)

Sleep = Callable[[float], None]


def _retry_after(response: HttpResponse | None) -> float | None:
    for name, values in (response.headers if response is not None else {}).items():
        if name.lower() == "retry-after":
            value = values[0] if isinstance(values, list) and values else values
            try:
                return max(0.0, float(value))
            except (TypeError, ValueError):
                return None
    return None


class _Paced:
    """The pause before a retry goes through ``sleep``: slack-sdk's handlers call
    ``time.sleep`` with jitter, which neither a caller nor a test can see."""

    _sleep: Sleep

    def _wait(self, response: HttpResponse | None) -> float:
        return RETRY_PAUSE

    def prepare_for_next_attempt(
        self, *, state: RetryState, response: HttpResponse | None = None, **rest: Any
    ) -> None:
        """Sleep before the next attempt (slack-sdk's ``RetryHandler`` hook)."""
        state.next_attempt_requested = True
        self._sleep(self._wait(response))
        state.increment_current_attempt()


class RateLimitRetry(_Paced, RateLimitErrorRetryHandler):
    """HTTP 429: wait ``Retry-After`` and try once more, unless Slack asks for longer than
    ``max_wait``."""

    def __init__(self, *, sleep: Sleep = time.sleep, max_wait: float = MAX_RETRY_WAIT) -> None:
        super().__init__(max_retry_count=1)
        self._sleep = sleep
        self.max_wait = max_wait

    def _can_retry(self, *, response: HttpResponse | None = None, **rest: Any) -> bool:
        wait = _retry_after(response)
        limited = super()._can_retry(response=response, **rest)
        return limited and (wait is None or wait <= self.max_wait)

    def _wait(self, response: HttpResponse | None) -> float:
        wait = _retry_after(response)
        return RETRY_PAUSE if wait is None else wait


class TransientErrorRetry(_Paced, ServerErrorRetryHandler):
    """Slack's 5xx answers, and the ``ok: false`` errors Slack calls transient, once more
    after a pause (slack-sdk's handler looks at the status alone)."""

    def __init__(self, *, sleep: Sleep = time.sleep) -> None:
        super().__init__(max_retry_count=1)
        self._sleep = sleep

    def _can_retry(self, *, response: HttpResponse | None = None, **rest: Any) -> bool:
        if response is None:
            return False
        body = response.body if isinstance(response.body, dict) else {}
        return response.status_code >= 500 or body.get("error") in RETRYABLE_ERRORS


def web_client(token: str, base_url: str, *, sleep: Sleep = time.sleep) -> WebClient:
    """A ``WebClient`` at ``base_url`` that retries rate limits, transient errors and lost
    connections once each call."""
    return WebClient(
        token=token,
        # WebClient joins method names onto the base URL, so it must end with a slash.
        base_url=base_url if base_url.endswith("/") else base_url + "/",
        retry_handlers=[
            RateLimitRetry(sleep=sleep),
            TransientErrorRetry(sleep=sleep),
            ConnectionErrorRetryHandler(max_retry_count=1),
        ],
    )


def attempt(method: str, call: Callable[..., SlackResponse], **params: Any) -> SlackResponse | None:
    """``call(**params)`` (a ``WebClient`` method, or Bolt's ``say``/``set_status``…); ``None``
    once it has failed for good, logged under ``method`` with Slack's error code."""
    try:
        return call(**params)
    except SlackApiError as exc:
        error = str(exc.response.get("error") or f"HTTP {exc.response.status_code}")
    except Exception as exc:  # unreachable host, timeout, bad JSON from a proxy
        error = type(exc).__name__
    logger.warning("Slack %s failed (%s); giving up", method, error)
    return None


class Delivery:
    """Posts replies into Slack threads with one ``WebClient``."""

    def __init__(
        self,
        client: WebClient,
        *,
        stream_interval: float = STREAM_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.stream_interval = stream_interval
        self._clock = clock

    def post(self, channel: str, text: str, thread_ts: str | None = None) -> str | None:
        """Post ``text`` (in ``thread_ts``'s thread when given); the new message's ts."""
        # No unfurling, here or in any answer that replaces this text: Slack's servers would
        # fetch any URL a model or a quoted passage put in it.
        posted = attempt(
            "chat.postMessage",
            self.client.chat_postMessage,
            channel=channel,
            text=text,
            unfurl_links=False,
            unfurl_media=False,
            **({"thread_ts": thread_ts} if thread_ts else {}),
        )
        ts = posted.get("ts") if posted is not None else None
        return str(ts) if ts else None

    def update(self, channel: str, ts: str, text: str) -> bool:
        """Replace message ``ts``'s text; False when Slack would not take it."""
        return (
            attempt("chat.update", self.client.chat_update, channel=channel, ts=ts, text=text)
            is not None
        )

    def stream(
        self,
        pieces: Iterable[str | BotReply],
        channel: str,
        thread_ts: str,
        message_ts: str | None = None,
    ) -> None:
        """Show the answer as it is written, then the reply that ends ``pieces``.

        ``message_ts`` is the "Thinking…" message to replace; without one, the first piece
        shown becomes the message. Edits come at most every ``stream_interval`` seconds, so
        an answer ready at once is one edit.
        """
        written, shown_at, reply = "", self._clock(), None
        for piece in pieces:
            if isinstance(piece, BotReply):
                reply = piece
                break
            written += piece
            text = partial_text(written)
            if text is None or self._clock() - shown_at < self.stream_interval:
                continue
            if message_ts:
                self.update(channel, message_ts, text)
            else:
                message_ts = self.post(channel, text, thread_ts)
            shown_at = self._clock()
        if reply is not None:
            self.deliver(reply, channel, thread_ts, message_ts)

    def deliver(
        self, reply: BotReply, channel: str, thread_ts: str, message_ts: str | None = None
    ) -> None:
        """Put ``reply`` in the thread: into ``message_ts`` when given, the rest (a long answer)
        in more messages; an apology when Slack takes none of it."""
        first, *rest = slack_messages(reply)
        ok = (
            self.update(channel, message_ts, first)
            if message_ts
            else bool(self.post(channel, first, thread_ts))
        )
        for text in rest:
            if not ok:
                break
            ok = bool(self.post(channel, text, thread_ts))
        if not ok:
            attempt(
                "chat.postMessage",
                self.client.chat_postMessage,
                channel=channel,
                thread_ts=thread_ts,
                text=DELIVERY_APOLOGY,
            )

    @staticmethod
    def respond(response_url: str, reply: BotReply) -> None:
        """Tell the asker alone, through a slash command's ``response_url``."""
        webhook = WebhookClient(response_url)
        for text in slack_messages(reply):
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
