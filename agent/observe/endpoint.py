"""The metrics endpoint: ``/metrics`` for Prometheus, ``/`` a landing page.

Further pages (the station's ``/status``) come in as a route table:
path -> a callable returning (content type, body).
"""
from __future__ import annotations

import socket
import ssl
import threading
from typing import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import structlog
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from ..os_faults import AcceptWatch
from .auth import REALM, BasicAuth

log = structlog.get_logger("ktp.http")

#: A page: returns (content type, body) for each GET.
Route = Callable[[], tuple[str, bytes]]

_LANDING = b"""<!doctype html><html lang="id"><head><meta charset="utf-8">
<title>ktp-agent</title></head><body><h1>ktp-agent</h1>
<p>Stasiun cetak KTP-el. <a href="/status">Status stasiun</a> &middot; <a href="/metrics">/metrics</a></p></body></html>
"""


class SharedExposition:
    """Renders ``/metrics``; scrapes that arrive while a rendering is under way take that one.

    Rendering the exposition costs about a millisecond of Python for the
    station's ~180 series; ten scrapers at once would otherwise render it ten
    times over while the print worker waits for the interpreter. A body is
    never older than the request that takes it by more than one rendering.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry
        self._cond = threading.Condition()
        self._rendering = False
        self._renderings = 0
        self._body: bytes | None = None

    def render(self) -> bytes:
        with self._cond:
            if self._rendering:
                under_way = self._renderings
                self._cond.wait_for(lambda: self._renderings != under_way)
                if self._body is not None:
                    return self._body
            self._rendering = True
        body = None
        try:
            body = generate_latest(self._registry)
            return body
        finally:
            with self._cond:  # a failed rendering wakes the waiters with nothing: each renders itself
                self._body, self._rendering = body, False
                self._renderings += 1
                self._cond.notify_all()


class _Listener(AcceptWatch, ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default backlog of 5 drops the SYNs of a sixth scraper connecting at once,
    # which then waits a whole second for its retransmission.
    request_queue_size = 128


class MetricsServer:
    """A small threaded HTTP server bound to ``metrics.listen``."""

    def __init__(self, registry: CollectorRegistry, host: str, port: int,
                 routes: dict[str, Route] | None = None, *, tls: ssl.SSLContext | None = None,
                 auth: BasicAuth | None = None, listener: socket.socket | None = None,
                 on_fault: Callable[[OSError], None] | None = None) -> None:
        handler = _handler_for(SharedExposition(registry), dict(routes or {}), auth)
        self._server = _Listener((host, port), handler, bind_and_activate=listener is None)
        self._server.on_fault = on_fault  # accept() found the process out of file descriptors
        if listener is not None:  # bound at start-up, before anything else was created (MetricsServer.bind)
            self._server.socket.close()
            self._server.socket = listener
            self._server.server_address = listener.getsockname()
        if tls is not None:  # the handshake runs in the request's thread, not in accept()
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True,
                                                  do_handshake_on_connect=False)
        self._thread = threading.Thread(target=self._server.serve_forever, name="metrics-http", daemon=True)

    @staticmethod
    def bind(host: str, port: int) -> socket.socket:
        """A listening socket on ``host:port``, for a MetricsServer made later (``listener=``); raises
        OSError (EADDRINUSE when another program holds the port)."""
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as http.server does
            sock.bind((host, port))
            sock.listen(_Listener.request_queue_size)
        except OSError:
            sock.close()
            raise
        return sock

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def start(self) -> "MetricsServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _handler_for(exposition: SharedExposition, routes: dict[str, Route],
                 auth: BasicAuth | None = None) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Status line, headers and body leave in one send (flushed after each request): every
        # send gives up the interpreter lock, and winning it back behind a busy print worker
        # can take a whole switch interval.
        wbufsize = 1 << 16
        timeout = 30  # a client that stops talking (or never finishes a TLS handshake) frees its thread

        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            path = self.path.split("?", 1)[0]
            if auth is not None and not auth.allows(self.headers.get("Authorization")):
                self._send(401, "text/plain; charset=utf-8", b"authentication required\n",
                           (("WWW-Authenticate", f'Basic realm="{REALM}", charset="UTF-8"'),))
            elif path == "/metrics":
                self._send(200, CONTENT_TYPE_LATEST, exposition.render())
            elif path == "/":
                self._send(200, "text/html; charset=utf-8", _LANDING)
            elif path in routes:
                self._route(routes[path])
            else:
                self._send(404, "text/plain; charset=utf-8", b"not found\n")

        def _route(self, route: Route) -> None:
            try:
                ctype, body = route()
            except Exception as exc:  # noqa: BLE001 - a broken page answers 500, the listener stays up
                log.error("http.page_failed", path=self.path.split("?", 1)[0], error=exc.__class__.__name__)
                self._send(500, "text/plain; charset=utf-8", b"internal error\n")
                return
            self._send(200, ctype, body)

        def _send(self, status: int, ctype: str, body: bytes, headers: tuple = ()) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # quiet: structlog owns logging
            return

    return Handler
