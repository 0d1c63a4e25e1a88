"""The HTTP link to the central job server: poll, download, report.

``ServerAccess`` is the one way to reach the server: built once from the
configuration, it opens the link for the daemon, ``ktp-agent sync`` and any
tool that talks to the server, with the same URL, token, pinned CA, client
certificate and timeouts. urllib3 keeps one keep-alive pool to the server.
Library exceptions stop here and become the agent's own (``link_error``);
every byte that crosses the link's sockets is counted (``wire``).
"""
from __future__ import annotations

import json
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit

import urllib3
from urllib3.util import SKIP_HEADER

from .. import __version__
from ..config import Config
from ..errors import ConfigError, KeyFileError, LinkError, LinkTimeoutError
from ..keys import check_private_file, load_token
from .manifest import SignedEntry, decode_entry
from .wire import CountedHTTPPool, OpenSockets, close_counted, CountedHTTPSPool, ResumingTlsContext, WireBytes, WireCounter

USER_AGENT = f"ktp-agent/{__version__}"
#: Seconds to wait for the server to accept a connection, and for each wait for bytes.
CONNECT_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 60.0


class RetryLaterError(LinkError):
    """The server asked to come back later (429/503 with Retry-After)."""

    def __init__(self, status: int, retry_after: float) -> None:
        self.status = status
        self.retry_after = retry_after
        super().__init__(f"server answered {status}; retry after {retry_after:.0f}s")


@dataclass(frozen=True)
class PollResult:
    entries: list[SignedEntry]
    malformed: int
    next_cursor: str | None
    poll_after_s: float
    answered: bool = True  # False: a long poll ended on purpose before the server answered


@dataclass(frozen=True)
class ServerAccess:
    """Where the job server is, the files that prove who we are to it, and how long to wait for it."""

    url: str
    station_id: str
    token_file: Path
    signing_key: Path
    station_key: Path
    ca_file: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None
    station_key_passphrase_file: Path | None = None
    connect_timeout: float = CONNECT_TIMEOUT_S
    read_timeout: float = READ_TIMEOUT_S

    @classmethod
    def from_config(cls, config: Config) -> ServerAccess:
        """The configured job server (the built-in demo server is started by the daemon, not named here)."""
        s = config.server
        if s.is_demo:
            raise ConfigError(f"{config.path}: [server] url: the built-in demo server runs only inside the daemon")
        return cls(s.url, config.station.id, s.token_file, s.signing_key, s.station_key, s.ca_file,
                   s.client_cert, s.client_key, s.station_key_passphrase_file)

    def open_link(self, wire: WireCounter | None = None) -> ServerLink:
        """The link to the server; an unreadable token or TLS file raises KeyFileError naming it."""
        return ServerLink(self.url, self.station_id, load_token(self.token_file), self.ca_file,
                          self.connect_timeout, self.read_timeout, wire, self.client_cert, self.client_key)


