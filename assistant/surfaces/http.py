"""The HTTP API: an OpenAI-compatible ``/v1/chat/completions`` (streaming too) whose replies
cite episodes, plus ``/search``, ``/ask`` and ``/healthz`` returning the typed objects as JSON.

Every route goes through ``Assistant``; this module only translates. Errors a client can
cause come back as 4xx JSON in OpenAI's ``{"error": {...}}`` shape, never a traceback.
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any, Literal

import anyio
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
from starlette.exceptions import HTTPException

from assistant.api import Assistant
from assistant.config import Settings
from assistant.errors import AssistantError, IndexFailure, InputError
from assistant.index.store import EpisodeSummary
from assistant.schema import Answer, Citation, Hit, Turn
from assistant.surfaces.common import (
    BearerAuth,
    check_exposure,
    error_body,
    package_version,
    turns_from_messages,
)

logger = logging.getLogger(__name__)

# What the reply text appends after the answer, so a chat UI that shows only the text (Open
# WebUI, LibreChat) still shows what each [n] points at; stripped again from prior assistant
# messages before they become history.
SOURCES_HEADING = "\n\nSources:\n"
SEE_ALSO_HEADING = "\n\nSee also:\n"
NOTE_HEADING = "\n\nNote: "  # e.g. "LLM unavailable: showing quoted passages"
OPEN_PATHS = ("/healthz",)

Filter = str | list[str] | None


# --- request and response models -----------------------------------------------------------


class ContentPart(BaseModel):
    """One block of a message's content list; only text blocks are read."""

    model_config = ConfigDict(extra="allow")
    type: str
    text: str | None = None


class ChatMessage(BaseModel):
    """A message of an OpenAI chat request."""

    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[ContentPart] | None = None

    def text(self) -> str:
        """The message's text, its text blocks joined."""
        if isinstance(self.content, list):
            return "\n".join(p.text for p in self.content if p.type == "text" and p.text)
        return self.content or ""


class ChatRequest(BaseModel):
    """``POST /v1/chat/completions``. Sampling options (temperature, max_tokens …) are accepted
    and ignored: the configured answerer decides. ``episode``/``speaker`` narrow the search
    (send them with the OpenAI client's ``extra_body``)."""

    model_config = ConfigDict(extra="allow")
    model: str | None = None
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    stream_options: dict[str, Any] | None = None
    episode: Filter = None
    speaker: Filter = None


class SearchRequest(BaseModel):
    """``POST /search``."""

    query: str
    k: int | None = Field(None, ge=1, le=50)
    episode: Filter = None
    speaker: Filter = None


class AskRequest(BaseModel):
    """``POST /ask``; ``history`` is the previous answer's ``history``, for follow-ups."""

    question: str
    history: list[Turn] = Field(default_factory=list)
    episode: Filter = None
    speaker: Filter = None


class Health(BaseModel):
    """``GET /healthz``."""

    status: Literal["ok"] = "ok"
    episodes: int
    chunks: int
    answerer: str


class ChatOutcome(BaseModel):
    """What a chat completion adds to OpenAI's fields: the answer's structured side."""

    citations: list[Citation]
    see_also: list[Citation]
    abstained: bool
    notice: str | None


# --- helpers ---------------------------------------------------------------------------------


def history_from_messages(messages: list[ChatMessage]) -> tuple[str, list[Turn]]:
    """The question and the history, without the sources lists this API appended."""
    return turns_from_messages(
        [(m.role, strip_sources(m.text()) if m.role == "assistant" else m.text()) for m in messages]
    )


def strip_sources(text: str) -> str:
    """An assistant message without the sources list this API appended to it."""
    for heading in (SOURCES_HEADING, SEE_ALSO_HEADING, NOTE_HEADING):
        text = text.split(heading, 1)[0]
    return text


def sources_text(answer: Answer) -> str:
    """What the reply text appends to the answer: its sources list, and the notice if any."""
    note = NOTE_HEADING + answer.notice if answer.notice else ""
    cited, heading = answer.citations, SOURCES_HEADING
    if not cited and answer.abstained and answer.see_also:
        cited, heading = answer.see_also, SEE_ALSO_HEADING
    if not cited:
        return note
    lines = []
    for c in cited:
        link = f" <{c.url}>" if c.url else ""
        lines.append(f"[{c.n}] {c.heading()}: “{c.quote}”{link}")
    return heading + "\n".join(lines) + note


def outcome(answer: Answer) -> dict[str, Any]:
    """The structured fields a chat completion carries next to OpenAI's."""
    return ChatOutcome(
        citations=answer.citations,
        see_also=answer.see_also,
        abstained=answer.abstained,
        notice=answer.notice,
    ).model_dump(mode="json")


