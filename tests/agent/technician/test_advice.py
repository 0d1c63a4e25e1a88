"""The reason catalogue: every reason the station can show has a meaning and an action, in id and en."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from agent.technician.advice import CATALOGUE, LANGS, SPOIL_REASONS, advise, base_keyword

REPO = Path(__file__).resolve().parents[3]
REQUIRED = ("media-empty", "media-jam", "cover-open", "marker-supply-low", "marker-supply-empty",
            "marker-supply-missing", "cleaning-due", "cleaning-mandatory", "offline", "chip-unreadable", "interrupted", "insert-failed", "in-doubt")


def _driver_keywords() -> set[str]:
    """Every PWG keyword the Evolis driver can report, read from its source."""
    text = "".join((REPO / "drivers" / "evolis" / name).read_text() for name in ("printer.py", "reasons.py"))
    return set(re.findall(r'StateReason\("([a-z-]+)"', text))


def _spoil_reasons() -> set[str]:
    """Every literal reason the print worker finishes a job with."""
    text = "".join(p.read_text() for p in sorted((REPO / "agent" / "printing").glob("*.py")))
    return set(re.findall(r'JobState\.SPOILED, "([a-z-]+)"', text))


@pytest.mark.parametrize("keyword", REQUIRED)
def test_each_required_reason_has_meaning_and_action_in_both_languages(keyword):
    entry = CATALOGUE[keyword]
    for lang in LANGS:
        meaning, action = entry.text(lang)
        assert len(meaning) > 15 and len(action) > 15
    assert entry.text("id") != entry.text("en")


def test_every_reason_the_driver_reports_is_in_the_catalogue():
    keywords = _driver_keywords()
    assert {"media-empty", "cover-open", "marker-supply-empty", "cleaning-due", "cleaning-mandatory"} <= keywords
    assert keywords <= set(CATALOGUE)


def test_every_spoil_reason_of_the_print_worker_is_in_the_catalogue():
    reasons = _spoil_reasons()
    assert {"chip-unreadable", "interrupted", "insert-failed"} <= reasons
    assert reasons <= set(CATALOGUE)
    assert SPOIL_REASONS <= set(CATALOGUE)


def test_severity_suffix_is_ignored_and_indonesian_is_the_default():
    assert base_keyword("cover-open-error") == "cover-open"
    assert advise("cover-open-error") == advise("cover-open", "id") == CATALOGUE["cover-open"].text("id")
    assert "penutup" in advise("cover-open")[1].lower()
    assert "cover" in advise("cover-open", "en")[1].lower()
    assert advise("cover-open", "fr") == advise("cover-open", "id")


def test_unknown_reason_points_at_the_help_desk_bundle_in_the_asked_language():
    meaning, action = advise("toner-low", "en")
    assert "toner-low" in meaning and "diagnose --bundle" in action
    assert "katalog" in advise("toner-low")[0]
