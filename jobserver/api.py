"""Job protocol v1 endpoints, as a function from request to response.

Kept apart from the socket handling in ``server`` so every rule here (auth,
routing, cursors, admin) reads as plain code.
"""
from __future__ import annotations

import base64
import binascii
import hmac
import json
import re
import threading
from dataclasses import dataclass, replace
from typing import Callable, Mapping
from urllib.parse import parse_qs, urlsplit

from .faults import PayloadFaults, Throttle
from .receipts import ReceiptError, apply_receipts
from .issuing import DefectError
from .responses import Response, error_response, json_response
from .sealing import poll_entry
from .store import MAX_JOBS_PER_CALL, JobStore, StoreError

DEFAULT_LIMIT = 10
MAX_LIMIT = 100
#: The longest long poll (``wait_s``) the protocol allows.
MAX_WAIT_S = 300
_POLL = re.compile(r"\A/v1/stations/([^/]+)/jobs\Z")
_PAYLOAD = re.compile(r"\A/v1/payloads/([0-9a-f]{64})\Z")
_RESULT = re.compile(r"\A/v1/jobs/([^/]+)/result\Z")
_RECEIPTS = re.compile(r"\A/v1/stations/([^/]+)/receipts\Z")
_ADMIN_JOBS = re.compile(r"\A/v1/admin/jobs\Z")
_ADMIN_RESULTS = re.compile(r"\A/v1/admin/results\Z")
_ADMIN_BLANK_AUDIT = re.compile(r"\A/v1/admin/blank-audit\Z")


