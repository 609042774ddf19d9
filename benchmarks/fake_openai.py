"""A scripted OpenAI-compatible chat server for tests and the bench: a small Starlette app
served by uvicorn in a thread on a free loopback port.

It speaks ``GET /v1/models`` and ``POST /v1/chat/completions`` with and without ``stream=true`` (SSE ``data: {...}``
chunks, a final chunk with ``finish_reason``, a usage chunk when ``stream_options`` asks for
one, then ``data: [DONE]``). Each test queues ``Reply`` objects; every request body and its
headers are recorded in ``requests``. The bench gives it a ``default`` reply instead, sent to
every request nothing is queued for. It lives beside the bench rather than in ``tests/`` because
the bench cannot import the tests, and the tests can import the bench's tools.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route


class CutConnection(Exception):
    """Raised inside a streaming body so the server drops the connection mid-stream."""


class _QuietCuts(logging.Filter):
    """Keep uvicorn from printing a traceback for every connection we cut on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], CutConnection))


logging.getLogger("uvicorn.error").addFilter(_QuietCuts())


@dataclass
class Reply:
    """One scripted answer to one request."""

    text: str = ""
    pieces: list[str] | None = None  # the deltas to send; default: ``text`` in 5-char pieces
    status: int = 200
    error: str = "scripted error"  # the error message of a status >= 400
    echo_auth: bool = False  # a careless server repeating the Authorization header it got
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # before anything is sent (longer than the client timeout: a timeout)
    chunk_delay: float = 0.0
    malformed_after: int | None = None  # send a chunk of broken JSON after this many deltas
    cut_after: int | None = None  # drop the connection after this many deltas
    no_finish: bool = False  # end the body after the deltas: no finish_reason, no [DONE]
    report_usage: bool = True
    gate: threading.Event | None = None  # wait (up to 5 s) for the test before delta gate_after
    gate_after: int = 1
    finish_reason: str = "stop"

    def deltas(self) -> list[str]:
        """The content deltas this reply streams."""
        if self.pieces is not None:
            return self.pieces
        return [self.text[i : i + 5] for i in range(0, len(self.text), 5)]


@dataclass
class Recorded:
    """A request as the server received it."""

    body: dict[str, Any]
    headers: dict[str, str]
    at: float

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The chat messages of the request."""
        return self.body.get("messages", [])

    def content(self, role: str) -> str:
        """All message text of one role, joined."""
        return "\n".join(m["content"] for m in self.messages if m["role"] == role)


class FakeOpenAI:
    """The server; ``script`` queues replies, ``requests`` records what arrived."""

    def __init__(self, default: Reply | None = None) -> None:
        self.replies: deque[Reply] = deque()
        # Sent when nothing is queued; without one an unscripted request is a 500.
        self.default = default
        self.requests: list[Recorded] = []
        self.gates_opened: list[bool] = []
        self.port = 0
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        # What ``GET /v1/models`` lists (a llama.cpp server lists the one model it serves).
        self.models: list[str] = []
        self.app = Starlette(
            routes=[
                Route("/v1/chat/completions", self._completions, methods=["POST"]),
                Route("/v1/models", self._models, methods=["GET"]),
            ]
        )

    @property
    def base_url(self) -> str:
        """What ``OPENAI_BASE_URL`` would be for this server."""
        return f"http://127.0.0.1:{self.port}/v1"

    def script(self, *replies: Reply) -> None:
        """Queue replies for the next requests, in order."""
        self.replies.extend(replies)

    def reset(self) -> None:
        """Forget the script and the recorded requests."""
        self.replies.clear()
        self.requests.clear()
        self.gates_opened.clear()
        self.models = []

    # --- lifecycle -----------------------------------------------------------------------

    def start(self) -> FakeOpenAI:
        """Serve on a free 127.0.0.1 port in a background thread."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app, log_level="warning", log_config=None, lifespan="off", access_log=False
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("fake OpenAI server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Shut the server down and wait for its thread."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5)

    # --- the endpoints -------------------------------------------------------------------

    async def _models(self, request: Request) -> Response:
        data = [{"id": m, "object": "model", "created": 0, "owned_by": "fake"} for m in self.models]
        return JSONResponse({"object": "list", "data": data})

    async def _completions(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append(Recorded(body, dict(request.headers), time.monotonic()))
        if self.replies:
            reply = self.replies.popleft()
        else:
            reply = self.default or Reply(status=500, error="unscripted")
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.status >= 400:
            message = reply.error
            if reply.echo_auth:
                message += f" (received {request.headers.get('authorization', '')})"
            return JSONResponse(
                {"error": {"message": message, "type": "scripted", "code": reply.status}},
                status_code=reply.status,
                headers=reply.headers,
            )
        model = body.get("model", "fake")
        if not body.get("stream"):
            return JSONResponse(self._completion(model, reply, body), headers=reply.headers)
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        return StreamingResponse(
            self._chunks(model, reply, body, include_usage),
            media_type="text/event-stream",
            headers=reply.headers,
        )

    @staticmethod
    def _usage(body: dict[str, Any], text: str) -> dict[str, int]:
        prompt = sum(len(str(m.get("content", "")).split()) for m in body.get("messages", []))
        done = len(text.split())
        return {"prompt_tokens": prompt, "completion_tokens": done, "total_tokens": prompt + done}

    def _completion(self, model: str, reply: Reply, body: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": reply.text},
                    "finish_reason": reply.finish_reason,
                }
            ],
        }
        if reply.report_usage:
            out["usage"] = self._usage(body, reply.text)
        return out

    async def _chunks(
        self, model: str, reply: Reply, body: dict[str, Any], include_usage: bool
    ) -> AsyncIterator[str]:
        def event(choices: list[dict[str, Any]], **extra: Any) -> str:
            data = {
                "id": "chatcmpl-fake",
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": model,
                "choices": choices,
                **extra,
            }
            return f"data: {json.dumps(data)}\n\n"

        yield event([{"index": 0, "delta": {"role": "assistant", "content": ""}}])
        for i, piece in enumerate(reply.deltas()):
            if reply.gate is not None and i == reply.gate_after:
                opened = await asyncio.to_thread(reply.gate.wait, 5)
                self.gates_opened.append(opened)
            if reply.malformed_after is not None and i == reply.malformed_after:
                yield 'data: {"id": "chatcmpl-fake", "choices": [{"delta": {"content": "bro\n\n'
                return
            if reply.cut_after is not None and i == reply.cut_after:
                raise CutConnection("scripted: connection dropped mid-stream")
            if reply.chunk_delay:
                await asyncio.sleep(reply.chunk_delay)
            yield event([{"index": 0, "delta": {"content": piece}, "finish_reason": None}])
        if reply.no_finish:
            return
        yield event([{"index": 0, "delta": {}, "finish_reason": reply.finish_reason}])
        if include_usage and reply.report_usage:
            yield event([], usage=self._usage(body, "".join(reply.deltas())))
        yield "data: [DONE]\n\n"
