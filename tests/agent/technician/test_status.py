"""The status snapshot, the fault history, the status page and the bundle's masking."""
from __future__ import annotations

import re
import time
from html.parser import HTMLParser

import pytest

from agent.technician.diagnose import mask_config
from agent.journal import JobState, Journal
from agent.printing import FaultHistory
from agent.technician.status import cards_per_hour, gather, journal_statistics, link_view, printer_view, station_state
from agent.technician.commands import format_status
from agent.technician.station_status import StationStatus
from agent.technician.status_page import render_status_page
from agent.technician.sync import ProgressBar
from drivers.errors import Severity, StateReason
from drivers.interfaces import CardPosition, PrinterStatus

COVER = StateReason("cover-open", Severity.ERROR)
RIBBON_LOW = StateReason("marker-supply-low", Severity.WARNING)


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _today_at(hour: int) -> float:
    t = time.localtime()
    return time.mktime((t.tm_year, t.tm_mon, t.tm_mday, hour, 15, 0, 0, 0, -1))


@pytest.fixture
def journal(tmp_path):
    j = Journal(tmp_path / "journal.sqlite3", clock=Clock(_today_at(9)))
    yield j
    j.close()


def _finish(journal: Journal, job_id: str, seq: int, outcome: JobState, hour: int, reason=None) -> None:
    journal._clock.now = _today_at(hour)
    journal.receive(job_id, b"{}", b"sig")
    journal.mark_verified(job_id, seq, 100, "ab" * 32, "2030-01-01T00:00:00+00:00")
    journal.mark_downloaded(job_id)
    journal.record_intent(job_id, seq, seq)
    journal.finish(job_id, outcome, "3319-05", reason=reason)


def _status(**kw) -> PrinterStatus:
    base = dict(reasons=(), card_position=CardPosition.NONE, cards_inserted=12, panels_printed=60,
                ribbon_type="YMCKO", ribbon_remaining=88, detail={"cover": "closed"})
    base.update(kw)
    return PrinterStatus(**base)


# -- fault history --------------------------------------------------------------------

def _keywords(history):
    return [e.keyword for e in history.events()]


def test_a_standing_reason_is_recorded_once_and_again_after_it_cleared(journal):
    clock = Clock(100.0)
    history = FaultHistory(journal.faults, clock=clock)
    for _ in range(5):
        history.observe([COVER])
    clock.now = 130.0
    history.observe([])
    history.observe([COVER, RIBBON_LOW])
    assert _keywords(history) == ["marker-supply-low", "cover-open", "cover-open"]  # newest first
    first = history.events()[-1]
    assert (first.at, first.ended_at, first.device) == (100.0, 130.0, "printer")
    assert history.events()[0].ended_at is None  # still holds


def test_a_nack_fault_is_not_counted_again_when_status_then_shows_it(journal):
    history = FaultHistory(journal.faults)
    media_empty = StateReason("media-empty", Severity.ERROR)
    history.fault(media_empty, "job-1")
    history.observe([media_empty])
    assert [(e.keyword, e.job_id) for e in history.events()] == [("media-empty", "job-1")]


def test_a_jam_for_one_job_in_one_second_is_one_entry(journal):
    history = FaultHistory(journal.faults, clock=Clock(500.25))
    jam = StateReason("media-jam", Severity.ERROR)
    history.spoiled("media-jam", "job-7")  # the card went to the reject box ...
    history.fault(jam, "job-7")            # ... and the failed print said why, in the same second
    assert [(e.keyword, e.job_id, e.source) for e in history.events()] == [("media-jam", "job-7", "spoiled")]