def usage(answer: Answer) -> dict[str, int]:
    """OpenAI's usage object from the answer's (zero for the offline answerer)."""
    prompt, completion = answer.usage.prompt_tokens, answer.usage.completion_tokens
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _error(status: int, message: str, type_: str, code: str | None = None) -> JSONResponse:
    return JSONResponse(error_body(message, type_, code), status_code=status)


def _validation_message(exc: RequestValidationError) -> tuple[str, str]:
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return "The request body is not valid JSON.", "invalid_json"
    parts = []
    for e in errors[:3]:
        where = ".".join(str(p) for p in e.get("loc", ()) if p != "body")
        parts.append(f"{where or 'body'}: {e.get('msg', 'invalid')}")
    return "Invalid request: " + "; ".join(parts), "invalid_request"


# --- the app ---------------------------------------------------------------------------------


def create_app(bot: Assistant) -> FastAPI | BearerAuth:
    """The FastAPI app over ``bot``; wrapped in the bearer check when a key is set."""
    settings = bot.settings
    model_id = settings.server.model
    app = FastAPI(
        title="episode-assistant",
        summary="Answers from podcast episodes, each claim citing episode, time and speaker.",
        version=package_version(),
    )

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        message, code = _validation_message(exc)
        return _error(400, message, "invalid_request_error", code)

    @app.exception_handler(HTTPException)
    async def _http(_: Request, exc: HTTPException) -> JSONResponse:
        return _error(exc.status_code, str(exc.detail), "invalid_request_error")

    @app.exception_handler(AssistantError)
    async def _refused(_: Request, exc: AssistantError) -> JSONResponse:
        # The caller's mistake is a 400; an index that cannot be searched is this server's
        # (503, it may come back); anything else of ours is logged and a 500.
        if isinstance(exc, InputError):
            return _error(400, str(exc), "invalid_request_error", exc.code)
        if isinstance(exc, IndexFailure):
            return _error(503, str(exc), "server_error", exc.code)
        logger.error("the HTTP API could not answer: %s", exc)
        return _error(500, str(exc), "server_error", exc.code)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        logger.exception("unexpected error in the HTTP API")
        return _error(500, "Internal error: the server log has the details.", "server_error")

    @app.get("/healthz")
    def healthz() -> Health:
        """Whether the index is open, and what answers."""
        manifest = bot.retriever().manifest
        return Health(
            episodes=len(manifest.episodes), chunks=manifest.chunks, answerer=bot.pipeline.name
        )

    @app.get("/episodes")
    def episodes() -> list[EpisodeSummary]:
        """The indexed episodes (what ``episode`` filters can name)."""
        return bot.episodes()

    # A search is all CPU (embedding, vector products, BM25, Chroma's read), so more of them
    # in flight than this process's share of the cores only contend: at 100x, 8 clients
    # against 2 workers went 1.78-1.86x with threads unbounded, 1.83-1.93x bounded to one.
    searching = anyio.CapacityLimiter(search_threads(settings.server.workers))

    @app.post("/search")
    async def search(request: SearchRequest) -> list[Hit]:
        """The top passages, each with episode, chapter, timestamp, speaker and text."""
        return await anyio.to_thread.run_sync(
            lambda: bot.search(
                request.query, request.k, episode=request.episode, speaker=request.speaker
            ),
            limiter=searching,
        )

    @app.post("/ask")
    def ask(request: AskRequest) -> Answer:
        """An answer with ``[n]`` markers and its citations."""
        return bot.ask(
            request.question,
            history=request.history,
            episode=request.episode,
            speaker=request.speaker,
        )

    model = {"id": model_id, "object": "model", "created": 0, "owned_by": "episode-assistant"}

    @app.get("/v1/models")
    def models() -> dict[str, Any]:
        """The one model this server is."""
        return {"object": "list", "data": [model]}

    @app.get("/v1/models/{name}")
    def one_model(name: str) -> dict[str, Any]:
        """The model, by its id (what ``client.models.retrieve`` asks for)."""
        if name != model_id:
            raise HTTPException(404, f"no model {name!r}: this server is {model_id!r}")
        return model

    @app.post("/v1/chat/completions", response_model=None)
    async def chat_completions(request: ChatRequest) -> JSONResponse | StreamingResponse:
        """OpenAI's chat completions; the reply cites episodes (``[n]`` and ``citations``)."""
        question, history = history_from_messages(request.messages)
        pieces = bot.stream(
            question, history=history, episode=request.episode, speaker=request.speaker
        )
        # The first step runs the checks (empty or long question, unknown filter): take it
        # before answering, so a bad request gets its 400 and not a stream that breaks.
        first = await run_in_threadpool(next, pieces, None)
        reply_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        created = int(time.time())
        if request.stream:
            include_usage = bool((request.stream_options or {}).get("include_usage"))
            return StreamingResponse(
                _sse(first, pieces, reply_id, created, model_id, include_usage),
                media_type="text/event-stream",
                headers={"Cache-Control": "no-cache"},
            )
        answer = await run_in_threadpool(_final, first, pieces)
        return JSONResponse(
            {
                "id": reply_id,
                "object": "chat.completion",
                "created": created,
                "model": model_id,
                "choices": [
                    {
                        "index": 0,
                        "message": {
                            "role": "assistant",
                            "content": answer.text + sources_text(answer),
                        },
                        "finish_reason": "stop",
                    }
                ],
                "usage": usage(answer),
                **outcome(answer),
            }
        )

    if settings.server.api_key is not None and settings.server.api_key.get_secret_value():
        return BearerAuth(app, settings.server.api_key.get_secret_value(), OPEN_PATHS)
    return app