class RequestFieldError(ValueError):
    """A query or body field is malformed; ``field`` names it."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field


@dataclass(frozen=True)
class ApiRequest:
    method: str
    target: str
    headers: Mapping[str, str]
    body: bytes
    station_id: str = ""  # set once the bearer token is known


class JobApi:
    """Routes authenticated requests to the store."""

    def __init__(self, store: JobStore, tokens: Mapping[str, str], poll_after_s: int) -> None:
        self._store = store
        self._tokens = dict(tokens)
        self._poll_after_s = poll_after_s
        self.throttle = Throttle()
        self.payload_faults = PayloadFaults()
        self._closing = threading.Event()

    def open(self) -> None:
        """The server (re)starts: long polls may be held."""
        self._closing.clear()

    def close(self) -> None:
        """The server stops: every held long poll answers now, and none is held from now on."""
        self._closing.set()
        self._store.wake_waiters()

    def handle(self, request: ApiRequest) -> Response:
        path = urlsplit(request.target).path
        if not path.startswith("/v1/admin/"):
            throttled = self.throttle.take()
            if throttled is not None:
                return throttled
        station_id = self._authenticate(request.headers.get("Authorization"))
        if station_id is None:
            return error_response(401, "missing or unknown bearer token", (("WWW-Authenticate", "Bearer"),))
        return self._route(path, replace(request, station_id=station_id))

    def _authenticate(self, header: str | None) -> str | None:
        if header is None or not header.startswith("Bearer "):
            return None
        offered = header[len("Bearer "):].strip().encode("utf-8")
        for token, station_id in self._tokens.items():
            if hmac.compare_digest(offered, token.encode("utf-8")):
                return station_id
        return None

    def _route(self, path: str, request: ApiRequest) -> Response:
        routes: tuple[tuple[re.Pattern[str], tuple[str, ...], Callable[..., Response]], ...] = (
            (_POLL, ("GET", "HEAD"), self._poll),
            (_PAYLOAD, ("GET", "HEAD"), self._payload),
            (_RESULT, ("POST",), self._result),
            (_RECEIPTS, ("POST",), self._receipts),
            (_ADMIN_JOBS, ("POST",), self._admin_add_jobs),
            (_ADMIN_RESULTS, ("GET", "HEAD"), self._admin_results),
            (_ADMIN_BLANK_AUDIT, ("GET", "HEAD"), self._admin_blank_audit),
        )
        for pattern, methods, endpoint in routes:
            match = pattern.match(path)
            if match is None:
                continue
            if request.method not in methods:
                return error_response(405, f"method {request.method} not allowed",
                                      (("Allow", ", ".join(methods)),))
            return endpoint(request, *match.groups())
        return error_response(404, "no such resource", path=path)

    def _poll(self, request: ApiRequest, station_id: str) -> Response:
        if station_id != request.station_id:
            return error_response(403, "a station may only poll its own jobs")
        query = parse_qs(urlsplit(request.target).query, keep_blank_values=True)
        try:
            position = self._decode_cursor(_single(query, "after"))
            limit = _limit(_single(query, "limit"))
            wait_s = _wait(_single(query, "wait_s"))
        except RequestFieldError as exc:
            return error_response(400, f"bad query: {exc}", field=exc.field)
        if wait_s and request.method == "GET":  # a long poll: held until a job comes or the wait ends
            jobs = self._store.wait_for_jobs(station_id, position, limit, wait_s, self._closing.is_set)
        else:
            jobs = self._store.jobs_after(station_id, position, limit)
        next_position = jobs[-1].position if jobs else position
        return json_response(200, {
            "jobs": [poll_entry(job.manifest, job.signature) for job in jobs],
            "next_cursor": self._encode_cursor(next_position),
            "poll_after_s": self._poll_after_s,
        })

    def _payload(self, request: ApiRequest, sha256_hex: str) -> Response:
        owner = self._store.payload_station(sha256_hex)
        data = self._store.payload(sha256_hex)
        if owner is None or data is None:
            return error_response(404, "no such payload")
        if owner != request.station_id:
            return error_response(403, "payload belongs to another station")
        return self.payload_faults.apply(data, sha256_hex, request.headers)

    def _result(self, request: ApiRequest, job_id: str) -> Response:
        job = self._store.job(job_id)
        if job is not None and job.station_id != request.station_id:
            return error_response(403, "job belongs to another station")
        try:
            report = json.loads(request.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return error_response(400, "body is not UTF-8 JSON", field="body")
        status, body = self._store.record(job_id, report)
        return json_response(status, body)

    def _receipts(self, request: ApiRequest, station_id: str) -> Response:
        """Section 6: a station's receipts file, checked with its own token and applied."""
        if station_id != request.station_id:
            return error_response(403, "a station may only send its own receipts")
        token = next(t for t, owner in self._tokens.items() if owner == station_id)
        try:
            outcome = apply_receipts(self._store, station_id, request.body, token)
        except ReceiptError as exc:
            return error_response(400, f"bad receipts: {exc}", field="body")
        return json_response(200, outcome.as_dict())

    def _admin_add_jobs(self, request: ApiRequest) -> Response:
        try:
            order = json.loads(request.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return error_response(400, "body is not UTF-8 JSON", field="body")
        if not isinstance(order, dict):
            return error_response(400, "body must be a JSON object", field="body")
        count, defect = order.get("count", 1), order.get("defect")
        if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= MAX_JOBS_PER_CALL:
            return error_response(400, f"count must be an integer 1..{MAX_JOBS_PER_CALL}", field="count")
        if defect is not None and not isinstance(defect, str):
            return error_response(400, "defect must be a string or null", field="defect")
        try:
            job_ids = self._store.add_jobs(request.station_id, count, defect=defect)
        except DefectError as exc:
            return error_response(400, str(exc), field="defect")
        except StoreError as exc:
            return error_response(409, str(exc))
        return json_response(200, {"job_ids": job_ids})

    def _admin_results(self, request: ApiRequest) -> Response:
        own = {job.job_id for job in self._store.station_jobs(request.station_id)}
        results = {job_id: report for job_id, report in self._store.results().items() if job_id in own}
        log_count = sum(1 for entry in self._store.report_log() if entry["job_id"] in own)
        return json_response(200, {"results": results, "log_count": log_count})

    def _admin_blank_audit(self, request: ApiRequest) -> Response:
        return json_response(200, self._store.blank_audit(request.station_id))

    def _encode_cursor(self, position: int) -> str:
        raw = f"{self._store.epoch}:{position}".encode("ascii")
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")

    def _decode_cursor(self, cursor: str | None) -> int:
        """Position after which to serve; a cursor from another store epoch starts over."""
        if not cursor:
            return 0
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
            epoch, _, position = raw.partition(":")
            value = int(position)
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise RequestFieldError("after", "not a cursor this server issued") from None
        if value < 0:
            raise RequestFieldError("after", "not a cursor this server issued")
        return value if epoch == self._store.epoch else 0


def _single(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    if not values:
        return None
    if len(values) > 1:
        raise RequestFieldError(name, "given more than once")
    return values[0]


def _wait(raw: str | None) -> int:
    if raw is None or raw == "":
        return 0
    if not raw.isdigit() or int(raw) > MAX_WAIT_S:
        raise RequestFieldError("wait_s", f"must be an integer 0..{MAX_WAIT_S}")
    return int(raw)


def _limit(raw: str | None) -> int:
    if raw is None or raw == "":
        return DEFAULT_LIMIT
    try:
        value = int(raw)
    except ValueError:
        raise RequestFieldError("limit", "not an integer") from None
    if value < 1:
        raise RequestFieldError("limit", "must be at least 1")
    return min(value, MAX_LIMIT)
