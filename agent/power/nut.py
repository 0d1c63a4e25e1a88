"""A client of the Network UPS Tools server (``upsd``), over its plain line protocol.

One request, ``LIST VAR <ups>``, answered by ``BEGIN LIST VAR <ups>``, one
``VAR <ups> <name> "<value>"`` line per variable and ``END LIST VAR <ups>``;
a refusal is one ``ERR <code>`` line (NUT's docs/net-protocol.txt). Every
exchange has one monotonic deadline for the whole reply, and a reply is
bounded in size, so a server that stalls, drips or floods costs at most the
deadline. Failures are ``UpsLinkError`` with the problem as an enum.
"""
from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from enum import Enum

from ..errors import AgentError

DEFAULT_PORT = 3493
#: A UPS with every variable NUT knows is a few kilobytes; more is not an answer.
MAX_REPLY_BYTES = 64 * 1024


class LinkProblem(Enum):
    UNREACHABLE = "unreachable"     # refused, reset, closed, no route
    GARBAGE = "garbage"             # an answer outside the protocol, or ERR
    SLOW = "slow"                   # no whole answer within the deadline


class UpsLinkError(AgentError):
    """``upsd`` could not be asked, or its answer was not a NUT answer."""

    def __init__(self, problem: LinkProblem, detail: str) -> None:
        self.problem = problem
        super().__init__(f"upsd {problem.value}: {detail}")


@dataclass(frozen=True)
class UpsAddress:
    """``name@host:port`` (port 3493 when left out), as upsc and upsmon write it."""

    name: str
    host: str
    port: int = DEFAULT_PORT

    @classmethod
    def parse(cls, text: str) -> "UpsAddress":
        name, at, place = text.partition("@")
        if not at or not name or not place or any(c in name for c in ' "\\'):
            raise ValueError(f"'{text}' is not name@host[:port]")
        host, colon, port = place.rpartition(":") if not place.endswith("]") else (place, "", "")
        if not colon:
            host, port = place, str(DEFAULT_PORT)
        host = host.strip("[]")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"'{text}' is not name@host[:port]")
        return cls(name, host, int(port))

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.name}@{host}:{self.port}"


class NutClient:
    """One connection to ``upsd``, opened on first use and after any failure."""

    def __init__(self, address: UpsAddress, deadline_s: float) -> None:
        self.address = address
        self._deadline_s = deadline_s
        self._sock: socket.socket | None = None
        self._pending = b""

    def list_vars(self) -> dict[str, str]:
        """Every variable of the UPS; raises ``UpsLinkError`` (and drops the connection) on failure."""
        deadline = time.monotonic() + self._deadline_s
        try:
            return self._list_vars(deadline)
        except UpsLinkError:
            self.close()
            raise

    def _list_vars(self, deadline: float) -> dict[str, str]:
        name = self.address.name
        self._send(f"LIST VAR {name}\n".encode("ascii"), deadline)
        first = self._line(deadline)
        if first != f"BEGIN LIST VAR {name}":
            raise UpsLinkError(LinkProblem.GARBAGE, f"expected BEGIN LIST VAR, got {first[:60]!r}")
        found: dict[str, str] = {}
        while True:
            line = self._line(deadline)
            if line == f"END LIST VAR {name}":
                return found
            var, value = parse_var_line(line, name)
            found[var] = value
            if len(found) > 1000:
                raise UpsLinkError(LinkProblem.GARBAGE, "more than 1000 variables")

    def _connect(self, deadline: float) -> socket.socket:
        if self._sock is None:
            try:
                self._sock = socket.create_connection((self.address.host, self.address.port),
                                                      timeout=_left(deadline))
            except socket.timeout:
                raise UpsLinkError(LinkProblem.SLOW, "no connection within the deadline") from None
            except OSError as exc:
                raise UpsLinkError(LinkProblem.UNREACHABLE, exc.strerror or str(exc)) from None
            self._pending = b""
        return self._sock

    def _send(self, data: bytes, deadline: float) -> None:
        sock = self._connect(deadline)
        try:
            sock.settimeout(_left(deadline))
            sock.sendall(data)
        except socket.timeout:
            raise UpsLinkError(LinkProblem.SLOW, "request not taken within the deadline") from None
        except OSError as exc:
            raise UpsLinkError(LinkProblem.UNREACHABLE, exc.strerror or str(exc)) from None

    def _line(self, deadline: float) -> str:
        sock = self._connect(deadline)
        while b"\n" not in self._pending:
            if len(self._pending) > MAX_REPLY_BYTES:
                raise UpsLinkError(LinkProblem.GARBAGE, f"a line longer than {MAX_REPLY_BYTES} bytes")
            try:
                sock.settimeout(_left(deadline))
                chunk = sock.recv(4096)
            except socket.timeout:
                raise UpsLinkError(LinkProblem.SLOW, f"no whole answer within {self._deadline_s} s") from None
            except OSError as exc:
                raise UpsLinkError(LinkProblem.UNREACHABLE, exc.strerror or str(exc)) from None
            if not chunk:
                raise UpsLinkError(LinkProblem.UNREACHABLE, "upsd closed the connection")
            self._pending += chunk
        raw, _, self._pending = self._pending.partition(b"\n")
        try:
            line = raw.rstrip(b"\r").decode("ascii")
        except UnicodeDecodeError:
            raise UpsLinkError(LinkProblem.GARBAGE, "a line that is not ASCII") from None
        if line.startswith("ERR "):
            raise UpsLinkError(LinkProblem.GARBAGE, f"upsd refused: {line[4:40]}")
        return line

    def close(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            except OSError:
                pass
        self._sock, self._pending = None, b""


def parse_var_line(line: str, ups: str) -> tuple[str, str]:
    """``VAR <ups> <name> "<value>"`` → (name, value), the value's ``\\"`` and ``\\\\`` unescaped."""
    prefix = f"VAR {ups} "
    if not line.startswith(prefix):
        raise UpsLinkError(LinkProblem.GARBAGE, f"expected a VAR line, got {line[:60]!r}")
    name, space, quoted = line[len(prefix):].partition(" ")
    if not name or not space or len(quoted) < 2 or quoted[0] != '"' or quoted[-1] != '"':
        raise UpsLinkError(LinkProblem.GARBAGE, f"malformed VAR line {line[:60]!r}")
    value, escaped = [], False
    for ch in quoted[1:-1]:
        if escaped:
            value.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == '"':
            raise UpsLinkError(LinkProblem.GARBAGE, f"unescaped quote in {line[:60]!r}")
        else:
            value.append(ch)
    if escaped:
        raise UpsLinkError(LinkProblem.GARBAGE, f"dangling escape in {line[:60]!r}")
    return name, "".join(value)


def _left(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise UpsLinkError(LinkProblem.SLOW, "deadline passed")
    return left
