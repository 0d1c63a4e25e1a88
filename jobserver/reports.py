"""Result reports (protocol section 3): validation and the same-outcome rule."""
from __future__ import annotations

import re

REPORT_STATUSES = ("printed", "spoiled", "rejected", "expired")
_HEX = re.compile(r"\A[0-9A-Fa-f]+\Z")
_REASON_MAX = 200


class ReportFieldError(ValueError):
    """A report field is missing or malformed; ``field`` names it."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"field {field}: {problem}")
        self.field = field
        self.problem = problem


def validate_report(report: object, station_id: str) -> dict:
    """The report's fields, checked against protocol section 3 and the job's station."""
    if not isinstance(report, dict):
        raise ReportFieldError("body", "must be a JSON object")
    if report.get("station_id") != station_id:
        raise ReportFieldError("station_id", "missing or not the station the job was issued to")
    if report.get("status") not in REPORT_STATUSES:
        raise ReportFieldError("status", f"must be one of {', '.join(REPORT_STATUSES)}")
    attempts = report.get("attempts")
    if not isinstance(attempts, int) or isinstance(attempts, bool) or attempts < 1:
        raise ReportFieldError("attempts", "must be an integer >= 1")
    if not isinstance(report.get("finished_at"), str) or not report["finished_at"]:
        raise ReportFieldError("finished_at", "must be an RFC 3339 string")
    serial = report.get("blank_serial")
    if serial is not None and (not isinstance(serial, str) or not _HEX.match(serial)):
        raise ReportFieldError("blank_serial", "must be a hex string or null")
    reason = report.get("reason")
    if reason is not None and (not isinstance(reason, str) or len(reason) > _REASON_MAX):
        raise ReportFieldError("reason", f"must be a string of at most {_REASON_MAX} characters or null")
    for field in ("blank_serial", "reason"):
        if field not in report:
            raise ReportFieldError(field, "missing (send null for none)")
    return dict(report)


def same_outcome(first: dict, again: dict) -> bool:
    """Whether ``again`` repeats ``first``: status, blank and reason agree.

    ``finished_at`` and ``attempts`` may differ between two sends of one outcome.
    """
    def outcome(report: dict) -> tuple:
        serial = report.get("blank_serial")
        return report.get("status"), serial.lower() if isinstance(serial, str) else None, report.get("reason")
    return outcome(first) == outcome(again)
