"""structlog set-up: JSON lines under systemd or in a pipe, readable output in a terminal.

One event name per happening (``card.printed``, ``payload.resumed``). Job ids
only: a processor masks anything shaped like a NIK, and tracebacks are
rendered without local variables.
"""
from __future__ import annotations

import json as _json
import logging
import os
import sys
import threading
from collections import deque
from typing import Any, TextIO

import structlog
import structlog.tracebacks

from .redaction import redact, redact_event as _redact_processor  # noqa: F401 (redact: diagnose)


class RecentLines:
    """A processor keeping the last ``size`` events as JSON lines, after redaction (for the help-desk bundle)."""

    def __init__(self, size: int = 500) -> None:
        self._lock = threading.Lock()
        self._lines: deque[str] = deque(maxlen=size)

    def __call__(self, logger: Any, method: str, event: dict[str, Any]) -> dict[str, Any]:
        line = _json.dumps(event, default=str, ensure_ascii=False)
        with self._lock:
            self._lines.append(line)
        return event

    def lines(self) -> list[str]:
        with self._lock:
            return list(self._lines)


def recent_lines() -> RecentLines | None:
    """The ring of recent lines in the configured processor chain, if ``configure`` ran."""
    for processor in structlog.get_config().get("processors", ()):
        if isinstance(processor, RecentLines):
            return processor
    return None


def configure(stream: TextIO | None = None, level: str = "info", json: bool | None = None,
              keep_lines: int = 500) -> None:
    """Configure structlog once, at daemon start."""
    stream = stream or sys.stderr
    recent = RecentLines(keep_lines)
    if json is None:
        json = bool(os.environ.get("JOURNAL_STREAM")) or not stream.isatty()
    shared = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if json:
        no_locals = structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
        tail = [structlog.processors.ExceptionRenderer(no_locals), _redact_processor, recent,
                structlog.processors.JSONRenderer()]
    else:
        # The traceback is rendered to text (no locals) before redaction, so its message is masked too.
        tail = [structlog.processors.format_exc_info, _redact_processor, recent, structlog.dev.ConsoleRenderer(
            exception_formatter=structlog.dev.plain_traceback)]
    structlog.configure(
        processors=[*shared, *tail],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(stream),
        cache_logger_on_first_use=False,
    )
