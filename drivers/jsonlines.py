"""One JSON-lines reply read from a stream socket: the control channels' shared wire step."""
from __future__ import annotations

import socket


def read_line(sock: socket.socket, limit: int, peer: str) -> bytes:
    """Bytes up to and including the first newline; ConnectionError if ``peer`` hangs up
    first or the line grows past ``limit``."""
    data = bytearray()
    while not data.endswith(b"\n"):
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"{peer} closed the connection without a reply")
        data += chunk
        if len(data) > limit:
            raise ConnectionError(f"{peer}'s reply is too long")
    return bytes(data)
