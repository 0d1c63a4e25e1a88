"""What an Evolis printer's state means as PWG ``printer-state-reasons``.

The Primacy generation says it in its status words (see ``status``); both
generations also say it in the text of an error reply (``ERROR FEEDER``,
``ERROR MECA``, ...) and the Rev E generation in NACK codes. An ``-error``
reason stops printing; a ``-warning`` reason is shown and printing goes on.

Cleaning is the print head's: the printer counts cards since its last
cleaning and raises *cleaning recommended* (``cleaning-due``, a warning),
then *cleaning mandatory* (``cleaning-mandatory``, an error: the next cards
would cost the head's warranty, so the station stops until the cleaning
card has been run).
"""
from __future__ import annotations

from ..errors import Severity, StateReason
from .status import ErrorFlag, Extension1Flag, InfoFlag, StatusWords, WarningFlag

MEDIA_EMPTY = StateReason("media-empty", Severity.ERROR)
MEDIA_LOW = StateReason("media-low", Severity.WARNING)
MEDIA_JAM = StateReason("media-jam", Severity.ERROR)
COVER_OPEN = StateReason("cover-open", Severity.ERROR)
RIBBON_EMPTY = StateReason("marker-supply-empty", Severity.ERROR)
RIBBON_LOW = StateReason("marker-supply-low", Severity.WARNING)
RIBBON_MISSING = StateReason("marker-supply-missing", Severity.ERROR)
OUTPUT_FULL = StateReason("output-area-full", Severity.ERROR)
CLEANING_DUE = StateReason("cleaning-due", Severity.WARNING)
CLEANING_MANDATORY = StateReason("cleaning-mandatory", Severity.ERROR)

_WARNINGS: tuple[tuple[WarningFlag, StateReason], ...] = (
    (WarningFlag.FEEDER_EMPTY, MEDIA_EMPTY),
    (WarningFlag.COVER_OPEN, COVER_OPEN),
    (WarningFlag.FEEDER_OPEN, COVER_OPEN),
    (WarningFlag.RIBBON_ENDED, RIBBON_EMPTY),
    (WarningFlag.NO_RIBBON, RIBBON_MISSING),
    (WarningFlag.UNSUPPORTED_RIBBON, RIBBON_MISSING),
    (WarningFlag.REJECT_BOX_FULL, OUTPUT_FULL),
    (WarningFlag.HOPPER_FULL, OUTPUT_FULL),
)
_ERRORS: tuple[tuple[ErrorFlag, StateReason], ...] = (
    (ErrorFlag.FEEDER_ERROR, MEDIA_EMPTY),
    (ErrorFlag.MECHANICAL, MEDIA_JAM),
    (ErrorFlag.COVER_OPEN, COVER_OPEN),
    (ErrorFlag.FEEDER_OPEN, COVER_OPEN),
    (ErrorFlag.RIBBON_ENDED, RIBBON_EMPTY),
    (ErrorFlag.RIBBON_ERROR, RIBBON_EMPTY),
    (ErrorFlag.BAD_RIBBON, RIBBON_MISSING),
    (ErrorFlag.REJECT_BOX_FULL, OUTPUT_FULL),
    (ErrorFlag.HOPPER_FULL, OUTPUT_FULL),
)
_INFORMATION: tuple[tuple[InfoFlag, StateReason], ...] = (
    (InfoFlag.RIBBON_LOW, RIBBON_LOW),
    (InfoFlag.CLEANING, CLEANING_DUE),
    (InfoFlag.CLEANING_REQUIRED, CLEANING_DUE),
    (InfoFlag.CLEANING_ADVANCED, CLEANING_DUE),
    (InfoFlag.CLEANING_MANDATORY, CLEANING_MANDATORY),
    (InfoFlag.CLEAN_LAST_OUTWARRANTY, CLEANING_MANDATORY),
    (InfoFlag.CLEAN_OUTWARRANTY, CLEANING_MANDATORY),
)
#: Words in an error reply's text, strongest first.
_REPLY_WORDS: tuple[tuple[str, StateReason], ...] = (
    ("FEEDER", MEDIA_EMPTY), ("COVER", COVER_OPEN), ("RIBBON", RIBBON_EMPTY),
    ("MECA", MEDIA_JAM), ("TIME OUT", MEDIA_JAM), ("JAM", MEDIA_JAM),
)
#: Rev E NACK codes that are printer conditions.
NACK_REASONS: dict[str, StateReason] = {
    "F": MEDIA_EMPTY, "R": RIBBON_EMPTY, "C": COVER_OPEN, "T": MEDIA_JAM,
}


def reasons_from_status(words: StatusWords) -> tuple[StateReason, ...]:
    """Every PWG reason the status words raise, sorted, without duplicates."""
    found = {reason for flag, reason in _WARNINGS if flag in words.warning}
    found |= {reason for flag, reason in _ERRORS if flag in words.error}
    found |= {reason for flag, reason in _INFORMATION if flag in words.information}
    if words.extensions[0] & Extension1Flag.FEEDER_NEAR_EMPTY and MEDIA_EMPTY not in found:
        found.add(MEDIA_LOW)
    return tuple(sorted(found))


def reason_for_error(text: str, words: StatusWords | None) -> StateReason | None:
    """The printer condition behind an error reply; None for a command or parameter error.

    The error word says it best, then the reply's own words, then a
    warning that stops printing (a feeder found empty, an open cover)."""
    upper = text.upper()
    if "CDE" in upper or "PARAM" in upper:
        return None
    if words is not None:
        errors = [reason for flag, reason in _ERRORS if flag in words.error]
        if errors:
            return errors[0]
    said = next((reason for word, reason in _REPLY_WORDS if word in upper), None)
    if said is not None or words is None:
        return said
    return next((r for r in reasons_from_status(words) if r.stops_printing), None)
