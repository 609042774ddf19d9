"""The Events API endpoint: a threaded WSGI server in front of Bolt's WSGI adapter.

Bolt verifies signatures, answers ``url_verification`` and dispatches; this module only
serves HTTP: bounded bodies, a health check, no request thread held forever, and a
start/stop pair so tests (and embedders) can run it in the background. To run under a
production WSGI server instead, serve ``slack_bolt.adapter.wsgi.SlackRequestHandler(app)``.
"""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from urllib.parse import parse_qsl
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler

logger = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
HEALTH_PATH = "/healthz"
# Slack's payloads are a few kilobytes; anything near this is not from Slack.
MAX_BODY = 1_000_000

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class _Handler(WSGIRequestHandler):
    # A client that stalls mid-request must not hold a thread for ever.
    timeout = 15

    def log_message(self, format: str, *args: Any) -> None:
        # Access lines go to logging, not stderr; they carry no headers, so no secrets.
        logger.debug("%s %s", self.address_string(), format % args)


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


def _plain(start_response: Callable[..., Any], status: str, text: str) -> list[bytes]:
    body = text.encode()
    start_response(
        status, [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))]
    )
    return [body]


def guarded(app: WSGIApp, max_body: int = MAX_BODY) -> WSGIApp:
    """Wrap a WSGI app: ``GET /healthz`` answers ``ok``; oversized or non-UTF-8 bodies are
    refused before the app reads them."""

    def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == HEALTH_PATH and environ.get("REQUEST_METHOD") == "GET":
            return _plain(start_response, "200 OK", "ok")
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return _plain(start_response, "400 Bad Request", "bad Content-Length")
        if length < 0 or length > max_body:
            return _plain(start_response, "413 Payload Too Large", "body too large")
        body = environ["wsgi.input"].read(length) if length else b""
        try:
            body.decode("utf-8")
        except UnicodeDecodeError:
            return _plain(start_response, "400 Bad Request", "body is not UTF-8")
        if not _parseable(body.decode("utf-8"), environ.get("CONTENT_TYPE") or ""):
            # Bolt parses the body before it checks the signature, and a body it cannot parse
            # raised inside it: a 500 with a traceback, signed or not.
            return _plain(start_response, "400 Bad Request", "body is not a Slack payload")
        # The adapter reads the body again; hand it a fresh stream of exactly these bytes.
        environ["wsgi.input"] = io.BytesIO(body)
        return app(environ, start_response)

    return wsgi


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
    """Serves a Bolt ``App`` at ``path`` over HTTP, in the foreground or a background thread.

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
        wsgi_app = guarded(SlackRequestHandler(app, path=path), max_body)
        self._server = make_server(
            host, port, wsgi_app, server_class=_ThreadingWSGIServer, handler_class=_Handler
        )
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound port (the real one when 0 was asked for)."""
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """The Events API URL this server answers at."""
        return f"http://{self.host}:{self.port}{self.path}"

    def serve_forever(self) -> None:
        """Serve in this thread until ``stop()`` (from another thread) or an interrupt."""
        self._server.serve_forever(poll_interval=0.2)

    def start(self) -> SlackHTTPServer:
        """Serve in a daemon thread; returns ``self``."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self.serve_forever, name=f"slack-http-{self.port}", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._thread is not None:
            # shutdown() waits for serve_forever to notice, so only call it when one runs.
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()
