"""Switchable misbehaviour for fault tests: throttling, and payload downloads gone wrong.

Protocol sections 1 and 2 allow the server to answer 429/503 with
Retry-After, to ignore Range, to close mid-body and to stall; these let a
test make it do so on purpose, for a counted number of requests.
"""
from __future__ import annotations

import threading
from dataclasses import replace
from typing import Mapping

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


PAYLOAD_FAULTS = ("ignore-range", "truncate", "stall")


class PayloadFaults:
    """Misbehaves on the next ``count`` payload downloads, as protocol section 2 allows.

    ``ignore-range`` answers 200 with the whole body; ``truncate`` announces the
    full length, sends ``cut_at`` bytes and closes; ``stall`` sends ``cut_at``
    bytes, pauses ``stall_s`` seconds, then sends the rest.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._kind, self._remaining, self._cut_at, self._stall_s = "", 0, 0, 0.0

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
        if kind == "ignore-range":
            return payload_response(data, sha256_hex, {})
        response = payload_response(data, sha256_hex, headers)
        if not kind or response.status not in (200, 206):
            return response
        cut = min(cut_at, max(len(response.body) - 1, 0))
        return replace(response, cut_after=cut, stall_s=stall_s if kind == "stall" else 0.0)
