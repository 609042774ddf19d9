"""One call to an OpenAI-compatible chat model: the client, the model it names, the request,
what is asked again, and every failure classified in words safe to log and show.

Retries are the ``openai`` client's own (see ``assistant.openai_client``); what is added here
is what it lacks: a refused optional parameter is dropped and the request sent again at once,
and a streamed reply that broke before any text arrived is asked for again.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx
import openai

from assistant.errors import LLMFailure
from assistant.ingestion.chunking import count_tokens
from assistant.openai_client import MAX_RETRY_AFTER, make_client, requests_made, retry_after
from assistant.schema import Usage

if TYPE_CHECKING:
    from assistant.config import Settings

log = logging.getLogger(__name__)

# Parameters some servers or models reject; dropped once when an error names them.
OPTIONAL_PARAMS = ("stream_options", "temperature", "max_tokens")
SECRET_RE = re.compile(r"\b(sk-|Bearer\s+)[\w\-*.]{4,}")


@dataclass
class Reply:
    text: str = ""
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    requests: int = 1  # sent for it, the client's own retries included


@dataclass
class Run:
    """The bookkeeping of one synthesis: usage and timing."""

    started: float = field(default_factory=time.perf_counter)
    usage: Usage = field(default_factory=Usage)

    def add(self, messages: list[dict], reply: Reply) -> None:
        # Servers that don't report usage get a tiktoken estimate (≈4 tokens per message).
        prompt = reply.prompt_tokens
        if prompt is None:
            prompt = sum(count_tokens(m["content"]) + 4 for m in messages) + 2
        done = reply.completion_tokens
        if done is None:
            done = count_tokens(reply.text)
        self.usage.prompt_tokens += prompt
        self.usage.completion_tokens += done

    def first_token(self) -> None:
        if self.usage.time_to_first_token is None:
            self.usage.time_to_first_token = time.perf_counter() - self.started


class ChatClient:
    """Calls one OpenAI-compatible server's chat endpoint (thread-safe: one per synthesizer)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._client: openai.OpenAI | None = None
        self._lock = threading.Lock()
        self._dropped: set[str] = set()  # optional parameters this server turned down
        self._model: str | None = None
        self._model_lock = threading.Lock()

    @property
    def client(self) -> openai.OpenAI:
        """The ``openai`` client (made once; it is thread-safe and pools connections)."""
        with self._lock:
            if self._client is None:
                self._client = make_client(self.settings, waiting=True)
            return self._client

    @property
    def model(self) -> str:
        """The model to ask for: the configured one, or, when only a base URL is set, the one
        model the server lists (a local server rarely calls its model "gpt-4.1-mini")."""
        with self._model_lock:  # not ``_lock``: picking the model makes the client
            if self._model is None:
                self._model = self._pick_model()
            return self._model

    def _pick_model(self) -> str:
        configured = self.settings.llm.model
        if "model" in self.settings.llm.model_fields_set or not self.settings.llm.base_url:
            return configured
        try:
            names = [m.id for m in self.client.models.list()]
        except Exception as exc:  # listing is a convenience: the configured name still works
            log.info("could not list the server's models (%s)", type(exc).__name__)
            return configured
        if len(names) == 1:
            log.info("using the server's only model, %s", names[0])
            return names[0]
        if names and configured not in names:
            log.warning(
                "the server has no model %s; set EPISODE_ASSISTANT_LLM_MODEL to one of: %s",
                configured,
                ", ".join(names[:20]),
            )
        return configured

    def redact(self, text: str) -> str:
        """``text`` with the API key (and anything shaped like a key) blanked out."""
        key = self.settings.llm.api_key
        if key and len(key.get_secret_value()) >= 4:
            text = text.replace(key.get_secret_value(), "***")
        return SECRET_RE.sub(lambda m: m.group(1) + "***", text)

    # --- the answer ----------------------------------------------------------------------

    # --- one model call, with retries ----------------------------------------------------

    def call(
        self,
        messages: list[dict],
        run: Run,
        *,
        stream: bool,
        limit: int | None = None,
        stop: Callable[[], bool] | None = None,
    ) -> Iterator[str]:
        """Yield the reply's text (deltas when streaming), at most ``limit`` tokens; ``stop``
        ends the stream early when it says so. ``LLMFailure`` when it is no use trying again.

        The client retries what fails before a reply starts. What it cannot retry is a reply
        that broke after it started: one that broke before any text arrived is asked for
        again here, within the same ``llm_max_retries``.
        """
        sent = 0  # requests so far, the client's own retries included
        while True:
            got_text = counted = False
            reply = Reply()
            try:
                deltas = self._request(
                    messages,
                    reply,
                    stream=stream,
                    limit=limit,
                    retries=max(0, self.settings.llm.max_retries - sent),
                )
                try:
                    for delta in deltas:
                        got_text = True
                        if stream:
                            run.first_token()
                            if time.perf_counter() - run.started > self.settings.llm.timeout:
                                raise LLMFailure(
                                    f"no complete reply within {self.settings.llm.timeout:g} s",
                                    retry=False,
                                )
                        yield delta
                        if stop is not None and stop():
                            reply.finish_reason = "stop"  # we ended it: the guard's reason
                            break
                finally:
                    deltas.close()
                    sent += reply.requests
                    run.usage.calls += reply.requests
                counted = True
                run.add(messages, reply)
                if reply.finish_reason is None:
                    raise LLMFailure("stream ended before the reply was complete", retry=True)
                if reply.finish_reason not in ("stop", "length", "eos"):
                    raise LLMFailure(f"reply ended with {reply.finish_reason}", retry=False)
                if not stream and not reply.text.strip():
                    raise LLMFailure("unusable reply", retry=False)
                return
            except Exception as exc:
                if got_text and not counted:
                    run.add(messages, reply)  # the server did the work; count it
                failure = self._classify(exc)
                if failure.reason == "parameter dropped":
                    continue  # asked again at once without the parameter the server refused
                last = sent > self.settings.llm.max_retries or got_text or not failure.retry
                log.warning(
                    "LLM call failed: %s (%d of at most %d requests)%s",
                    failure.reason,
                    sent,
                    self.settings.llm.max_retries + 1,
                    "" if last else "; asking again",
                )
                if last:
                    raise failure from None

    def _request(
        self,
        messages: list[dict],
        reply: Reply,
        *,
        stream: bool,
        limit: int | None = None,
        retries: int,
    ) -> Iterator[str]:
        params: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "temperature": self.settings.llm.temperature,
            # Without a cap a looping model writes until its context is full (minutes on a CPU).
            "max_tokens": limit or self.settings.llm.max_tokens,
        }
        if stream:
            params["stream"] = True
            params["stream_options"] = {"include_usage": True}
        for name in tuple(self._dropped):  # another thread may add to it
            params.pop(name, None)
        completions = self.client.with_options(max_retries=retries).chat.completions
        try:
            raw = completions.with_raw_response.create(**params)
        except openai.APIError as exc:  # the request of the client's last attempt
            reply.requests = requests_made(exc.request)
            raise
        reply.requests = raw.retries_taken + 1
        if not stream:
            completion = raw.parse()
            if not completion.choices:
                raise ValueError("reply without choices")
            choice = completion.choices[0]
            reply.text = choice.message.content or ""
            reply.finish_reason = choice.finish_reason or "stop"
            if completion.usage:
                reply.prompt_tokens = completion.usage.prompt_tokens
                reply.completion_tokens = completion.usage.completion_tokens
            yield reply.text
            return
        chunks = raw.parse()
        try:
            for chunk in chunks:
                if chunk.usage:
                    reply.prompt_tokens = chunk.usage.prompt_tokens
                    reply.completion_tokens = chunk.usage.completion_tokens
                for choice in chunk.choices:
                    if choice.index != 0:
                        continue
                    text = choice.delta.content if choice.delta else None
                    if text:
                        reply.text += text
                        yield text
                    if choice.finish_reason:
                        reply.finish_reason = choice.finish_reason
        finally:
            chunks.close()

    def _classify(self, exc: Exception) -> LLMFailure:
        """What went wrong, in words safe to log, and whether asking again may help: only
        for a reply that broke after it started (the client has retried everything else)."""
        if isinstance(exc, LLMFailure):
            return exc
        if isinstance(exc, openai.BadRequestError):
            message = str(exc).lower()
            for name in OPTIONAL_PARAMS:
                if name in message and name not in self._dropped:
                    log.info("the server refused %s; sending requests without it", name)
                    self._dropped.add(name)
                    return LLMFailure("parameter dropped", retry=True)
        if isinstance(exc, openai.APITimeoutError | httpx.TimeoutException):
            cause = exc.__cause__ if isinstance(exc, openai.APITimeoutError) else exc
            if isinstance(cause, httpx.ConnectTimeout | httpx.PoolTimeout):
                return LLMFailure("timed out connecting to the server", retry=False)
            return LLMFailure(
                f"timed out after {self.settings.llm.read_timeout:g} s waiting for the model",
                retry=False,
            )
        if isinstance(exc, openai.APIConnectionError):
            cause = exc.__cause__ or exc
            return LLMFailure(f"cannot reach the server ({type(cause).__name__})", retry=False)
        if isinstance(exc, openai.APIStatusError):
            status = exc.status_code
            detail = self.redact(_error_message(exc))[:200]
            if status == 429:
                wait = retry_after(exc.response)
                if wait is not None and wait > MAX_RETRY_AFTER:
                    return LLMFailure(f"rate limited (429), asked to wait {wait:g} s", retry=False)
                return LLMFailure(f"rate limited (429): {detail}", retry=False)
            hint = {
                401: " (check the API key)",
                403: " (check the API key)",
                404: " (check the model name and base URL)",
            }
            return LLMFailure(f"HTTP {status}{hint.get(status, '')}: {detail}", retry=False)
        if isinstance(exc, openai.APIError):
            return LLMFailure(f"server error in stream: {self.redact(str(exc))[:200]}", retry=True)
        if isinstance(exc, httpx.TransportError):
            return LLMFailure(f"stream broke ({type(exc).__name__})", retry=True)
        if isinstance(exc, ValueError):  # json.JSONDecodeError and pydantic errors included
            return LLMFailure(f"malformed reply ({type(exc).__name__})", retry=True)
        if isinstance(exc, openai.OpenAIError):
            return LLMFailure(self.redact(f"{type(exc).__name__}: {exc}")[:200], retry=False)
        return LLMFailure(f"unexpected {type(exc).__name__}", retry=False)


def _error_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return inner["message"]
        if isinstance(inner, str):
            return inner
    return exc.message or ""