def test_history_keeps_the_last_episodes_and_offline_ends_what_was_shown(tmp_path):
    journal = Journal(tmp_path / "j.sqlite3")
    journal.faults._kept = 3  # the bound, made small
    clock = Clock(100.0)
    history = FaultHistory(journal.faults, clock=clock)
    history.observe([COVER])
    clock.now = 101.0
    history.offline()
    history.observe([COVER])  # the cover is still open after the reconnect: a new entry
    history.spoiled("chip-unreadable", "job-9")
    history.spoiled("interrupted", "job-10")
    recent = history.events()
    assert journal.faults.count() == 3
    assert [e.keyword for e in recent] == ["interrupted", "chip-unreadable", "cover-open"]
    assert recent[0].source == "spoiled" and recent[1].device == "reader"
    journal.close()


def test_episodes_outlive_a_restart_and_end_when_the_printer_no_longer_shows_them(tmp_path):
    path = tmp_path / "j.sqlite3"
    journal = Journal(path)
    FaultHistory(journal.faults, clock=Clock(100.0)).observe([COVER])
    journal.close()
    journal = Journal(path)  # a new daemon: the cover is still open, then closed
    history = FaultHistory(journal.faults, clock=Clock(200.0))
    history.observe([COVER])
    assert [(e.keyword, e.ended_at) for e in history.events()] == [("cover-open", None)]
    history.observe([])
    assert [(e.keyword, e.at, e.ended_at) for e in history.events()] == [("cover-open", 100.0, 200.0)]
    journal.close()


def test_the_reader_has_its_own_offline_episode(journal):
    clock = Clock(100.0)
    history = FaultHistory(journal.faults, clock=clock)
    history.reader_online(False)
    history.reader_online(False)
    clock.now = 110.0
    history.reader_online(True)
    assert [(e.device, e.keyword, e.ended_at) for e in history.events()] == [("reader", "offline", 110.0)]


# -- the snapshot -----------------------------------------------------------------------

def test_printer_state_follows_its_reasons():
    assert station_state(printer_view(True, (), _status())) == "ready"
    assert station_state(printer_view(True, (RIBBON_LOW,), _status())) == "ready"
    assert station_state(printer_view(True, (COVER,), _status())) == "stopped"
    offline = printer_view(False, (), None)
    assert station_state(offline) == "offline"
    assert offline.to_json()["reasons"] == [{"keyword": "offline", "severity": "error"}]


def test_link_is_down_after_ten_minutes_without_contact():
    assert link_view(None, 1000.0).to_json()["state"] == "never"
    assert link_view(1000.0, 1030.0).to_json() == {"state": "ok", "last_contact": 1000.0, "age_s": 30.0}
    assert link_view(1000.0, 1000.0 + 601).to_json()["state"] == "down"


def test_gather_counts_queue_stock_and_todays_cards_per_hour(journal):
    journal._clock.now = _today_at(7)
    journal.load_blanks(100, "DN-1")
    _finish(journal, "a", 1, JobState.PRINTED, 8)
    _finish(journal, "b", 2, JobState.PRINTED, 8)
    _finish(journal, "c", 3, JobState.SPOILED, 10, reason="chip-unreadable")
    journal.receive("d", b"{}", b"sig")
    journal.mark_verified("d", 4, 100, "cd" * 32, "2030-01-01T00:00:00+00:00")
    journal.mark_downloaded("d")
    now = _today_at(11)
    s = gather("3319-05", journal, printer_view(True, (COVER,), _status(reasons=(COVER,))),
               reader_online=True, last_contact=now - 5, faults=[], daemon=True, now=now).to_json()
    assert s["state"] == "stopped"
    assert s["queue"]["downloaded"] == 1 and s["queue"]["printed"] == 2 and s["outbox"] == 3
    # with the daemon down nothing prints, however ready the printer looks
    down = gather("3319-05", journal, printer_view(True, (), _status()), reader_online=True,
                  last_contact=None, faults=[], daemon=False, now=now)
    assert down.state == "not-running" and StationStatus.from_json(down.to_json()) == down
    assert "TIDAK MENCETAK" in format_status(down, "id")[1]
    assert s["stock"]["blanks_left"] == 97
    assert s["today"]["printed"][8] == 2 and s["today"]["spoiled"][10] == 1
    assert sum(s["today"]["printed"]) == 2
    assert [(e["job_id"], e["keyword"]) for e in s["spoiled"]] == [("c", "chip-unreadable")]
    assert s["link"]["state"] == "ok" and s["printer"]["cover"] == "closed"


