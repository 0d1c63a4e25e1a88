import sqlite3

import pytest

from agent.errors import JournalError
from agent.journal import JobState, Journal

STATION = "3319-05"
#: Takes a journal made by this code back to what schema 5 had.
UNDO_SCHEMA_6 = """DROP INDEX jobs_blank_counter; ALTER TABLE jobs DROP COLUMN blank_counter;
    ALTER TABLE jobs DROP COLUMN blank_uid_random;"""


@pytest.fixture
def journal(tmp_path):
    j = Journal(tmp_path / "journal.sqlite3")
    yield j
    j.close()


def received(journal, job_id="j1", seq=1):
    journal.receive(job_id, b"{}", b"sig")
    journal.mark_verified(job_id, seq, 100, "ab" * 32, "2030-01-01T00:00:00+00:00")
    journal.mark_downloaded(job_id)


def test_journal_runs_in_wal_with_full_sync(journal):
    mode = journal._db.execute("PRAGMA journal_mode").fetchone()[0]
    sync = journal._db.execute("PRAGMA synchronous").fetchone()[0]
    assert mode == "wal" and sync == 2  # FULL
    assert journal.integrity_ok()


def test_happy_path_walks_every_state_and_queues_one_report(journal):
    received(journal)
    journal.record_intent("j1", cards_before=41)
    journal.record_blank("j1", "04a1b2c3d4e5f6")
    body = journal.finish("j1", JobState.PRINTED, STATION)
    assert body["status"] == "printed" and body["blank_serial"] == "04a1b2c3d4e5f6"
    assert body["attempts"] == 1 and body["station_id"] == STATION
    assert [r.job_id for r in journal.pending_reports()] == ["j1"]
    journal.mark_reported("j1")
    assert journal.pending_reports() == []
    record = journal.get("j1")
    assert record.state is JobState.REPORTED and record.outcome == "printed"
    assert record.cards_before == 41


def test_transition_out_of_order_is_refused(journal):
    journal.receive("j1", b"{}", b"sig")
    with pytest.raises(JournalError, match="is received, expected"):
        journal.record_intent("j1", cards_before=0)
    with pytest.raises(JournalError, match="not in the journal"):
        journal.mark_downloaded("nope")


def test_a_job_cannot_finish_twice(journal):
    received(journal)
    journal.record_intent("j1", 0)
    journal.finish("j1", JobState.SPOILED, STATION, reason="media-jam")
    with pytest.raises(JournalError):
        journal.finish("j1", JobState.PRINTED, STATION)
    assert len(journal.pending_reports()) == 1


def test_seq_is_held_by_one_verified_job(journal):
    received(journal, "j1", seq=7)
    assert journal.seq_holder(7) == "j1"
    journal.receive("j2", b"{}", b"sig")
    with pytest.raises(sqlite3.IntegrityError):
        journal.mark_verified("j2", 7, 1, "00" * 32, "2030-01-01T00:00:00+00:00")
    assert journal.get("j2").state is JobState.RECEIVED


def test_released_intent_prints_again_and_counts_attempts(journal):
    received(journal)
    journal.record_intent("j1", 5)
    journal.release_intent("j1")
    assert journal.get("j1").state is JobState.DOWNLOADED
    journal.record_intent("j1", 5)
    assert journal.get("j1").attempts == 2


def test_state_cursor_and_outbox_survive_reopen(tmp_path):
    path = tmp_path / "journal.sqlite3"
    j = Journal(path)
    received(j)
    j.set_cursor("c-17")
    j.record_intent("j1", 3)
    j.finish("j1", JobState.PRINTED, STATION)
    j.close()
    again = Journal(path)
    assert again.cursor() == "c-17"
    assert again.get("j1").state is JobState.PRINTED
    assert [r.job_id for r in again.pending_reports()] == ["j1"]
    assert again.outcome_counts()["printed"] == 1
    again.close()


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "journal.sqlite3"
    Journal(path).close()
    db = sqlite3.connect(path)
    db.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    db.commit()
    db.close()
    with pytest.raises(JournalError, match="newer than this agent"):
        Journal(path)


def test_journal_holds_no_personal_columns(journal):
    columns = {row[1] for row in journal._db.execute("PRAGMA table_info(jobs)")}
    assert not columns & {"nik", "nama", "alamat", "photo", "card"}


def test_blank_stock_is_loaded_minus_consumed_and_forecasts_days(tmp_path):
    clock = [1_000_000.0]
    journal = Journal(tmp_path / "j.sqlite3", clock=lambda: clock[0])
    assert journal.blank_stock() == (None, 0.0)
    journal.load_blanks(100, "delivery 17")
    for n in range(7):
        job = f"j{n}"
        received(journal, job, seq=n)
        journal.record_intent(job, cards_before=n)
        journal.finish(job, JobState.PRINTED if n else JobState.SPOILED, STATION)
        clock[0] += 3600
    received(journal, "r", seq=99)
    journal.finish("r", JobState.REJECTED, STATION)  # rejected before a blank moved
    left, per_day = journal.blank_stock()
    assert left == 93
    assert per_day == pytest.approx(1.0)
    journal.close()


def _consume(journal, job, seq, outcome=JobState.PRINTED):
    received(journal, job, seq=seq)
    journal.record_intent(job, cards_before=seq)
    journal.finish(job, outcome, STATION)


