"""HTTP responses as values, and the payload download answer with byte ranges.

Ranges follow RFC 9110 section 14: one ``bytes=N-``, ``bytes=N-M`` or
``bytes=-S`` range gets 206; an ``If-Range`` that is not the current ETag, a
malformed or multi-part Range gets the whole body (200); a first byte past
the end gets 416 with ``Content-Range: bytes */size``.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Mapping

_RANGE = re.compile(r"\A\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*\Z")


@dataclass(frozen=True)
class Response:
    """Status, headers and body of one answer; Content-Length is added when sent."""

    status: int
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    content_type: str = "application/json"
    cut_after: int | None = None  # body bytes sent before a fault (see api.PayloadFaults)
    stall_s: float = 0.0  # > 0: pause there, then finish; 0: close the connection there


def json_response(status: int, doc: object, headers: tuple[tuple[str, str], ...] = ()) -> Response:
    body = json.dumps(doc, separators=(",", ":")).encode("utf-8")
    return Response(status=status, body=body, headers=headers)


def error_response(status: int, message: str, headers: tuple[tuple[str, str], ...] = (),
                   **details: object) -> Response:
    return json_response(status, {"error": message, **details}, headers)


def payload_response(data: bytes, sha256_hex: str, request_headers: Mapping[str, str]) -> Response:
    """The ciphertext, whole or the one range asked for."""
    etag = f'"{sha256_hex}"'
    common = (("ETag", etag), ("Accept-Ranges", "bytes"))
    size = len(data)
    wanted = _wanted_range(request_headers, etag)
    if wanted is None:
        return Response(200, data, common, "application/octet-stream")
    first, last = wanted
    if first is None:  # suffix range: the last `last` bytes
        if last == 0:
            return _unsatisfiable(size, common)
        first, last = max(0, size - last), size - 1
    elif first >= size:
        return _unsatisfiable(size, common)
    else:
        last = size - 1 if last is None else min(last, size - 1)
    headers = common + (("Content-Range", f"bytes {first}-{last}/{size}"),)
    return Response(206, data[first:last + 1], headers, "application/octet-stream")


def _wanted_range(request_headers: Mapping[str, str], etag: str) -> tuple[int | None, int | None] | None:
    """(first, last) of a single satisfiable-looking range, or None to send everything."""
    header = request_headers.get("Range")
    if header is None:
        return None
    if_range = request_headers.get("If-Range")
    if if_range is not None and if_range.strip() != etag:
        return None
    match = _RANGE.match(header)
    if match is None or (not match.group(1) and not match.group(2)):
        return None
    first = int(match.group(1)) if match.group(1) else None
    last = int(match.group(2)) if match.group(2) else None
    if first is not None and last is not None and last < first:
        return None
    return first, last


def _unsatisfiable(size: int, common: tuple[tuple[str, str], ...]) -> Response:
    headers = common + (("Content-Range", f"bytes */{size}"),)
    return error_response(416, "range not satisfiable", headers, size=size)
