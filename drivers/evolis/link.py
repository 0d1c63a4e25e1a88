"""One command, one reply: the Evolis printer's side of a byte transport.

``EvolisLink`` writes a frame, reads until the reply parser has one reply
(delimited by the framing, never by timing) and keeps the status words the
last reply carried. Two timing rules only:

* On the first reply (framing not known yet) a line that stays quiet for
  ``QUIET_S`` after the reply's NUL means a bare, Rev E reply.
* After a timeout, garbage or an extra reply, the next exchange first drops
  what is pending: it reads until the line is quiet or repeats itself (a
  Primacy printer on USB answers every read with its last reply).
"""
from __future__ import annotations

import time

from ..errors import DriverError, ProtocolError, TransportTimeoutError
from ..transport import Transport
from .protocol import EvolisReplyError, Framing, Reply, ReplyParser, encode_command
from .status import STATUS_BLOCK_LENGTH, StatusWords

QUIET_S = 0.2
#: The slowest link assumed when none is given: a 115,200-baud serial line.
DEFAULT_BYTES_PER_S = 11_520.0
_READ_SIZE = 512
_DISCARD_QUIET = 0.05
_DISCARD_LIMIT = 1.0


class EvolisLink:
    def __init__(self, transport: Transport, framing: Framing, reply_timeout: float,
                 bytes_per_s: float | None = None) -> None:
        self._transport = transport
        self._parser = ReplyParser(framing)
        self._reply_timeout = reply_timeout
        self._bytes_per_s = bytes_per_s or DEFAULT_BYTES_PER_S
        self._input_suspect = True
        self.last_status: StatusWords | None = None

    @property
    def framing(self) -> Framing:
        return self._parser.framing

    def download_timeout(self, nbytes: int) -> float:
        """Time to allow for a download's reply: the reply timeout plus twice the link's time for it."""
        return self._reply_timeout + 2.0 * nbytes / self._bytes_per_s

    def command(self, mnemonic: str, *params: object, timeout: float | None = None) -> Reply:
        name = ";".join([mnemonic, *map(str, params)])
        return self.exchange(encode_command(mnemonic, *params), name, timeout)

    def exchange(self, frame: bytes, name: str, timeout: float | None = None) -> Reply:
        """Send one frame and return its one reply; ``name`` is safe to log."""
        if self._input_suspect:
            self._discard_input()
        self._input_suspect = True
        self._transport.write(frame)
        reply = self._await_reply(name, self._reply_timeout if timeout is None else timeout)
        self._input_suspect = self._parser.pending
        if reply.status is not None:
            self.last_status = reply.status
        return reply

    def write_only(self, data: bytes) -> None:
        """Bytes the printer skips (padding, a closing tag): nothing answers them."""
        self._transport.write(data)

    def best_effort(self, command: tuple[object, ...]) -> None:
        """A clean-up command whose failure must not hide the error being raised."""
        mnemonic, *params = command
        try:
            self.command(str(mnemonic), *params)
        except DriverError:
            pass

    def close(self) -> None:
        self._transport.close()

    def _await_reply(self, name: str, timeout: float) -> Reply:
        deadline = time.monotonic() + timeout
        while True:
            remaining = max(deadline - time.monotonic(), 0.0)
            undecided = self._parser.undecided
            try:
                chunk = self._transport.read(_READ_SIZE, min(remaining, QUIET_S) if undecided else remaining)
            except TransportTimeoutError:
                if not undecided:
                    raise
                return self._parser.line_quiet()[0]
            try:
                replies = self._parser.feed(chunk)
            except EvolisReplyError as exc:
                raise EvolisReplyError(f"{name}: {exc}") from None
            if len(replies) > 1:
                raise ProtocolError(f"{name}: {len(replies)} replies to one command")
            if replies:
                return replies[0]

    def _discard_input(self) -> None:
        """Drop stale bytes (a late reply, garbage) until the line is quiet or repeats itself."""
        limit = time.monotonic() + _DISCARD_LIMIT
        last = None
        while time.monotonic() < limit:
            try:
                chunk = self._transport.read(4096, _DISCARD_QUIET)
            except TransportTimeoutError:
                break
            if chunk == last and _whole_frame(chunk):
                break  # a USB read repeating the last reply: nothing stale is left
            last = chunk
        self._parser.reset()
        self._input_suspect = False


def _whole_frame(chunk: bytes) -> bool:
    """Whether ``chunk`` ends with a whole status block (``NUL 00 28 10 ...``)."""
    tail = len(chunk) - STATUS_BLOCK_LENGTH
    return tail >= 3 and chunk[tail - 3:tail + 1] == b"\x00\x00\x28\x10"
