"""Every consumed blank is named in its report by the printer's card counter (``blank_counter``),
and a chip that answers a random UID is recorded as such: in the journal, its migration and the
reports it queues."""
import json
import sqlite3

import pytest

from agent.journal import SCHEMA_VERSION, JobState, Journal

from .station_config import write_station_config

STATION = "3319-05"
RANDOM_UID = "08a1b2c3"
FIXED_UID = "04a1b2c3d4e5f6"


@pytest.fixture
def journal(tmp_path):
    j = Journal(tmp_path / "journal.sqlite3")
    yield j
    j.close()


def downloaded(journal, job_id="j1", seq=1):
    journal.receive(job_id, b"{}", b"sig")
    journal.mark_verified(job_id, seq, 100, "ab" * 32, "2030-01-01T00:00:00+00:00")
    journal.mark_downloaded(job_id)


def test_the_report_names_the_blank_fed_after_the_intent_by_its_counter(journal):
    downloaded(journal)
    journal.record_intent("j1", cards_before=41, panels_before=200)
    journal.record_blank("j1", FIXED_UID)
    assert journal.get("j1").blank_counter == 42
    body = journal.finish("j1", JobState.PRINTED, STATION)
    assert body["blank_counter"] == 42 and body["blank_serial"] == FIXED_UID
    assert journal.pending_reports()[0].body == body


def test_a_random_uid_is_kept_marked_in_the_record_and_the_report_names_the_blank_by_counter(journal):
    downloaded(journal)
    journal.record_intent("j1", cards_before=7)
    journal.record_blank("j1", RANDOM_UID, uid_is_random=True)
    record = journal.get("j1")
    assert record.blank_serial == RANDOM_UID and record.blank_uid_random is True
    body = journal.finish("j1", JobState.PRINTED, STATION)
    assert body["blank_serial"] is None and body["blank_counter"] == 8


@pytest.mark.parametrize("reason", ["insert-failed", "chip-unreadable", "interrupted", "media-jam"])
def test_every_spoiled_blank_carries_its_counter_read_or_not(journal, reason):
    downloaded(journal)
    journal.record_intent("j1", cards_before=3)
    if reason == "chip-unreadable":
        journal.record_blank("j1", None)
    body = journal.finish("j1", JobState.SPOILED, STATION, reason=reason)
    assert body["blank_counter"] == 4 and body["blank_serial"] is None


@pytest.mark.parametrize("outcome", [JobState.REJECTED, JobState.EXPIRED])
def test_reports_that_consumed_no_blank_carry_no_counter(journal, outcome):
    downloaded(journal)
    journal.record_intent("j1", cards_before=3)
    journal.release_intent("j1")  # the counter proved no blank moved
    body = journal.finish("j1", outcome, STATION, reason=outcome.value)
    assert "blank_counter" not in body and journal.get("j1").blank_counter is None


def test_a_blank_left_waiting_is_counted_once_for_the_attempt_that_uses_it(journal):
    downloaded(journal)
    journal.record_intent("j1", cards_before=10)
    journal.record_blank("j1", RANDOM_UID, uid_is_random=True)
    assert journal.blank_owner(11) == "j1"
    journal.release_intent("j1")  # power cut: the blank waits untouched at the contactless station
    record = journal.get("j1")
    assert (record.blank_counter, record.blank_serial, record.blank_uid_random) == (None, None, False)
    assert journal.blank_owner(11) is None
    journal.record_intent("j1", cards_before=10)  # the next attempt: counter 11 minus the waiting blank
    journal.record_blank("j1", "08ffeedd", uid_is_random=True)  # a new random UID at this activation
    body = journal.finish("j1", JobState.PRINTED, STATION)
    assert body["blank_counter"] == 11 and body["attempts"] == 2 and body["blank_serial"] is None


def test_an_in_doubt_job_owns_its_blank_and_the_technicians_report_names_it(journal):
    downloaded(journal)
    journal.record_intent("j1", cards_before=20, panels_before=90)
    journal.record_blank("j1", RANDOM_UID, uid_is_random=True)
    journal.mark_in_doubt("j1", "card left the printer; outcome unknown")
    assert journal.get("j1").blank_counter == 21 and journal.blank_owner(21) == "j1"
    body = journal.resolve_in_doubt("j1", JobState.SPOILED, STATION)
    assert body["blank_counter"] == 21 and body["blank_serial"] is None and body["reason"] == "technician"