def test_cards_of_yesterday_are_not_todays(journal):
    _finish(journal, "old", 1, JobState.PRINTED, 9)
    tomorrow = _today_at(9) + 86400
    assert sum(cards_per_hour(journal, tomorrow).printed) == 0
    assert sum(cards_per_hour(journal, _today_at(23)).printed) == 1


def test_journal_statistics_hold_counts_only(journal):
    _finish(journal, "a", 1, JobState.PRINTED, 8)
    stats = journal_statistics(journal)
    assert stats["integrity_ok"] is True and stats["outcomes"]["printed"] == 1
    assert "manifest" not in str(stats)


# -- the page ---------------------------------------------------------------------------

class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        self.tags.update(f"{tag}[{k}={v}]" for k, v in attrs if k in ("src", "href", "http-equiv"))

    def handle_data(self, data):
        self.text.append(data)


def test_page_is_indonesian_self_contained_and_shows_the_fault_with_advice(journal):
    _finish(journal, "a", 1, JobState.PRINTED, 8)
    now = _today_at(11)
    s = gather("3319-05", journal, printer_view(True, (COVER,), _status(reasons=(COVER,))),
               reader_online=True, last_contact=now - 5, faults=[], daemon=True, now=now)
    html = render_status_page(s).decode()
    parsed = _Text()
    parsed.feed(html)
    text = " ".join(parsed.text)
    assert 'lang="id"' in html and "meta[http-equiv=refresh]" in parsed.tags
    assert "script" not in parsed.tags and not any(t.startswith(("img", "link")) for t in parsed.tags)
    assert "3319-05" in text and "BERHENTI" in text and "cover-open" in text
    assert "Tutup penutup printer" in text  # the advice, in Indonesian
    assert "svg" in parsed.tags and "Kartu hari ini per jam" in text


def test_page_escapes_what_it_shows():
    s = {"station_id": "<b>x</b>", "at": 0, "daemon": True, "state": "ready", "queue": {}, "outbox": 0,
         "stock": {"blanks_left": None, "per_day": 0, "days_left": None},
         "printer": {"online": True, "reasons": [{"keyword": "<script>", "severity": "error"}]},
         "reader": {"online": True}, "link": link_view(None, 0).to_json(), "faults": [], "spoiled": [],
         "today": {"date": "2025-01-01", "printed": [0] * 24, "spoiled": [0] * 24}}
    html = render_status_page(StationStatus.from_json(s)).decode()
    assert "<script>" not in html and "&lt;script&gt;" in html and "<b>x</b>" not in html


# -- the bundle's configuration -----------------------------------------------------------

def test_config_secrets_and_url_credentials_are_masked():
    text = ('[server]\nurl = "https://user:pw@jobs.example.id/"\ntoken_file = "/etc/ktp/token"\n'
            'station_key = "/etc/ktp/station-key.pem"\npoll_limit = 10\n# api_key = "abc"\n')
    masked = mask_config(text)
    assert "pw@" not in masked and "/etc/ktp/token" not in masked and "station-key.pem" not in masked
    assert 'token_file = "***"' in masked and "poll_limit = 10" in masked
    assert re.search(r"https://\*\*\*@jobs\.example\.id", masked)


def test_progress_bar_redraws_one_line_and_ends_it():
    import io

    out = io.StringIO()
    bar = ProgressBar("Mengunduh", out, width=10)
    bar.update(0, 4)
    bar.update(0, 4)  # unchanged: not redrawn
    bar.update(2, 4)
    bar.update(4, 4)
    bar.close()
    frames = out.getvalue().split("\r")[1:]
    assert [f.rstrip("\n").rstrip() for f in frames] == [
        "Mengunduh [..........] 0/4", "Mengunduh [#####.....] 2/4", "Mengunduh [##########] 4/4"]
    assert out.getvalue().endswith("\n")


