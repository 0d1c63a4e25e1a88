"""The reference job server over HTTP/1.1: keep-alive, Content-Length always, daemon threads.

Each connection has its own thread, so a held long poll (``wait_s``) blocks
no other station or request; connections have no idle timeout, so a poll held
for the protocol's 300 s is never cut by the server, and ``stop()`` ends held
polls at once. Answers carry no ``Server`` header.

``JobServer`` owns the listening socket and its thread; the protocol itself
lives in ``api.JobApi``. Requests are logged (job ids and paths only) when
``verbose`` is set, otherwise the server is silent.
"""
from __future__ import annotations

import socket
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Mapping

import structlog

from .api import ApiRequest, JobApi
from .faults import EndlessResponse
from .responses import Response, error_response
from .store import JobStore

MAX_BODY_BYTES = 1 << 20

log = structlog.get_logger("jobserver")


class JobServerError(Exception):
    """The server cannot start or is used before it started."""


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], api: JobApi, verbose: bool) -> None:
        self.api = api
        self.verbose = verbose
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, _JobRequestHandler)

    def handle_error(self, request, client_address) -> None:  # type: ignore[override]
        """A station that vanished mid-response is normal on a bad link; say nothing unless verbose."""
        if self.verbose or not isinstance(sys.exc_info()[1], (ConnectionError, ssl.SSLError)):
            super().handle_error(request, client_address)

    def process_request(self, request, client_address) -> None:  # type: ignore[override]
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request) -> None:  # type: ignore[override]
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def drop_connections(self) -> None:
        """End every kept-alive connection, so nothing is answered after stop()."""
        with self._open_lock:
            sockets = list(self._open)
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed by its peer


class _HttpServer6(_HttpServer):
    address_family = socket.AF_INET6


class _JobRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ktp-jobserver/1"
    disable_nagle_algorithm = True  # an answer goes out as soon as it is written (one write: _write_whole)
    server: _HttpServer

    def version_string(self) -> str:
        return self.server_version

    def send_response(self, code: int, message: str | None = None) -> None:
        """The status line and Date (RFC 9110 asks it of a server with a clock); no Server header:
        each answer is bytes on a metered link."""
        self.log_request(code)
        self.send_response_only(code, message)
        self.send_header("Date", self.date_time_string())

    def do_GET(self) -> None:
        self._serve("GET")

    def do_HEAD(self) -> None:
        self._serve("HEAD")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def _serve(self, method: str) -> None:
        body, refusal = self._read_body()
        if refusal is not None:
            self.close_connection = True
            self._send(refusal, head=method == "HEAD")
            return
        request = ApiRequest(method=method, target=self.path, headers=self.headers, body=body)
        try:
            response = self.server.api.handle(request)
        except Exception as exc:  # the request's boundary: answer 500, keep serving
            log.error("jobserver.request_failed", method=method, path=self.path.split("?")[0],
                      error=f"{exc.__class__.__name__}: {exc}")
            response = error_response(500, "internal error")
        self._send(response, head=method == "HEAD")

    def _read_body(self) -> tuple[bytes, Response | None]:
        if self.headers.get("Transfer-Encoding"):
            return b"", error_response(411, "send a Content-Length, not Transfer-Encoding")
        raw = self.headers.get("Content-Length")
        if raw is None:
            return b"", None
        try:
            length = int(raw)
        except ValueError:
            return b"", error_response(400, "Content-Length is not an integer")
        if length < 0 or length > MAX_BODY_BYTES:
            return b"", error_response(413, f"body over {MAX_BODY_BYTES} bytes")
        return self.rfile.read(length), None

    def _send(self, response: Response, *, head: bool) -> None:
        if isinstance(response, EndlessResponse) and not head:
            self._send_endless(response)
            return
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers:
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        if response.cut_after is None:
            self._write_whole(b"" if head else response.body)
            return
        self.end_headers()
        if head:
            return
        self.wfile.write(response.body[:response.cut_after])
        if response.stall_s <= 0:
            self.close_connection = True  # a body shorter than announced
            return
        self.wfile.flush()
        time.sleep(response.stall_s)
        self.wfile.write(response.body[response.cut_after:])

    def _write_whole(self, body: bytes) -> None:
        """Headers and body in one write: one TLS record (up to 16 KiB) and, for a small answer such
        as a poll's, one packet instead of two, with one ACK fewer coming back."""
        self._headers_buffer.append(b"\r\n")
        self.wfile.write(b"".join(self._headers_buffer) + body)
        self._headers_buffer = []

    def _send_endless(self, response: EndlessResponse) -> None:
        """Headers without Content-Length, then a body that goes on until the client hangs up."""
        self.close_connection = True
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        for name, value in response.headers:
            self.send_header(name, value)
        self.send_header("Connection", "close")
        self.end_headers()
        written = 0
        try:
            self.wfile.write(response.prefix)
            written += len(response.prefix)
            while True:
                self.wfile.write(response.filler)
                written += len(response.filler)
        except OSError:
            pass  # the client hung up (or the server stopped): the end of an endless body
        finally:
            response.on_end(written)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        if self.server.verbose:
            log.info("jobserver.request", method=self.command, path=self.path.split("?")[0], status=code)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (stdlib signature)
        if self.server.verbose:
            log.info("jobserver.http", message=format % args)


class JobServer:
    """Serves one ``JobStore`` to stations holding one of ``tokens`` (token -> station id)."""

    def __init__(self, store: JobStore, host: str = "127.0.0.1", port: int = 0, *,
                 tokens: Mapping[str, str], poll_after_s: int = 30, verbose: bool = False,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self.store = store
        self._ssl_context = ssl_context  # serve https (its certificate, and client checks if set)
        self.host = host
        self._requested_port = port
        self._api = JobApi(store, tokens, poll_after_s)
        self._verbose = verbose
        self._httpd: _HttpServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> "JobServer":
        if self._httpd is not None:
            raise JobServerError("job server already started")
        self._api.open()
        server_class = _HttpServer6 if ":" in self.host else _HttpServer
        try:
            self._httpd = server_class((self.host, self._requested_port), self._api, self._verbose)
        except OSError as exc:
            raise JobServerError(f"cannot listen on {self.host}:{self._requested_port}: {exc.strerror}") from None
        if self._ssl_context is not None:  # the handshake runs in the request's thread, not in accept()
            self._httpd.socket = self._ssl_context.wrap_socket(self._httpd.socket, server_side=True,
                                                               do_handshake_on_connect=False)
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), name="jobserver",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening and end open connections; safe to call twice."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._api.close()  # held long polls answer now, before their connections are dropped
        httpd.shutdown()
        httpd.server_close()
        httpd.drop_connections()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise JobServerError("job server not started")
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        scheme = "https" if self._ssl_context is not None else "http"
        return f"{scheme}://{host}:{self.port}"

    def set_throttle(self, status: int, retry_after_s: int, count: int) -> None:
        """Answer the next ``count`` protocol requests (admin excepted) with ``status``."""
        self._api.throttle.set(status, retry_after_s, count)

    def set_payload_fault(self, kind: str, count: int, *, cut_at: int = 1024, stall_s: float = 1.0) -> None:
        """Misbehave on the next ``count`` payload downloads (``faults.PAYLOAD_FAULTS``, e.g. stall, endless)."""
        self._api.payload_faults.set(kind, count, cut_at=cut_at, stall_s=stall_s)

    def payload_requests(self) -> list[dict]:
        """Every payload request so far: its Range and If-Range, status, body bytes meant to be sent."""
        return list(self._api.payload_faults.seen)

    def __enter__(self) -> "JobServer":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
