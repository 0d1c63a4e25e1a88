"""Bytes on the wire to the job server, counted at the socket, and TLS sessions kept for reconnects.

Every byte the station's link writes to or reads from its TCP sockets passes
through ``CountingSocket``: HTTP request lines and headers, bodies both ways,
and under TLS the raw records (handshakes, tickets, alerts), because TLS runs
in memory (``ssl.MemoryBIO``, through urllib3's ``SSLTransport``) on top of the
counting socket instead of inside the kernel file descriptor. What is counted
is TCP payload; the IP and TCP headers under it are not.

``ResumingTlsContext`` remembers the last TLS session (a TLS 1.3 ticket, or a
TLS 1.2 session id) and offers it on the next connection, so a reconnect after
a dropped keep-alive connection costs an abbreviated handshake instead of a
full one with the server's certificate chain.
"""
from __future__ import annotations

import socket
import ssl
import threading
import weakref
from dataclasses import dataclass

from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.util.ssltransport import SSLTransport


@dataclass(frozen=True)
class WireBytes:
    sent: int
    received: int

    @property
    def total(self) -> int:
        return self.sent + self.received


class WireCounter:
    """Bytes sent and received on the link's sockets since the station started (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sent = 0
        self._received = 0

    def sent(self, n: int) -> None:
        with self._lock:
            self._sent += n

    def received(self, n: int) -> None:
        with self._lock:
            self._received += n

    def totals(self) -> WireBytes:
        with self._lock:
            return WireBytes(self._sent, self._received)


class OpenSockets:
    """The sockets one connection pool has open, so they can be cut while something waits on them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: weakref.WeakSet[socket.socket] = weakref.WeakSet()

    def add(self, sock: socket.socket) -> None:
        with self._lock:
            self._open.add(sock)

    def cut(self) -> None:
        """Shut every open socket down: whatever waits on one (a held long poll) ends now."""
        with self._lock:
            sockets = list(self._open)
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # closed already


class CountingSocket(socket.socket):
    """A TCP socket that counts what its send and receive calls move (makefile reads use recv_into)."""

    wire: WireCounter

    @classmethod
    def adopt(cls, sock: socket.socket, wire: WireCounter, sockets: OpenSockets) -> CountingSocket:
        """Take over a connected socket's descriptor (its timeout kept), counted on ``wire`` and listed
        in ``sockets``; ``sock`` is detached."""
        timeout = sock.gettimeout()
        counted = cls(sock.family, sock.type, sock.proto, fileno=sock.detach())
        counted.settimeout(timeout)
        counted.wire = wire
        sockets.add(counted)
        return counted

    def send(self, data, flags: int = 0) -> int:  # type: ignore[override]
        n = super().send(data, flags)
        self.wire.sent(n)
        return n

    def sendall(self, data, flags: int = 0) -> None:  # type: ignore[override]
        """Sent in ``send`` calls, so a write broken half-way is counted for what left."""
        with memoryview(data) as view, view.cast("B") as octets:
            done = 0
            while done < len(octets):
                done += self.send(octets[done:], flags)

    def recv(self, bufsize: int, flags: int = 0) -> bytes:  # type: ignore[override]
        data = super().recv(bufsize, flags)
        self.wire.received(len(data))
        return data

    def recv_into(self, buffer, nbytes: int = 0, flags: int = 0) -> int:  # type: ignore[override]
        n = super().recv_into(buffer, nbytes, flags)
        self.wire.received(n)
        return n


