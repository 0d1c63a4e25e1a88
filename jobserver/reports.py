"""Result reports (protocol section 3): validation, the same-outcome rule, and the blank audit.

A report that consumed a blank (printed or spoiled) names it by
``blank_counter``, the printer's card counter for the blank the job took
from the feeder; a chip with a random UID names no blank, so the counter is
what accounts for every blank. Stations that predate the field send none.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

REPORT_STATUSES = ("printed", "spoiled", "rejected", "expired")
#: The statuses whose job consumed a blank.
CONSUMING = ("printed", "spoiled")
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
    if "blank_counter" in report:
        _check_blank_counter(report["blank_counter"], report["status"])
    return dict(report)


def _check_blank_counter(counter: object, status: str) -> None:
    if not isinstance(counter, int) or isinstance(counter, bool) or counter < 0:
        raise ReportFieldError("blank_counter", "must be an integer >= 0, or absent")
    if status not in CONSUMING:
        raise ReportFieldError("blank_counter", f"a {status} report consumed no blank: leave it out")


def same_outcome(first: dict, again: dict) -> bool:
    """Whether ``again`` repeats ``first``: status, blank and reason agree.

    ``finished_at`` and ``attempts`` may differ between two sends of one
    outcome. ``blank_counter`` must agree when both carry it; one without it
    (a station before the field, or its report queued before an upgrade)
    does not contradict one with it.
    """
    def outcome(report: dict) -> tuple:
        serial = report.get("blank_serial")
        return report.get("status"), serial.lower() if isinstance(serial, str) else None, report.get("reason")
    counters = first.get("blank_counter"), again.get("blank_counter")
    return outcome(first) == outcome(again) and (None in counters or counters[0] == counters[1])


def audit_blanks(results: Mapping[str, dict]) -> dict:
    """Does every consumed blank appear in exactly one report? Answered by counter.

    ``results``: the accepted reports of one station (one printer), by job
    id. A counter in two reports is one blank reported twice; a counter
    missing between the lowest and the highest is a blank taken from the
    feeder that no report names (not yet reported, or used outside a job,
    such as the printer's test card); a consumed report without a counter
    cannot be placed at all.
    """
    by_counter: dict[int, list[str]] = {}
    uncounted: list[str] = []
    consumed = 0
    for job_id, report in sorted(results.items()):
        if report.get("status") not in CONSUMING:
            continue
        consumed += 1
        counter = report.get("blank_counter")
        if counter is None:
            uncounted.append(job_id)
        else:
            by_counter.setdefault(counter, []).append(job_id)
    repeated = {str(c): jobs for c, jobs in sorted(by_counter.items()) if len(jobs) > 1}
    low, high = (min(by_counter), max(by_counter)) if by_counter else (None, None)
    gaps = _gaps(by_counter, low, high)
    return {"consumed_reports": consumed, "counted": consumed - len(uncounted), "first": low, "last": high,
            "repeated": repeated, "gaps": gaps, "without_counter": uncounted,
            "each_blank_once": not (repeated or gaps or uncounted)}


def _gaps(counters: Iterable[int], low: int | None, high: int | None) -> list[int]:
    if low is None or high is None:
        return []
    held = set(counters)
    return [c for c in range(low, high + 1) if c not in held]
