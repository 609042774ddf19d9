"""What the network surfaces share: who may listen where, and the optional bearer key.

Plain ASGI, no framework: the HTTP API (FastAPI) and the MCP server's Starlette app wrap
themselves in the same ``BearerAuth`` so one key means the same thing on both.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
from collections.abc import Awaitable, Callable, Iterable, MutableMapping, Sequence
from typing import Any

from assistant.errors import ExposureError
from assistant.schema import Turn

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def turns_from_messages(messages: Sequence[tuple[str, str]]) -> tuple[str, list[Turn]]:
    """The question (the last user message) and the earlier user/assistant pairs as history,
    from ``(role, text)`` pairs in a chat API's order.

    Other roles (system, tool) are skipped: the answerer has its own prompt. A user message
    that got no assistant reply is dropped, as a chat UI's retried message would be.
    """
    from assistant.api import QuestionError  # lazy: `--version` imports this module, not Chroma

    talk = [(role, text) for role, text in messages if role in ("user", "assistant")]
    if not talk or talk[-1][0] != "user":
        raise QuestionError("The last message must be the user's question.")
    history: list[Turn] = []
    pending: str | None = None
    for role, text in talk[:-1]:
        if role == "user":
            pending = text
        elif pending is not None:
            history.append(Turn(question=pending, answer=text))
            pending = None
    return talk[-1][1], history


def package_version() -> str:
    """The installed version of episode-assistant."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("episode-assistant")
    except PackageNotFoundError:  # a source tree that was never installed
        return "0+unknown"


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False


def check_exposure(host: str, api_key: str | None, what: str) -> None:
    """Refuse to serve a non-loopback address without a key.

    Refusing rather than warning: a warning scrolls by in a container log while the
    episodes, and any OpenAI key behind the answerer, are open to the whole network.
    """
    if api_key or is_loopback(host):
        return
    raise ExposureError(
        f"refusing to serve the {what} on {host} without an API key: anyone who can reach "
        "it could use it. Set EPISODE_ASSISTANT_API_KEY (clients send it as "
        "'Authorization: Bearer <key>'), or listen on 127.0.0.1 behind your own proxy."
    )


def error_body(message: str, type_: str, code: str | None = None) -> dict[str, Any]:
    """An error in the shape OpenAI clients parse: ``{"error": {"message", "type", "code"}}``."""
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


class BearerAuth:
    """ASGI middleware: every HTTP request but ``open_paths`` needs ``Authorization: Bearer key``."""

    def __init__(self, app: ASGIApp, api_key: str, open_paths: Iterable[str] = ()) -> None:
        self.app = app
        self.expected = f"Bearer {api_key}".encode()
        self.open_paths = set(open_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in self.open_paths:
            await self.app(scope, receive, send)
            return
        given = dict(scope.get("headers") or []).get(b"authorization", b"")
        # compare_digest: the time a wrong key takes to refuse says nothing about the right one.
        if hmac.compare_digest(given, self.expected):
            await self.app(scope, receive, send)
            return
        message = (
            "missing API key: send 'Authorization: Bearer <key>'"
            if not given
            else "invalid API key"
        )
        body = json.dumps(error_body(message, "authentication_error", "invalid_api_key")).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"www-authenticate", b"Bearer"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
