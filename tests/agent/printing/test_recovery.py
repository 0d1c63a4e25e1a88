"""Resolving a job interrupted between intent and outcome, from physical evidence."""
import sqlite3

import pytest

from agent.errors import JournalError
from agent.journal import SCHEMA_VERSION, JobRecord, JobState, Journal
from agent.printing import Resolution, resolve_interrupted
from drivers.interfaces import CardPosition, PrinterStatus

STATION = "3319-05"


def job(cards_before=10, panels_before=50, blank="04aabbccddeeff"):
    return JobRecord(job_id="j", seq=1, state=JobState.PRINTING, outcome=None, manifest=b"", signature=b"",
                     payload_size=1, payload_sha256="", cards_before=cards_before,
                     panels_before=panels_before, blank_serial=blank, attempts=1, reason=None,
                     received_at=0.0)


def status(cards, panels, position):
    return PrinterStatus(reasons=(), card_position=position, cards_inserted=cards, panels_printed=panels,
                         ribbon_type="YMCKO")


@pytest.mark.parametrize("cards, panels, position, expected", [
    (10, 50, CardPosition.NONE, Resolution.NOT_STARTED),
    (11, 50, CardPosition.CONTACTLESS, Resolution.BLANK_WAITING),
    (11, 50, CardPosition.IN_PRINTER, Resolution.CARD_STUCK),
    (11, 52, CardPosition.IN_PRINTER, Resolution.CARD_STUCK),
    (11, 55, CardPosition.NONE, Resolution.PRINTED),
    (11, 50, CardPosition.NONE, Resolution.REJECTED),
    (12, 55, CardPosition.NONE, Resolution.IN_DOUBT),
    (10, 50, CardPosition.IN_PRINTER, Resolution.IN_DOUBT),
])
def test_evidence_decides_the_outcome(cards, panels, position, expected):
    assert resolve_interrupted(job(), status(cards, panels, position)) is expected


def test_without_panel_counter_a_card_that_left_is_in_doubt():
    assert resolve_interrupted(job(panels_before=None), status(11, 55, CardPosition.NONE)) is Resolution.IN_DOUBT


def test_printed_needs_the_blank_serial_recorded_before_printing():
    assert resolve_interrupted(job(blank=None), status(11, 55, CardPosition.NONE)) is Resolution.IN_DOUBT


@pytest.fixture
def in_doubt(tmp_path):
    journal = Journal(tmp_path / "journal.sqlite3")
    journal.receive("j", b"{}", b"s")
    journal.mark_verified("j", 1, 1, "00" * 32, "2030-01-01T00:00:00+00:00")
    journal.mark_downloaded("j")
    journal.record_intent("j", 10, 50)
    journal.record_blank("j", "04aabbccddeeff")
    journal.mark_in_doubt("j", "card left the printer")
    yield journal
    journal.close()


def test_in_doubt_job_is_never_printed_again_by_itself(in_doubt):
    assert in_doubt.jobs_in(JobState.DOWNLOADED) == []
    assert in_doubt.counts_by_state()[JobState.IN_DOUBT] == 1
    assert in_doubt.pending_reports() == []


@pytest.mark.parametrize("outcome", [JobState.PRINTED, JobState.SPOILED])
def test_technician_resolution_queues_one_report_with_the_blank(in_doubt, outcome):
    body = in_doubt.resolve_in_doubt("j", outcome, STATION)
    assert body["status"] == outcome.value and body["blank_serial"] == "04aabbccddeeff"
    assert body["reason"] == "technician"
    assert [r.job_id for r in in_doubt.pending_reports()] == ["j"]
    with pytest.raises(JournalError, match="not in-doubt"):
        in_doubt.resolve_in_doubt("j", outcome, STATION)


def test_resolution_must_be_printed_or_spoiled(in_doubt):
    with pytest.raises(JournalError, match="printed or spoiled"):
        in_doubt.resolve_in_doubt("j", JobState.REJECTED, STATION)


