"""A TCP relay on loopback that counts, byte-exact, what passes each way.

Put between the station and the job server (``url`` points at the relay), it
counts the TCP payload bytes the client sent (``upstream``) and the server
sent (``downstream``) on every connection, TLS records included, since it
only copies bytes. It also counts the connections it accepted. ``stop()``
closes the listening socket and every relayed connection.
"""
from __future__ import annotations

import select
import socket
import threading
import time


class CountingProxy:
    def __init__(self, target: tuple[str, int], host: str = "127.0.0.1") -> None:
        self._target = target
        self._listener = socket.create_server((host, 0))
        self._listener.settimeout(0.2)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._sockets: list[socket.socket] = []
        self.upstream = 0
        self.downstream = 0
        self.connections = 0
        self._thread = threading.Thread(target=self._accept, name="counting-proxy", daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return self._listener.getsockname()[1]

    def url(self, scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.port}"

    def counts(self) -> tuple[int, int]:
        """(client to server, server to client) bytes so far."""
        with self._lock:
            return self.upstream, self.downstream

    def settled(self, expected: tuple[int, int], within_s: float = 3.0) -> tuple[int, int]:
        """The counts once they equal ``expected`` (bytes in flight arrive), or whatever they are at the deadline."""
        deadline = time.monotonic() + within_s
        while self.counts() != expected and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.counts()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._listener.close()
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            try:
                sock.close()
            except OSError:
                pass

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            server = socket.create_connection(self._target, timeout=5)
            with self._lock:
                self.connections += 1
                self._sockets += [client, server]
            threading.Thread(target=self._relay, args=(client, server), daemon=True).start()

    def _relay(self, client: socket.socket, server: socket.socket) -> None:
        ends = {client: (server, True), server: (client, False)}
        open_ends = {client, server}
        try:
            while open_ends and not self._stop.is_set():
                readable, _, _ = select.select(list(open_ends), [], [], 0.2)
                for sock in readable:
                    data = sock.recv(65536)
                    peer, upstream = ends[sock]
                    if not data:
                        open_ends.discard(sock)
                        _shut(peer)
                        continue
                    with self._lock:
                        if upstream:
                            self.upstream += len(data)
                        else:
                            self.downstream += len(data)
                    peer.sendall(data)
        except OSError:
            pass  # either side reset: the relay ends
        finally:
            client.close()
            server.close()


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass
