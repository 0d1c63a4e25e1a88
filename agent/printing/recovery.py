"""After a restart: what the printer's own evidence says about a job interrupted between intent and outcome.

The journal holds the printer's card and panel counters from before the
blank moved (the intent) and the blank's chip UID; the printer tells its
counters and where its card is now. Together they decide, never a guess:
``IN_DOUBT`` goes to a technician.
"""
from __future__ import annotations

from enum import Enum

from drivers.interfaces import CardPosition, PrinterStatus

from ..journal import JobRecord


class Resolution(Enum):
    NOT_STARTED = "no-blank-moved"
    BLANK_WAITING = "blank-waiting-at-contactless-station"
    CARD_STUCK = "card-still-in-printer"
    PRINTED = "printed-per-panel-counter"
    REJECTED = "left-unprinted"
    IN_DOUBT = "in-doubt"


def resolve_interrupted(job: JobRecord, status: PrinterStatus) -> Resolution:
    """What the printer's counters and card position say about an interrupted job."""
    taken = status.cards_inserted - (job.cards_before or 0)
    position = status.card_position
    if taken == 0 and position is not CardPosition.IN_PRINTER:
        return Resolution.NOT_STARTED
    if taken == 1 and position is CardPosition.CONTACTLESS and job.panels_before == status.panels_printed:
        return Resolution.BLANK_WAITING
    if taken == 1 and position is CardPosition.IN_PRINTER:
        return Resolution.CARD_STUCK
    if (taken == 1 and position is CardPosition.NONE and job.panels_before is not None
            and status.panels_printed > job.panels_before and job.blank_serial is not None):
        return Resolution.PRINTED
    if (taken == 1 and position is CardPosition.NONE and job.panels_before is not None
            and status.panels_printed == job.panels_before):
        return Resolution.REJECTED  # sent to the reject box before any panel printed
    return Resolution.IN_DOUBT
