"""The one place an ``openai`` client is made from settings (answers, judge, embeddings).

Retries are the client's own (``max_retries``: connection errors, timeouts, 408, 409, 429
and 5xx, with its jittered backoff and ``Retry-After`` honoured up to a minute). An answer
someone is waiting for needs two rules the client lacks (``make_client(…, waiting=True)``):
a prompt whose reply timed out is never sent again, and a server that asks for a longer
wait than ``MAX_RETRY_AFTER`` gets the offline answer instead of a minute's silence.
"""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime

import httpx
import openai

from assistant.config import Settings

# A server asking us to wait longer than this gets the offline answer instead: nobody waits
# a minute for a chat reply.
MAX_RETRY_AFTER = 20.0
# The client numbers each attempt of one request in this header (0 for the first).
RETRY_COUNT_HEADER = "x-stainless-retry-count"


def make_client(settings: Settings, *, waiting: bool = False) -> openai.OpenAI:
    """An ``openai.OpenAI`` for the configured server, retrying ``llm.max_retries`` times;
    ``waiting``: for replies a person waits for (see the module doc)."""
    key = settings.llm.api_key
    return openai.OpenAI(
        # Local servers need no key, but the client insists on one.
        api_key=key.get_secret_value() if key else "not-needed",
        base_url=settings.llm.base_url or None,
        # The read timeout bounds the wait for the first token (and each one after); the
        # whole reply's budget is kept by the caller.
        timeout=httpx.Timeout(
            settings.llm.timeout,
            read=settings.llm.read_timeout,
            connect=min(10.0, settings.llm.timeout),
        ),
        max_retries=settings.llm.max_retries,
        http_client=_WaitingClient() if waiting else None,
    )


def requests_made(request: httpx.Request | None) -> int:
    """How many requests the client sent to get as far as ``request`` (its last attempt)."""
    try:
        return int(request.headers.get(RETRY_COUNT_HEADER, "0")) + 1 if request else 1
    except ValueError:
        return 1


def retry_after(response: httpx.Response) -> float | None:
    """Seconds a 429 asks us to wait: ``retry-after-ms``, or ``Retry-After`` in seconds or
    as an HTTP date."""
    headers = response.headers
    try:
        if "retry-after-ms" in headers:
            return max(0.0, float(headers["retry-after-ms"]) / 1000)
        value = headers.get("retry-after")
        if value is None:
            return None
        try:
            return max(0.0, float(value))
        except ValueError:
            when = parsedate_to_datetime(value)
            return max(0.0, when.timestamp() - time.time())
    except (TypeError, ValueError):
        return None


class _WaitingClient(openai.DefaultHttpxClient):
    """The client's transport with the two rules of a reply someone waits for. They sit
    under the client's retry loop, which re-raises an ``OpenAIError`` as it is (no retry)
    and obeys an ``x-should-retry`` header."""

    def send(self, request: httpx.Request, **kwargs: object) -> httpx.Response:  # type: ignore[override]
        try:
            response = super().send(request, **kwargs)
        except httpx.ReadTimeout as exc:
            # The server got the prompt and is still reading it (a 2,500-token prompt takes
            # a CPU model 25 s): sending it again only starts that over.
            raise openai.APITimeoutError(request=request) from exc
        wait = retry_after(response) if response.status_code == 429 else None
        if wait is not None and wait > MAX_RETRY_AFTER:
            response.headers["x-should-retry"] = "false"
        return response
