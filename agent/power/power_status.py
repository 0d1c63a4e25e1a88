"""The power part of the station's status: one frozen value and its JSON form (no citizen data)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from .monitor import PowerSnapshot
from .policy import PowerState


@dataclass(frozen=True)
class PowerStatus:
    ups: str                                  # name@host:port
    state: PowerState
    reason: str | None                        # why no new blank is taken (None: one may be)
    link: str                                 # "up", or the LinkProblem value of the last exchange
    link_detail: str | None
    status_flags: tuple[str, ...] | None      # ups.status words; None without a reading
    charge_ratio: float | None
    runtime_s: float | None
    min_runtime_s: float
    since: float                              # when the state last changed
    held_cards: int
    reasons: tuple[tuple[str, str], ...]      # (advice keyword, severity) for what it asks of a person

    @property
    def held(self) -> bool:
        return self.state.holds

    @property
    def link_up(self) -> bool:
        return self.link == "up"

    def to_json(self) -> dict:
        return {
            "ups": self.ups, "state": self.state.value, "held": self.held, "reason": self.reason,
            "link": self.link, "link_detail": self.link_detail,
            "status_flags": None if self.status_flags is None else list(self.status_flags),
            "charge_ratio": self.charge_ratio, "runtime_s": self.runtime_s, "min_runtime_s": self.min_runtime_s,
            "since": self.since, "held_cards": self.held_cards,
            "reasons": [{"keyword": k, "severity": s} for k, s in self.reasons],
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> PowerStatus:
        flags = doc.get("status_flags")
        return cls(ups=doc["ups"], state=PowerState(doc["state"]), reason=doc.get("reason"), link=doc["link"],
                   link_detail=doc.get("link_detail"), status_flags=None if flags is None else tuple(flags),
                   charge_ratio=doc.get("charge_ratio"), runtime_s=doc.get("runtime_s"),
                   min_runtime_s=doc["min_runtime_s"], since=doc["since"], held_cards=doc["held_cards"],
                   reasons=tuple((r["keyword"], r["severity"]) for r in doc.get("reasons", ())))


def power_status(snapshot: PowerSnapshot) -> PowerStatus:
    """The monitor's snapshot as the station's status shows it."""
    reading = snapshot.reading
    return PowerStatus(
        ups=snapshot.ups, state=snapshot.state, reason=snapshot.reason,
        link="up" if snapshot.link_problem is None else snapshot.link_problem.value, link_detail=snapshot.link_detail,
        status_flags=tuple(sorted(reading.flags)) if reading else None,
        charge_ratio=reading.charge_ratio if reading else None, runtime_s=reading.runtime_s if reading else None,
        min_runtime_s=snapshot.min_runtime_s, since=snapshot.since, held_cards=snapshot.held_cards,
        reasons=_reasons(snapshot))


def _reasons(snapshot: PowerSnapshot) -> tuple[tuple[str, str], ...]:
    """Advice keywords (agent.technician.advice) for what the power situation asks of a person."""
    out = []
    if snapshot.state is PowerState.LOW:
        out.append(("ups-battery-low", "error"))
    elif snapshot.state is PowerState.BATTERY:
        out.append(("ups-on-battery", "warning"))
    if snapshot.link_problem is not None:
        out.append(("ups-unreachable", "warning"))
    return tuple(out)