class ServerLink:
    """One station's connection to the job server; ``wire`` counts every byte on its sockets."""

    def __init__(self, base_url: str, station_id: str, token: str, ca_file: Path | None = None,
                 connect_timeout: float = CONNECT_TIMEOUT_S, read_timeout: float = READ_TIMEOUT_S,
                 wire: WireCounter | None = None,
                 client_cert: Path | None = None, client_key: Path | None = None) -> None:
        parts = urlsplit(base_url)
        self.base_url = base_url.rstrip("/")
        self._prefix = parts.path.rstrip("/")
        self.station_id = station_id
        self.wire = wire or WireCounter()
        # Only what the protocol needs: Host (added by http.client), the token, a short User-Agent;
        # no Accept-Encoding (nothing here is ever compressed).
        self._headers = {"Authorization": f"Bearer {token}", "User-Agent": USER_AGENT,
                         "Accept-Encoding": SKIP_HEADER}
        self._timeout = urllib3.Timeout(connect=connect_timeout, read=read_timeout)
        kwargs: dict = {"block": False, "retries": False, "timeout": self._timeout, "wire": self.wire}
        self.tls: ResumingTlsContext | None = None
        if parts.scheme == "https":
            self.tls = tls_context(ca_file, client_cert, client_key)
            self._new_pool = lambda sockets, size: CountedHTTPSPool(
                parts.hostname, parts.port or 443, ssl_context=self.tls, maxsize=size, sockets=sockets, **kwargs)
        else:
            self._new_pool = lambda sockets, size: CountedHTTPPool(parts.hostname, parts.port or 80,
                                                                   maxsize=size, sockets=sockets, **kwargs)
        # Downloads, reports and short polls share keep-alive connections; a long poll has its own,
        # so it can be ended (end_long_poll) without breaking a download.
        self._sockets, self._poll_sockets = OpenSockets(), OpenSockets()
        self._pool: urllib3.HTTPConnectionPool = self._new_pool(self._sockets, 4)
        self._poll_pool: urllib3.HTTPConnectionPool = self._new_pool(self._poll_sockets, 1)
        self._hold_lock = threading.Lock()
        self._holding = 0
        self._ended = threading.Event()

    def wire_bytes(self) -> WireBytes:
        """Bytes sent and received on this link's sockets so far (TLS records and HTTP headers included)."""
        return self.wire.totals()

    def end_long_poll(self) -> None:
        """End the long poll held now, or the next one before it starts (``ktp-agent sync``, the station
        stops): its ``poll`` returns at once, ``answered`` False."""
        with self._hold_lock:
            self._ended.set()
            if not self._holding:
                return
        self._poll_sockets.cut()

    def close(self) -> None:
        """Close every connection; a request after this connects again (resuming the TLS session)."""
        old, self._pool = self._pool, self._new_pool(self._sockets, 4)
        old_poll, self._poll_pool = self._poll_pool, self._new_pool(self._poll_sockets, 1)
        close_counted(old)
        close_counted(old_poll)

    def request(self, method: str, path: str, *, body: bytes | None = None,
                headers: dict[str, str] | None = None, preload: bool = True,
                read_timeout: float | None = None) -> urllib3.BaseHTTPResponse:
        """One request; network failures become LinkError, 429/503 RetryLaterError.

        ``read_timeout`` bounds each wait for bytes (a stall), never the whole
        transfer: a slow link that keeps delivering is never taken for a dead one.
        """
        all_headers = dict(self._headers)
        all_headers.update(headers or {})
        timeout = self._timeout
        if read_timeout is not None:
            timeout = urllib3.Timeout(connect=self._timeout.connect_timeout, read=read_timeout)
        return self._send(self._pool, method, path, body, all_headers, preload, timeout)

    def _send(self, pool: urllib3.HTTPConnectionPool, method: str, path: str, body: bytes | None,
              all_headers: dict[str, str], preload: bool, timeout: urllib3.Timeout) -> urllib3.BaseHTTPResponse:
        try:
            response = pool.urlopen(method, self._prefix + path, body=body, headers=all_headers,
                                          preload_content=preload, redirect=False, timeout=timeout,
                                          assert_same_host=False)
        except urllib3.exceptions.HTTPError as exc:
            raise link_error(exc, f"{method} {path}") from None
        if response.status in (429, 503):
            retry_after = _retry_after(response.headers.get("Retry-After"))
            try:
                response.drain_conn()
            except urllib3.exceptions.HTTPError:
                pass  # the answer is already known; a broken error body changes nothing
            raise RetryLaterError(response.status, retry_after)
        return response

    def poll(self, cursor: str | None, limit: int, wait_s: int = 0) -> PollResult:
        """Jobs after ``cursor``; with ``wait_s`` a long poll: the server may hold the answer that long
        (the read timeout is stretched by as much)."""
        path = f"/v1/stations/{quote(self.station_id)}/jobs?limit={limit}"
        if cursor:
            path += f"&after={quote(cursor)}"
        if wait_s > 0:
            path += f"&wait_s={wait_s}"
            response = self._long_poll(path, wait_s)
            if response is None:
                return PollResult([], 0, cursor, 0.0, answered=False)
        else:
            response = self.request("GET", path)
        if response.status != 200:
            raise LinkError(f"poll: server answered {response.status}")
        try:
            doc = json.loads(response.data)
            raw_entries = doc["jobs"]
            if not isinstance(raw_entries, list):
                raise ValueError("jobs is not a list")
        except (ValueError, KeyError, TypeError) as exc:
            raise LinkError(f"poll: response out of contract ({exc.__class__.__name__})") from None
        entries, malformed = [], 0
        for raw in raw_entries:
            try:
                entries.append(decode_entry(raw))
            except ValueError:
                malformed += 1
        cursor_out = doc.get("next_cursor")
        poll_after = doc.get("poll_after_s", 30)
        return PollResult(entries, malformed, cursor_out if isinstance(cursor_out, str) else None,
                          float(poll_after) if isinstance(poll_after, (int, float)) else 30.0)

    def _long_poll(self, path: str, wait_s: int) -> urllib3.BaseHTTPResponse | None:
        """The held request on its own connection; None when ``end_long_poll`` ended it."""
        read = urllib3.Timeout(connect=self._timeout.connect_timeout,
                               read=wait_s + (self._timeout.read_timeout or READ_TIMEOUT_S))
        with self._hold_lock:
            if self._ended.is_set():
                self._ended.clear()
                return None
            self._holding += 1
        try:
            return self._send(self._poll_pool, "GET", path, None, dict(self._headers), True, read)
        except LinkError:
            with self._hold_lock:
                if self._ended.is_set():
                    self._ended.clear()
                    return None
            raise
        finally:
            with self._hold_lock:
                self._holding -= 1

    def report(self, job_id: str, body: dict) -> str:
        """Send one result report: "accepted" (200) or "conflict" (409, the server keeps its own)."""
        payload = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()  # no spaces: bytes on the wire
        response = self.request("POST", f"/v1/jobs/{quote(job_id)}/result", body=payload,
                                headers={"Content-Type": "application/json"})
        if response.status == 200:
            return "accepted"
        if response.status == 409:
            return "conflict"
        raise LinkError(f"report {job_id}: server answered {response.status}")


