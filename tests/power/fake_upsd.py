"""A fake ``upsd`` on loopback that misbehaves on purpose: answers garbage, stalls, or drips."""
from __future__ import annotations

import socket
import threading
import time
from enum import Enum


class Misbehaviour(Enum):
    GARBAGE = "garbage"      # a line outside the protocol
    HALF = "half"            # BEGIN LIST VAR, half a VAR line, then closes
    STALL = "stall"          # takes the request, never answers
    DRIP = "drip"            # a correct answer, one byte every 0.2 s (slower than any deadline)
    FLOOD = "flood"          # an endless line with no newline


class FakeUpsd:
    def __init__(self, behaviour: Misbehaviour, name: str = "ups") -> None:
        self.behaviour, self.name = behaviour, name
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(0.2)
        self.port = self._server.getsockname()[1]
        self.address = f"{name}@127.0.0.1:{self.port}"
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._server.accept()
            except socket.timeout:
                continue
            self.connections += 1
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        conn.settimeout(0.5)
        with conn:
            try:
                while not self._stop.is_set() and self._one(conn):
                    pass
            except OSError:
                pass

    def _one(self, conn: socket.socket) -> bool:
        """Answer one request; False to drop the connection."""
        try:
            if not conn.recv(1024):
                return False
        except socket.timeout:
            return True
        b = self.behaviour
        if b is Misbehaviour.GARBAGE:
            conn.sendall(b"\x00\xffHELLO THERE\r\nVAR ups ups.status OB\n")
        elif b is Misbehaviour.HALF:
            conn.sendall(f'BEGIN LIST VAR {self.name}\nVAR {self.name} ups.status "O'.encode())
            return False
        elif b is Misbehaviour.STALL:
            self._stop.wait(30)
        elif b is Misbehaviour.DRIP:
            for byte in f'BEGIN LIST VAR {self.name}\nVAR {self.name} ups.status "OB LB"\n'.encode():
                if self._stop.wait(0.2):
                    return False
                conn.sendall(bytes([byte]))
        elif b is Misbehaviour.FLOOD:
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and not self._stop.is_set():
                conn.sendall(b"x" * 65536)
        return True

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._server.close()