def _final(first: str | Answer | None, pieces: Iterator[str | Answer]) -> Answer:
    final = first if isinstance(first, Answer) else None
    for piece in pieces:
        if isinstance(piece, Answer):
            final = piece
    assert final is not None, "Assistant.stream ended without an Answer"
    return final


async def _chain(
    first: str | Answer | None, rest: Iterator[str | Answer]
) -> AsyncIterator[str | Answer]:
    if first is not None:
        yield first
    async for piece in iterate_in_threadpool(rest):
        yield piece


async def _sse(
    first: str | Answer | None,
    pieces: Iterator[str | Answer],
    reply_id: str,
    created: int,
    model_id: str,
    include_usage: bool,
) -> AsyncIterator[str]:
    """OpenAI's stream: a role chunk, content deltas, a final chunk with the citations, [DONE]."""

    def event(choices: list[dict[str, Any]], **extra: Any) -> str:
        data = {
            "id": reply_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model_id,
            "choices": choices,
            **extra,
        }
        return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"

    def delta(text: str) -> str:
        return event([{"index": 0, "delta": {"content": text}, "finish_reason": None}])

    yield event([{"index": 0, "delta": {"role": "assistant", "content": ""}}])
    answer: Answer | None = None
    # Trailing spaces wait for the next piece: the final answer text is stripped, and the
    # streamed text should add up to exactly what a non-streamed reply says.
    held = ""
    try:
        async for piece in _chain(first, pieces):
            if isinstance(piece, Answer):
                answer = piece
                continue
            text = held + piece
            shown = text.rstrip()
            held = text[len(shown) :]
            if shown:
                yield delta(shown)
    except Exception:
        # Headers are sent: the error goes in the stream, where OpenAI clients raise it.
        logger.exception("the answer stream failed")
        body = error_body(
            "The answer failed midway: the server log has the details.", "server_error"
        )
        yield f"data: {json.dumps(body)}\n\n"
        return
    assert answer is not None, "Assistant.stream ended without an Answer"
    if footer := sources_text(answer):
        yield delta(footer)
    yield event([{"index": 0, "delta": {}, "finish_reason": "stop"}], **outcome(answer))
    if include_usage:
        yield event([], usage=usage(answer))
    yield "data: [DONE]\n\n"


def search_threads(workers: int) -> int:
    """How many searches one of ``workers`` processes runs at once: its share of the cores."""
    return max(1, (os.cpu_count() or 1) // max(1, workers))


def run_server(bot: Assistant, host: str, port: int, log_level: str = "info") -> None:
    """Serve the HTTP API on ``host:port`` until interrupted (refuses a bare public host).

    With ``server.workers`` above 1, uvicorn's own worker processes serve it, each opening
    the index as ``bot``'s settings say (``worker_app``).
    """
    import uvicorn

    key = bot.settings.server.api_key.get_secret_value() if bot.settings.server.api_key else None
    check_exposure(host, key, "HTTP API")
    workers = bot.settings.server.workers
    if workers == 1:
        bot.retriever()  # open the index first: when the port answers, the first question is quick
        uvicorn.run(create_app(bot), host=host, port=port, log_level=log_level)
        return
    # Threads in one process run Python one at a time (the GIL): 8 HTTP clients of one
    # process got 1.02-1.21x one client's searches on two shared cores, of 2 processes up to
    # 1.84x (README "Many users at once"). uvicorn starts the workers afresh, so they learn
    # the settings (the command line's too) from the environment they inherit.
    bot.settings.export(os.environ)
    uvicorn.run(
        f"{__name__}:worker_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
    )


def worker_app() -> FastAPI | BearerAuth:
    """The app of one worker process of ``run_server``: its own ``Assistant``, index opened
    before it takes requests."""
    bot = Assistant(Settings())
    bot.retriever()
    return create_app(bot)