def test_schema_1_journal_is_migrated_in_place(tmp_path):
    path = tmp_path / "journal.sqlite3"
    db = sqlite3.connect(path)
    db.executescript("""
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        INSERT INTO meta VALUES ('schema_version', '1');
        CREATE TABLE jobs (job_id TEXT PRIMARY KEY, seq INTEGER, state TEXT NOT NULL, outcome TEXT,
            manifest BLOB NOT NULL, signature BLOB NOT NULL, payload_size INTEGER, payload_sha256 TEXT,
            expires_at TEXT, cards_before INTEGER, blank_serial TEXT, attempts INTEGER NOT NULL DEFAULT 0,
            reason TEXT, received_at REAL NOT NULL, updated_at REAL NOT NULL, finished_at TEXT);
        INSERT INTO jobs (job_id, seq, state, manifest, signature, received_at, updated_at)
            VALUES ('old', 5, 'downloaded', x'7b7d', x'00', 1.0, 1.0);
    """)
    db.commit()
    db.close()
    journal = Journal(path)
    record = journal.get("old")
    assert record.state is JobState.DOWNLOADED and record.panels_before is None
    assert journal.counts_by_state()[JobState.DOWNLOADED] == 1  # counts carried over by the migration
    journal.record_intent("old", 3, 9)
    assert journal.get("old").panels_before == 9
    assert journal._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0] == str(SCHEMA_VERSION)
    journal.close()


def test_damaged_journal_is_moved_aside_and_printing_held(tmp_path):
    from agent.journal_guard import MARKER, open_checked, release

    journal = open_checked(tmp_path)
    journal.receive("j", b"{}", b"s")
    journal.close()
    path = tmp_path / "journal.sqlite3"
    data = bytearray(path.read_bytes())
    data[100:4096] = b"\x00garbage" * ((4096 - 100) // 8) + b"\x00" * ((4096 - 100) % 8)
    path.write_bytes(bytes(data))
    with pytest.raises(JournalError, match="moved to"):
        open_checked(tmp_path)
    assert (tmp_path / MARKER).exists()
    assert list(tmp_path.glob("journal.sqlite3.damaged-*"))
    with pytest.raises(JournalError, match="held until a technician"):
        open_checked(tmp_path)
    assert release(tmp_path)
    fresh = open_checked(tmp_path)
    assert fresh.get("j") is None
    fresh.close()


def test_job_received_but_not_verified_before_a_stop_is_verified_at_start(tmp_path):
    import base64
    import json
    import uuid
    from datetime import datetime, timezone

    from Crypto.PublicKey import ECC
    from Crypto.Signature import eddsa

    from agent.jobs.intake import Intake
    from agent.jobs.manifest import ManifestVerifier
    from agent.observe.metrics import StationMetrics

    signing = ECC.generate(curve="Ed25519")
    job_id = str(uuid.uuid4())
    raw = json.dumps({"v": 1, "job_id": job_id, "station_id": STATION, "seq": 3,
                      "issued_at": "2026-11-20T08:00:00Z", "expires_at": "2099-01-01T00:00:00Z",
                      "payload": {"url": "/v1/payloads/" + "b" * 64, "size": 10, "sha256": "b" * 64,
                                  "enc": "hpke-x25519-sha256-aes256gcm",
                                  "enc_key": base64.urlsafe_b64encode(b"k" * 32).decode()},
                      "card": {"layout": "ektp-v1", "copies": 1}}).encode()
    journal = Journal(tmp_path / "journal.sqlite3")
    journal.receive(job_id, raw, eddsa.new(signing, "rfc8032").sign(raw))  # then the power went
    intake = Intake(journal, ManifestVerifier(signing.public_key(), STATION), StationMetrics(STATION))
    assert intake.resume_received(datetime.now(timezone.utc)) == 1
    assert journal.get(job_id).state is JobState.VERIFIED
    journal.close()