def test_blank_owner_knows_only_counted_blanks(journal):
    downloaded(journal, "a", 1)
    downloaded(journal, "b", 2)
    journal.record_intent("a", cards_before=0)
    journal.finish("a", JobState.SPOILED, STATION, reason="insert-failed")
    journal.record_intent("b", cards_before=1)
    assert journal.blank_owner(1) == "a"
    assert journal.blank_owner(2) is None  # b's intent is recorded, its blank not yet seen


def _as_schema_5(path):
    """Take a journal made by this code back to schema 5: no random mark, no counters."""
    db = sqlite3.connect(path)
    db.executescript("""DROP INDEX jobs_blank_counter; ALTER TABLE jobs DROP COLUMN blank_counter;
        ALTER TABLE jobs DROP COLUMN blank_uid_random; UPDATE meta SET value='5' WHERE key='schema_version';""")
    for job_id, body in db.execute("SELECT job_id, body FROM outbox").fetchall():
        old = {k: v for k, v in json.loads(body).items() if k != "blank_counter"}
        if old["blank_serial"] is None and job_id == "random":
            old["blank_serial"] = RANDOM_UID  # schema 5 sent the random UID it saw
        db.execute("UPDATE outbox SET body=? WHERE job_id=?", (json.dumps(old, sort_keys=True), job_id))
    db.commit()
    db.close()


def test_schema_5_journal_marks_random_uids_and_gives_unsent_reports_their_counter(tmp_path):
    path = tmp_path / "journal.sqlite3"
    journal = Journal(path)
    for n, (job_id, uid) in enumerate([("sent", FIXED_UID), ("random", RANDOM_UID), ("fixed", FIXED_UID)]):
        downloaded(journal, job_id, seq=n + 1)
        journal.record_intent(job_id, cards_before=n)
        journal.record_blank(job_id, uid, uid_is_random=uid == RANDOM_UID)
        journal.finish(job_id, JobState.PRINTED, STATION)
    journal.mark_reported("sent")
    downloaded(journal, "doubt", seq=4)
    journal.record_intent("doubt", cards_before=3)
    journal.mark_in_doubt("doubt", "card left the printer")
    downloaded(journal, "waiting", seq=5)
    journal.close()
    _as_schema_5(path)

    journal = Journal(path)
    try:
        assert journal._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0] \
            == str(SCHEMA_VERSION)
        assert [journal.get(j).blank_counter for j in ("sent", "random", "fixed", "doubt", "waiting")] \
            == [1, 2, 3, 4, None]
        assert journal.get("random").blank_uid_random and not journal.get("fixed").blank_uid_random
        pending = {r.job_id: r.body for r in journal.pending_reports()}
        assert set(pending) == {"random", "fixed"}
        # The counter is added; the UID stays as a server may already hold it (a repeat, not a contradiction).
        assert pending["random"]["blank_counter"] == 2 and pending["random"]["blank_serial"] == RANDOM_UID
        assert pending["fixed"]["blank_counter"] == 3
        assert journal.blank_owner(4) == "doubt"
    finally:
        journal.close()


def test_the_technician_sees_an_in_doubt_blank_by_its_counter_and_resolves_it(tmp_path, capsys):
    from agent.cli import main

    config = write_station_config(tmp_path, state_dir=tmp_path / "state")
    journal = Journal(tmp_path / "state" / "journal.sqlite3")
    downloaded(journal, "doubt")
    journal.record_intent("doubt", cards_before=10, panels_before=50)
    journal.record_blank("doubt", RANDOM_UID, uid_is_random=True)
    journal.mark_in_doubt("doubt", "card left the printer; outcome unknown")
    journal.close()

    assert main(["jobs", "list", "--state", "in-doubt", "--config", str(config), "--lang", "en"]) == 0
    listed = capsys.readouterr().out
    assert f"blank=11  uid={RANDOM_UID} (random)" in listed
    assert main(["jobs", "resolve", "doubt", "spoiled", "--config", str(config), "--lang", "en"]) == 0
    assert "recorded as spoiled (blank: card no. 11 by the printer's counter)" in capsys.readouterr().out
    journal = Journal(tmp_path / "state" / "journal.sqlite3")
    try:
        [report] = journal.pending_reports()
        assert report.body["blank_counter"] == 11 and report.body["blank_serial"] is None
    finally:
        journal.close()
