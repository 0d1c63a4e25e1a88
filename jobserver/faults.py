"""Switchable misbehaviour for fault tests: throttling, and payload downloads gone wrong.

Protocol sections 1 and 2 allow the server to answer 429/503 with
Retry-After, to ignore Range, to close mid-body and to stall; these let a
test make it do so on purpose, for a counted number of requests.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from typing import Callable, Mapping

from .responses import Response, error_response, payload_response


class Throttle:
    """Answers the next ``count`` protocol requests with one status and Retry-After."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._status, self._retry_after_s, self._remaining = 503, 0, 0

    def set(self, status: int, retry_after_s: int, count: int) -> None:
        with self._lock:
            self._status, self._retry_after_s, self._remaining = status, retry_after_s, count

    def take(self) -> Response | None:
        with self._lock:
            if self._remaining <= 0:
                return None
            self._remaining -= 1
            status, retry_after = self._status, self._retry_after_s
        return error_response(status, "throttled", (("Retry-After", str(retry_after)),),
                              retry_after_s=retry_after)


PAYLOAD_FAULTS = ("ignore-range", "truncate", "stall", "new-etag", "range-other-etag", "corrupt",
                  "overlong", "bad-range", "unsatisfiable", "other-size", "endless")


@dataclass(frozen=True)
class EndlessResponse(Response):
    """A 200 whose body never ends: ``prefix``, then ``filler`` again and again.

    Sent without Content-Length (delimited by the connection's close, which
    never comes from this side); the server writes until the client hangs up
    or the server stops, then calls ``on_end`` with the bytes it wrote.
    """

    prefix: bytes = b""
    filler: bytes = bytes(16 * 1024)
    on_end: Callable[[int], None] = lambda written: None


