"""The Events API endpoint: a Starlette app in front of Bolt, served by uvicorn.

Bolt verifies signatures, answers ``url_verification`` and dispatches; this module only
serves HTTP: bounded bodies, bodies Bolt could not parse refused with a 400, a health check,
and a start/stop pair so tests (and embedders) can run it in the background. To mount the
endpoint in an ASGI app of your own, use ``create_asgi_app(app)``.
"""

from __future__ import annotations

import json
import threading
import time
from urllib.parse import parse_qsl

import uvicorn
from slack_bolt import App
from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

EVENTS_PATH = "/slack/events"
HEALTH_PATH = "/healthz"
# Slack's payloads are a few kilobytes; anything near this is not from Slack.
MAX_BODY = 1_000_000
# Connections served at once; more get a 503 rather than memory.
MAX_CONNECTIONS = 200


def create_asgi_app(app: App, *, path: str = EVENTS_PATH, max_body: int = MAX_BODY) -> Starlette:
    """An ASGI app serving Bolt ``app`` at ``POST path``, and ``GET /healthz`` (``ok``).

    Oversized, non-UTF-8 and unparseable bodies are refused before Bolt sees them.
    """

    async def events(request: Request) -> Response:
        try:
            length = int(request.headers.get("content-length") or 0)
        except ValueError:
            return PlainTextResponse("bad Content-Length", status_code=400)
        if length < 0 or length > max_body:
            return PlainTextResponse("body too large", status_code=413)
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > max_body:  # a chunked body has no Content-Length to check
                return PlainTextResponse("body too large", status_code=413)
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return PlainTextResponse("body is not UTF-8", status_code=400)
        if not _parseable(text, request.headers.get("content-type") or ""):
            # Bolt parses the body before it checks the signature, and a body it cannot parse
            # raised inside it: a 500 with a traceback, signed or not.
            return PlainTextResponse("body is not a Slack payload", status_code=400)
        # Bolt's dispatch blocks (up to 3 s, waiting for a listener's ack): not on the loop.
        bolt_response = await run_in_threadpool(app.dispatch, to_bolt_request(request, bytes(body)))
        return to_starlette_response(bolt_response)

    async def health(request: Request) -> Response:
        return PlainTextResponse("ok")

    return Starlette(
        routes=[Route(path, events, methods=["POST"]), Route(HEALTH_PATH, health, methods=["GET"])]
    )


def _parseable(body: str, content_type: str) -> bool:
    """Whether Bolt's own parsing (``slack_bolt.request.internals.parse_body``) gives a JSON
    object for ``body``: JSON when it says so or looks so, else a form whose ``payload``
    field, if any, is JSON."""
    if not body:
        return True
    if content_type.split(";")[0].strip() == "application/json" or body.startswith("{"):
        return _json_object(body)
    if "payload" in body:
        payload = dict(parse_qsl(body, keep_blank_values=True)).get("payload")
        return payload is None or _json_object(payload)
    return True


def _json_object(text: str) -> bool:
    try:
        return isinstance(json.loads(text), dict)
    except ValueError:
        return False


class SlackHTTPServer:
    """Serves a Bolt ``App`` at ``path`` with uvicorn, in the foreground or a background thread.

    >>> server = SlackHTTPServer(app, "127.0.0.1", 0).start()   # port 0: any free port
    >>> server.url                                              # http://127.0.0.1:PORT/slack/events
    >>> server.stop()
    """

    def __init__(
        self,
        app: App,
        host: str = "127.0.0.1",
        port: int = 3000,
        *,
        path: str = EVENTS_PATH,
        max_body: int = MAX_BODY,
    ) -> None:
        self.host = host
        self.path = path
        config = uvicorn.Config(
            create_asgi_app(app, path=path, max_body=max_body),
            host=host,
            port=port,
            # Our logging, not uvicorn's own configuration; no access lines (they would
            # only repeat Slack's IP addresses).
            log_config=None,
            access_log=False,
            lifespan="off",
            limit_concurrency=MAX_CONNECTIONS,
            timeout_keep_alive=15,
        )
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        """The bound host and port once serving (the real port when 0 was asked for), else
        the configured ones."""
        servers = getattr(self._server, "servers", None) or []
        for server in servers:
            for sock in server.sockets:
                host, port = sock.getsockname()[:2]
                return str(host), int(port)
        return self.host, self._server.config.port

    @property
    def port(self) -> int:
        """The bound port (the configured one until serving starts)."""
        return self.address[1]

    @property
    def url(self) -> str:
        """The Events API URL this server answers at."""
        return f"http://{self.host}:{self.port}{self.path}"

    def serve_forever(self) -> None:
        """Serve in this thread until ``stop()`` (from another thread) or an interrupt."""
        self._server.run()

    def start(self, timeout: float = 10.0) -> SlackHTTPServer:
        """Serve in a daemon thread, once the port is bound; returns ``self``."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self.serve_forever, name="slack-http", daemon=True
            )
            self._thread.start()
            deadline = time.monotonic() + timeout
            while not self._server.started and self._thread.is_alive():
                if time.monotonic() > deadline:
                    break
                time.sleep(0.02)
            if not self._server.started:
                raise OSError(f"could not serve Slack events on {self.host}:{self.address[1]}")
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
