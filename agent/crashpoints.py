"""Named crash points for the power-cut torture harness.

``KTP_CRASH_AT=name[:n]`` in the daemon's environment makes it kill itself
with SIGKILL the n-th time (default the first) the pipeline passes the named
point. Unset, every point is a no-op. The environment is read once, at start.
"""
from __future__ import annotations

import os
import signal
import threading
from dataclasses import dataclass

#: Every named point, in pipeline order.
POINTS = (
    "job.received", "job.verified", "payload.partial", "payload.downloaded",
    "print.intent", "print.inserted", "print.blank", "print.done", "print.outcome",
    "report.sent",
)


@dataclass
class CrashPoints:
    target: str | None = None
    countdown: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> "CrashPoints":
        raw = (environ if environ is not None else os.environ).get("KTP_CRASH_AT", "")
        if not raw:
            return cls()
        name, _, count = raw.partition(":")
        if name not in POINTS:
            raise ValueError(f"KTP_CRASH_AT: unknown point {name!r}; one of {', '.join(POINTS)}")
        return cls(name, int(count or 1))

    def hit(self, name: str) -> None:
        if name != self.target:
            return
        with self._lock:
            self.countdown -= 1
            if self.countdown <= 0:
                os.kill(os.getpid(), signal.SIGKILL)