def read_some(response: urllib3.BaseHTTPResponse, amount: int) -> bytes:
    """What one receive of the response body brings, at most ``amount`` bytes, undecoded.

    A stall past the read timeout raises LinkTimeoutError, any other break LinkError.
    """
    try:
        return response.read1(amount, decode_content=False)
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise link_error(exc, "reading the body") from None


def link_error(exc: BaseException, what: str) -> LinkError:
    """The agent's error for a library's network failure: a timeout by its type, anything else a LinkError."""
    kind = LinkTimeoutError if _is_timeout(exc) else LinkError
    return kind(f"{what}: {exc.__class__.__name__}")


def _is_timeout(exc: BaseException | None) -> bool:
    """urllib3's timeouts, or a socket timeout (TimeoutError) under whatever urllib3 wrapped it in."""
    for _ in range(8):  # a cause chain is short; a cycle in it must not hang us
        if exc is None:
            return False
        if isinstance(exc, (urllib3.exceptions.TimeoutError, TimeoutError)):
            return True
        reason = getattr(exc, "reason", None)  # urllib3's MaxRetryError; ssl's reason is a string
        exc = reason if isinstance(reason, BaseException) else exc.__cause__
    return False


def tls_context(ca_file: Path | None, client_cert: Path | None = None,
                client_key: Path | None = None) -> ResumingTlsContext:
    """Verify the server against the pinned CA (the system's when none); present our certificate if given.

    Unreadable or mismatched files stop the station at start (KeyFileError naming the file).
    """
    context = ResumingTlsContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies the certificate and the host name
    try:
        if ca_file is not None:
            context.load_verify_locations(cafile=str(ca_file))
        else:
            context.load_default_certs()
    except (OSError, ssl.SSLError) as exc:
        raise KeyFileError(f"{ca_file}: cannot load the pinned CA ({exc.__class__.__name__})") from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if client_cert is not None:
        check_private_file(client_key or client_cert, "TLS client key")  # the key may sit in the cert file
        try:
            context.load_cert_chain(str(client_cert), str(client_key) if client_key else None)
        except (OSError, ssl.SSLError) as exc:
            raise KeyFileError(f"{client_cert}: cannot load the TLS client certificate and key "
                               f"({exc.__class__.__name__})") from None
    return context


def _retry_after(value: str | None) -> float:
    if value is None:
        return 30.0
    try:
        return max(0.0, float(value))
    except ValueError:
        from email.utils import parsedate_to_datetime
        from datetime import datetime, timezone

        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return 30.0
        return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())