class ResumingTlsContext(ssl.SSLContext):
    """A client context that runs TLS over a counting socket and resumes its last session."""

    def __init__(self, protocol: int = ssl.PROTOCOL_TLS_CLIENT) -> None:
        """Built as ``ResumingTlsContext(ssl.PROTOCOL_TLS_CLIENT)``: verifies the peer and its name."""
        super().__init__()
        self._session_lock = threading.Lock()
        self._session: ssl.SSLSession | None = None
        self.handshakes = 0  # handshakes done, and how many of them resumed a session
        self.resumed = 0

    def wrap_socket(self, sock, server_side=False, do_handshake_on_connect=True,  # type: ignore[override]
                    suppress_ragged_eofs=True, server_hostname=None, session=None):
        if server_side or not isinstance(sock, CountingSocket):
            return super().wrap_socket(sock, server_side, do_handshake_on_connect, suppress_ragged_eofs,
                                       server_hostname, session)
        return CountedTls(sock, self, server_hostname)

    def wrap_bio(self, incoming, outgoing, server_side=False, server_hostname=None,  # type: ignore[override]
                 session=None):
        if not server_side and session is None:
            with self._session_lock:
                session = self._session
        return super().wrap_bio(incoming, outgoing, server_side, server_hostname, session)

    def remember(self, session: ssl.SSLSession | None) -> None:
        """Offer ``session`` on the next connection."""
        if session is not None:
            with self._session_lock:
                self._session = session

    def note_handshake(self, reused: bool) -> None:
        with self._session_lock:
            self.handshakes += 1
            self.resumed += int(reused)


class CountedTls(SSLTransport):
    """TLS in memory over a CountingSocket: every record is counted as the raw bytes it is."""

    def __init__(self, sock: CountingSocket, context: ResumingTlsContext, server_hostname: str | None) -> None:
        super().__init__(sock, context, server_hostname)
        self._context = context
        self.session_reused = self.sslobj.session_reused
        context.note_handshake(self.session_reused)
        self._ticket_kept = self._keep_session()

    def _keep_session(self) -> bool:
        """Remember this connection's session once it can be resumed (a TLS 1.3 ticket comes after
        the handshake, with the first answer); True once done."""
        session = self.sslobj.session
        if session is None:
            return False
        if self.sslobj.version() == "TLSv1.3" and not session.has_ticket:
            return False
        self._context.remember(session)
        return True

    def _wrap_ssl_read(self, len: int, buffer=None):  # noqa: A002 (the base class's name)
        got = super()._wrap_ssl_read(len, buffer)
        if not self._ticket_kept:
            self._ticket_kept = self._keep_session()
        return got


def close_counted(pool: HTTPConnectionPool, linger_s: float = 0.5) -> None:
    """Close the pool's idle connections, each after reading what the server still sends once told
    we are done (TLS servers answer with a close_notify alert): those bytes reach the station's
    line whether it reads them or not, so they are read and counted. Then close the pool."""
    queue = pool.pool
    while queue is not None and not queue.empty():
        conn = queue.get_nowait()
        sock = getattr(conn, "sock", None) if conn is not None else None
        raw = sock.socket if isinstance(sock, CountedTls) else sock
        if isinstance(raw, CountingSocket):
            _read_to_end(raw, linger_s)
        if conn is not None:
            conn.close()
    pool.close()


def _read_to_end(sock: CountingSocket, linger_s: float) -> None:
    try:
        sock.shutdown(socket.SHUT_WR)
        sock.settimeout(linger_s)
        for _ in range(16):  # a close_notify is one record; the count bounds a chatty peer
            if not sock.recv(4096):
                return
    except OSError:
        pass  # gone already, or silent within linger_s: nothing more will be counted


class CountedHTTPConnection(HTTPConnection):
    def __init__(self, *args, wire: WireCounter, sockets: OpenSockets, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._wire, self._sockets = wire, sockets

    def _new_conn(self) -> socket.socket:
        return CountingSocket.adopt(super()._new_conn(), self._wire, self._sockets)


class CountedHTTPSConnection(HTTPSConnection):
    def __init__(self, *args, wire: WireCounter, sockets: OpenSockets, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._wire, self._sockets = wire, sockets

    def _new_conn(self) -> socket.socket:
        return CountingSocket.adopt(super()._new_conn(), self._wire, self._sockets)


class CountedHTTPPool(HTTPConnectionPool):
    ConnectionCls = CountedHTTPConnection


class CountedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = CountedHTTPSConnection  # type: ignore[assignment]