def test_the_status_value_survives_its_json_form(journal):
    from agent.printing import FaultEvent

    journal.faults.start(_today_at(7), "printer", "offline", "error", "offline")
    _finish(journal, "a", 1, JobState.SPOILED, 8, reason="chip-unreadable")
    now = _today_at(11)
    s = gather("3319-05", journal, printer_view(True, (COVER,), _status(reasons=(COVER,))),
               reader_online=None, last_contact=now - 5, daemon=True, now=now,
               faults=[FaultEvent(now - 60, "cover-open", "error", "printer")])
    assert StationStatus.from_json(s.to_json()) == s
    s = gather("3319-05", journal, printer_view(True, (), _status()), reader_online=True, last_contact=None,
               daemon=False, now=now)  # the episodes from the journal
    assert [e.keyword for e in s.faults] == ["offline"]
    assert StationStatus.from_json(s.to_json()) == s
    assert render_status_page(StationStatus.from_json(s.to_json())) == render_status_page(s)


def _low_battery():
    from agent.power.monitor import PowerSnapshot
    from agent.power.policy import PowerState, parse_reading
    from agent.power.power_status import power_status

    reading = parse_reading({"ups.status": "OB LB", "battery.charge": "20", "battery.runtime": "40"})
    return power_status(PowerSnapshot("ups@127.0.0.1:3493", PowerState.LOW, reading, min_runtime_s=90.0,
                                      since=1000.0, held_cards=2))


def test_a_power_hold_is_the_stations_state_and_survives_the_json_form(journal):
    now = _today_at(11)
    power = _low_battery()
    s = gather("3319-05", journal, printer_view(True, (RIBBON_LOW,), _status()), reader_online=True,
               last_contact=now - 5, faults=[], daemon=True, now=now, power=power)
    assert s.state == "held-for-power" and s.power.held and "LB" in s.power.reason
    assert [(r.keyword, r.severity) for r in s.active_reasons()] == [
        ("marker-supply-low", "warning"), ("ups-battery-low", "error")]
    doc = s.to_json()
    assert doc["power"]["state"] == "low-battery" and doc["power"]["status_flags"] == ["LB", "OB"]
    assert StationStatus.from_json(doc) == s
    # a printer error outranks the power hold; a status without a UPS has no power part
    assert s.with_printer(printer_view(True, (COVER,), _status(reasons=(COVER,)))).state == "stopped"
    plain = gather("3319-05", journal, printer_view(True, (), _status()), reader_online=True,
                   last_contact=now - 5, faults=[], daemon=True, now=now)
    assert plain.state == "ready" and plain.to_json()["power"] is None and StationStatus.from_json(plain.to_json()) == plain
    html = render_status_page(s).decode()
    assert "DITAHAN — BATERAI UPS RENDAH" in html and "ups-battery-low" in html and "40 detik" in html


def test_jobs_waiting_for_a_download_slot_are_not_counted_as_downloading(journal):
    for n in range(1, 4):
        journal.receive(f"v{n}", b"{}", b"sig")
        journal.mark_verified(f"v{n}", n, 100, "ab" * 32, "2030-01-01T00:00:00+00:00")
    s = gather("3319-05", journal, printer_view(True, (), _status()), reader_online=True, last_contact=None,
               daemon=True, downloading=1)
    assert s.downloading == 1 and s.waiting_to_download() == 2
    text = "\n".join(format_status(s, "id"))
    assert "1 sedang diunduh, 2 menunggu giliran unduh" in text
    assert "1 downloading, 2 waiting to download" in "\n".join(format_status(s, "en"))
    page = render_status_page(s).decode()
    assert re.search(r"Sedang diunduh</td><td class=\"n\">1<", page)
    assert re.search(r"Menunggu giliran unduh</td><td class=\"n\">2<", page)
    assert StationStatus.from_json(s.to_json()) == s
