"""The technician is told about the metered link's quota: a status line in Bahasa Indonesia (English
with --lang en), a row on the status page, and advice when it is nearly or wholly spent; the quota
read from a real journal and a real socket count."""
from __future__ import annotations

import time

import pytest

from agent.config import LinkConfig
from agent.jobs.quota import TALLY_FAMILY, LinkQuota
from agent.jobs.wire import WireCounter
from agent.journal import Journal
from agent.technician.advice import CATALOGUE, advise
from agent.technician.commands import format_status
from agent.technician.station_status import StationStatus
from agent.technician.status import gather, printer_view, quota_view
from agent.technician.status_page import render_status_page
from drivers.interfaces import CardPosition, PrinterStatus


@pytest.fixture
def journal(tmp_path):
    j = Journal(tmp_path / "journal.sqlite3")
    yield j
    j.close()


def status_with_quota(journal: Journal, used: int, stops_downloads: bool = True) -> StationStatus:
    config = LinkConfig(monthly_quota_mb=100)
    wire = WireCounter()
    quota = LinkQuota(config, journal, wire)
    journal.tallies.add(TALLY_FAMILY + quota.month(), used - 1000, TALLY_FAMILY)
    wire.received(1000)  # bytes not yet synced count as well
    printer = printer_view(True, (), PrinterStatus(reasons=(), card_position=CardPosition.NONE, cards_inserted=1,
                                                   panels_printed=5, ribbon_type="YMCKO", ribbon_remaining=9,
                                                   detail={}))
    now = time.time()
    return gather("3319-05", journal, printer, reader_online=True, last_contact=now - 5, faults=[], daemon=True,
                  now=now, quota=quota_view(quota.reading(), stops_downloads))


def test_below_the_near_mark_the_status_shows_the_month_and_gives_no_advice(journal):
    s = status_with_quota(journal, 40_000_000)
    line = next(text for text in format_status(s, "id") if text.startswith("Kuota data"))
    assert "terpakai 40.0 dari 100.0 MB, sisa 60.0 MB" in line and "normal" in line
    assert not [r for r in s.active_reasons() if r.keyword.startswith("link-quota")]


def test_near_the_quota_the_technician_is_told_to_top_up_in_both_languages(journal):
    s = status_with_quota(journal, 93_000_000)
    assert [r.keyword for r in s.active_reasons()] == ["link-quota-near"]
    text_id, text_en = "\n".join(format_status(s, "id")), "\n".join(format_status(s, "en"))
    assert "HEMAT" in text_id and "paket data" in text_id
    assert "SAVING" in text_en and "top up the data package" in text_en


def test_at_the_quota_the_status_page_says_only_the_spool_prints(journal):
    s = status_with_quota(journal, 100_000_000)
    assert [r.keyword for r in s.active_reasons()] == ["link-quota-spent"]
    page = render_status_page(s).decode()
    assert "Kuota data bulan ini" in page and "HABIS: hanya mencetak isi spool" in page
    assert "ktp-agent import" in page  # the advice: jobs can come on a stick
    assert StationStatus.from_json(s.to_json()) == s  # the control socket carries it whole


def test_spent_but_configured_to_continue_is_its_own_warning(journal):
    s = status_with_quota(journal, 120_000_000, stops_downloads=False)
    assert [r.keyword for r in s.active_reasons()] == ["link-quota-over"]
    assert "sisa 0.0 MB" in "\n".join(format_status(s, "id"))


def test_an_unmetered_link_shows_no_quota(journal):
    reading = LinkQuota(LinkConfig(), journal, WireCounter()).reading()
    assert quota_view(reading, True) is None


@pytest.mark.parametrize("keyword", ["link-quota-near", "link-quota-spent", "link-quota-over"])
def test_quota_advice_is_in_indonesian_and_english(keyword):
    assert keyword in CATALOGUE
    (id_meaning, id_action), (en_meaning, en_action) = advise(keyword, "id"), advise(keyword, "en")
    assert "kuota" in id_meaning.lower() and "quota" in en_meaning.lower()
    assert "monthly_quota_mb" in id_action and "monthly_quota_mb" in en_action