def test_blank_stock_counts_only_blanks_consumed_after_the_first_load(tmp_path):
    journal = Journal(tmp_path / "j.sqlite3")
    _consume(journal, "before", 1)
    journal.load_blanks(10)
    _consume(journal, "after", 2, JobState.SPOILED)
    received(journal, "doubt", seq=3)
    journal.record_intent("doubt", cards_before=3)
    journal.mark_in_doubt("doubt", "card left the printer")
    assert journal.blank_stock()[0] == 9
    journal.resolve_in_doubt("doubt", JobState.PRINTED, STATION)
    assert journal.blank_stock()[0] == 8
    journal.close()


def test_schema_4_journal_gets_its_consumed_tally_from_its_history(tmp_path):
    path = tmp_path / "j.sqlite3"
    journal = Journal(path, clock=lambda: 1_000_000.0)
    _consume(journal, "before", 1)
    journal.close()
    db = sqlite3.connect(path)  # back to schema 4: no tally, and the ledger with history
    db.executescript(f"""DROP TRIGGER tally_consumed; DROP TABLE tallies; {UNDO_SCHEMA_6}
        UPDATE meta SET value='4' WHERE key='schema_version';
        INSERT INTO stock (at, blanks) VALUES (1000000.0, 50);
        UPDATE jobs SET finished_at='1970-01-12T13:46:40Z';""")  # finished at the load's second
    db.execute("INSERT INTO jobs (job_id, state, outcome, manifest, signature, cards_before, received_at,"
               " updated_at, finished_at) VALUES ('older', 'reported', 'printed', x'7b7d', x'00', 0, 1, 1,"
               " '1970-01-01T00:00:01Z')")
    db.commit()
    db.close()
    journal = Journal(path, clock=lambda: 1_000_000.0)
    assert journal.blank_stock()[0] == 49
    _consume(journal, "new", 2)
    assert journal.blank_stock()[0] == 48
    journal.close()


def test_spool_size_ignores_a_payload_deleted_while_counting(tmp_path, monkeypatch):
    from pathlib import Path

    from agent.jobs.spool import Spool

    spool = Spool(tmp_path)
    (tmp_path / "a.payload").write_bytes(b"x" * 10)
    (tmp_path / "b.payload").write_bytes(b"y" * 5)
    real_glob = Path.glob

    def glob_then_delete(self, pattern):
        found = list(real_glob(self, pattern))
        (tmp_path / "a.payload").unlink()  # the reporter removes one meanwhile
        return found

    monkeypatch.setattr(Path, "glob", glob_then_delete)
    assert spool.bytes_held() == 5


def test_state_counts_kept_by_triggers_match_the_rows(journal):
    for n in range(5):
        received(journal, f"j{n}", seq=n)
    journal.record_intent("j0", 0)
    journal.finish("j0", JobState.PRINTED, STATION)
    journal.mark_reported("j0")
    journal.record_intent("j1", 1)
    journal.release_intent("j1")
    journal.receive("r", b"{}", b"s")
    counted = journal.counts_by_state()
    actual = dict(journal._db.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state").fetchall())
    assert {s.value: n for s, n in counted.items() if n} == actual
    assert counted[JobState.DOWNLOADED] == 4 and counted[JobState.REPORTED] == 1


def test_gauges_follow_commits_from_this_writer_and_from_another_process(tmp_path):
    clock = [1_000_000.0]
    journal = Journal(tmp_path / "j.sqlite3", clock=lambda: clock[0])
    first = journal.gauges()
    assert journal.gauges() is first  # nothing committed: the same reading
    received(journal, "a", seq=1)
    assert journal.gauges().counts[JobState.DOWNLOADED] == 1
    technician = Journal(tmp_path / "j.sqlite3", clock=lambda: clock[0])  # e.g. `ktp-agent blanks load`
    technician.load_blanks(25)
    technician.close()
    assert journal.blank_stock() == (25, 0.0)
    journal.close()


def test_stock_forecast_is_read_anew_as_time_passes_without_commits(tmp_path):
    clock = [1_000_000.0]
    journal = Journal(tmp_path / "j.sqlite3", clock=lambda: clock[0])
    journal.load_blanks(10)
    _consume(journal, "a", 1)
    assert journal.blank_stock() == (9, pytest.approx(1 / 7))
    clock[0] += 8 * 86400  # a week and a day with nothing printed
    assert journal.blank_stock() == (9, 0.0)
    journal.close()


def test_a_schema_6_journal_gains_the_fault_history_and_keeps_its_jobs(tmp_path):
    """The file was written by the code of schema 6 (tests/agent/data/journal-v6.sqlite3)."""
    import shutil
    from pathlib import Path

    path = tmp_path / "journal.sqlite3"
    shutil.copy(Path(__file__).parent / "data" / "journal-v6.sqlite3", path)
    before = sqlite3.connect(path)
    assert before.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() == ("6",)
    assert not before.execute("SELECT 1 FROM sqlite_master WHERE name='faults'").fetchone()
    before.close()
    journal = Journal(path)
    try:
        assert journal._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() == ("7",)
        assert {r.job_id: r.state for r in journal.jobs_in(*JobState)} == {
            "job-printed": JobState.REPORTED, "job-jammed": JobState.SPOILED,
            "job-waiting": JobState.DOWNLOADED, "job-received": JobState.RECEIVED}
        assert journal.blank_stock()[0] == 98
        assert [r.job_id for r in journal.pending_reports()] == ["job-jammed"]
        assert journal.faults.start(10.0, "printer", "cover-open", "error", "printer") is not None
        assert journal.faults.start(10.5, "printer", "cover-open", "error", "printer") is None  # same second
        assert [e.keyword for e in journal.faults.recent()] == ["cover-open"]
        assert journal.integrity_ok()
    finally:
        journal.close()