class PayloadFaults:
    """Misbehaves on the next ``count`` payload downloads, as protocol section 2 allows (and worse).

    ``ignore-range`` answers 200 with the whole body; ``truncate`` announces the
    full length, sends ``cut_at`` bytes and closes; ``stall`` sends ``cut_at``
    bytes, pauses ``stall_s`` seconds, then sends the rest.

    Beyond the protocol, for clients' fault tests: ``new-etag`` presents the
    payload under another ETag (an If-Range on the old one gets the whole body);
    ``range-other-etag`` serves the range asked for, ignoring If-Range, under
    another ETag; ``corrupt`` flips the byte at offset ``cut_at`` of the
    payload; ``overlong`` appends ``cut_at`` bytes to the body (Content-Length
    grows, Content-Range does not); ``bad-range`` answers a range that starts
    ``cut_at`` bytes before the one asked; ``unsatisfiable`` answers 416;
    ``other-size`` serves a representation ``cut_at`` bytes longer;
    ``endless`` answers 200 with no Content-Length and a body that never
    ends: the first ``cut_at`` bytes of the payload, then zero bytes until
    the client hangs up (its ``sent`` is filled in then).

    Every payload request is noted in ``seen`` (Range, If-Range, status, body
    bytes the server meant to send), faulty or not.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._kind, self._remaining, self._cut_at, self._stall_s = "", 0, 0, 0.0
        self.seen: list[dict] = []

    def set(self, kind: str, count: int, *, cut_at: int = 1024, stall_s: float = 1.0) -> None:
        if kind not in PAYLOAD_FAULTS:
            raise ValueError(f"unknown payload fault {kind!r}; known: {', '.join(PAYLOAD_FAULTS)}")
        with self._lock:
            self._kind, self._remaining, self._cut_at, self._stall_s = kind, count, cut_at, stall_s

    def apply(self, data: bytes, sha256_hex: str, headers: Mapping[str, str]) -> Response:
        with self._lock:
            kind = self._kind if self._remaining > 0 else ""
            self._remaining -= 1 if kind else 0
            cut_at, stall_s = self._cut_at, self._stall_s
        response = self._answer(kind, data, sha256_hex, headers, cut_at, stall_s)
        sent = len(response.body) if response.cut_after is None or response.stall_s else response.cut_after
        record = {"range": headers.get("Range"), "if_range": headers.get("If-Range"),
                  "status": response.status, "fault": kind or None, "sent": sent}
        if kind == "endless":
            record["sent"] = None  # known once the client hangs up
            response = EndlessResponse(200, headers=(("ETag", f'"{sha256_hex}"'),),
                                       content_type="application/octet-stream", prefix=data[:cut_at],
                                       on_end=lambda written: record.__setitem__("sent", written))
        with self._lock:
            self.seen.append(record)
        return response

    @staticmethod
    def _answer(kind: str, data: bytes, sha256_hex: str, headers: Mapping[str, str], cut_at: int,
                stall_s: float) -> Response:
        if kind == "ignore-range":
            return payload_response(data, sha256_hex, {})
        if kind in _ODD_ANSWERS:
            return _ODD_ANSWERS[kind](data, sha256_hex, headers, cut_at)
        response = payload_response(data, sha256_hex, headers)
        if not kind or response.status not in (200, 206):
            return response
        cut = min(cut_at, max(len(response.body) - 1, 0))
        return replace(response, cut_after=cut, stall_s=stall_s if kind == "stall" else 0.0)


def _other_etag(sha256_hex: str) -> str:
    return f'"{sha256_hex[:16]}-v2"'


def _with_header(response: Response, name: str, value: str) -> Response:
    kept = tuple((k, v) for k, v in response.headers if k.lower() != name.lower())
    return replace(response, headers=kept + ((name, value),))


def _new_etag(data: bytes, sha256_hex: str, headers: Mapping[str, str], cut_at: int) -> Response:
    etag = _other_etag(sha256_hex)
    if_range = headers.get("If-Range")
    asked = {} if if_range is not None and if_range.strip() != etag else \
        {k: v for k, v in headers.items() if k.lower() == "range"}
    return _with_header(payload_response(data, sha256_hex, asked), "ETag", etag)


def _range_other_etag(data: bytes, sha256_hex: str, headers: Mapping[str, str], cut_at: int) -> Response:
    asked = {k: v for k, v in headers.items() if k.lower() == "range"}  # If-Range ignored
    return _with_header(payload_response(data, sha256_hex, asked), "ETag", _other_etag(sha256_hex))


def _corrupt(data: bytes, sha256_hex: str, headers: Mapping[str, str], cut_at: int) -> Response:
    bad = bytearray(data)
    bad[min(cut_at, len(bad) - 1)] ^= 0x5A
    return payload_response(bytes(bad), sha256_hex, headers)


def _overlong(data: bytes, sha256_hex: str, headers: Mapping[str, str], cut_at: int) -> Response:
    response = payload_response(data, sha256_hex, headers)
    return replace(response, body=response.body + bytes(cut_at)) if response.status in (200, 206) else response


def _bad_range(data: bytes, sha256_hex: str, headers: Mapping[str, str], cut_at: int) -> Response:
    response = payload_response(data, sha256_hex, headers)
    ranges = [v for k, v in response.headers if k == "Content-Range"]
    if response.status != 206 or not ranges:
        return response
    first = max(0, int(ranges[0].split()[1].split("-")[0]) - cut_at)
    size = len(data)
    moved = replace(response, body=data[first:])
    return _with_header(moved, "Content-Range", f"bytes {first}-{size - 1}/{size}")


def _unsatisfiable(data: bytes, sha256_hex: str, headers: Mapping[str, str], cut_at: int) -> Response:
    return error_response(416, "range not satisfiable",
                          (("ETag", f'"{sha256_hex}"'), ("Content-Range", f"bytes */{len(data)}")))


def _other_size(data: bytes, sha256_hex: str, headers: Mapping[str, str], cut_at: int) -> Response:
    return payload_response(data + bytes(cut_at), sha256_hex, headers)


_ODD_ANSWERS = {"new-etag": _new_etag, "range-other-etag": _range_other_etag, "corrupt": _corrupt,
                "overlong": _overlong, "bad-range": _bad_range, "unsatisfiable": _unsatisfiable,
                "other-size": _other_size}
