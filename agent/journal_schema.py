"""The journal's SQLite schema, its migrations, and the triggers that keep its tallies.

The schema is created with IF NOT EXISTS, so a new journal and a migrated
one end up the same. MIGRATIONS[n] takes a journal from schema n to n + 1.
"""
from __future__ import annotations

import sqlite3
from pathlib import Path

from .errors import JournalError
from .journal_faults import FAULTS_INDEX, FAULTS_TABLE

SCHEMA_VERSION = 7

_STOCK = """CREATE TABLE IF NOT EXISTS stock (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    blanks INTEGER NOT NULL,     -- blanks loaded into the feeder (a count from the delivery note)
    note TEXT
)"""

_OUTBOX = """CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id TEXT NOT NULL UNIQUE,
    body TEXT NOT NULL,          -- the report as JSON, exactly as sent
    created_at REAL NOT NULL,
    sent_at REAL,
    tries INTEGER NOT NULL DEFAULT 0
)"""

SCHEMA = _STOCK + ";\n" + _OUTBOX + """;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY,
    seq INTEGER,                 -- set once the signature verified, NULL before
    state TEXT NOT NULL,
    outcome TEXT,
    manifest BLOB NOT NULL,
    signature BLOB NOT NULL,
    payload_size INTEGER,
    payload_sha256 TEXT,
    expires_at TEXT,
    cards_before INTEGER,        -- printer card counter recorded with the intent
    panels_before INTEGER,       -- printer panel counter recorded with the intent (schema 2)
    blank_serial TEXT,           -- the chip UID as it answered (a random one too)
    blank_uid_random INTEGER NOT NULL DEFAULT 0,  -- 1: that UID was random, it names no chip (schema 6)
    blank_counter INTEGER,       -- printer card counter of this job's blank, once it moved (schema 6)
    attempts INTEGER NOT NULL DEFAULT 0,
    reason TEXT,
    received_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    finished_at TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS jobs_seq ON jobs(seq) WHERE seq IS NOT NULL;
CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state, seq);
CREATE TABLE IF NOT EXISTS state_counts (state TEXT PRIMARY KEY, n INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox(id) WHERE sent_at IS NULL;
CREATE TABLE IF NOT EXISTS tallies (name TEXT PRIMARY KEY, n INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS jobs_consumed ON jobs(finished_at)
    WHERE outcome IN ('printed', 'spoiled') AND cards_before IS NOT NULL;
CREATE INDEX IF NOT EXISTS jobs_blank_counter ON jobs(blank_counter) WHERE blank_counter IS NOT NULL;
""" + FAULTS_TABLE + ";\n" + FAULTS_INDEX + ";\n"

#: A blank is consumed when its job ends printed or spoiled after a blank was
#: counted for it (cards_before); the ledger counts those since stock was first loaded.
CONSUMED = "outcome IN ('printed', 'spoiled') AND cards_before IS NOT NULL"

#: MIGRATIONS[n] takes a journal from schema n to n + 1, inside one transaction.
MIGRATIONS: dict[int, tuple[str, ...]] = {
    0: (),
    1: ("ALTER TABLE jobs ADD COLUMN panels_before INTEGER",),
    2: (_STOCK,),
    3: ("CREATE TABLE IF NOT EXISTS state_counts (state TEXT PRIMARY KEY, n INTEGER NOT NULL)",
        "INSERT INTO state_counts SELECT state, COUNT(*) FROM jobs GROUP BY state"),
    4: ("CREATE TABLE IF NOT EXISTS tallies (name TEXT PRIMARY KEY, n INTEGER NOT NULL)",
        "INSERT INTO tallies SELECT 'blanks_consumed', COUNT(*) FROM jobs WHERE outcome IN ('printed', 'spoiled')"
        " AND cards_before IS NOT NULL AND EXISTS (SELECT 1 FROM stock)"
        " AND finished_at >= strftime('%Y-%m-%dT%H:%M:%SZ', (SELECT MIN(at) FROM stock), 'unixepoch')"),
    # Random UIDs are marked; every consumed (or in-doubt) blank gets its counter, the blank
    # after cards_before; reports not yet sent carry it (a server that holds one already
    # takes the same report with the counter added as a repeat).
    5: ("ALTER TABLE jobs ADD COLUMN blank_uid_random INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE jobs ADD COLUMN blank_counter INTEGER",
        _OUTBOX,
        "UPDATE jobs SET blank_uid_random = 1"
        " WHERE length(blank_serial) = 8 AND lower(substr(blank_serial, 1, 2)) = '08'",
        "UPDATE jobs SET blank_counter = cards_before + 1"
        " WHERE cards_before IS NOT NULL AND (outcome IN ('printed', 'spoiled') OR state = 'in-doubt')",
        "UPDATE outbox SET body = json_set(body, '$.blank_counter',"
        " (SELECT blank_counter FROM jobs WHERE jobs.job_id = outbox.job_id))"
        " WHERE sent_at IS NULL AND (SELECT blank_counter FROM jobs WHERE jobs.job_id = outbox.job_id) IS NOT NULL"),
    # The fault history: one row per episode, kept across restarts (it lived in memory before).
    6: (FAULTS_TABLE, FAULTS_INDEX),
}

#: Jobs per state, kept by triggers in the same transaction as each change, so that
#: reading the queue costs the same with 100 jobs as with 100,000.
COUNT_TRIGGERS = (
    """CREATE TRIGGER IF NOT EXISTS count_insert AFTER INSERT ON jobs BEGIN
        INSERT INTO state_counts VALUES (NEW.state, 1)
            ON CONFLICT(state) DO UPDATE SET n = n + 1; END""",
    """CREATE TRIGGER IF NOT EXISTS count_update AFTER UPDATE OF state ON jobs
        WHEN OLD.state IS NOT NEW.state BEGIN
        UPDATE state_counts SET n = n - 1 WHERE state = OLD.state;
        INSERT INTO state_counts VALUES (NEW.state, 1)
            ON CONFLICT(state) DO UPDATE SET n = n + 1; END""",
    """CREATE TRIGGER IF NOT EXISTS count_delete AFTER DELETE ON jobs BEGIN
        UPDATE state_counts SET n = n - 1 WHERE state = OLD.state; END""",
    # Blanks consumed since stock was first loaded, so the stock gauges cost
    # the same after a year of cards as after a day.
    """CREATE TRIGGER IF NOT EXISTS tally_consumed AFTER UPDATE OF outcome ON jobs
        WHEN NEW.outcome IN ('printed', 'spoiled') AND NEW.cards_before IS NOT NULL
         AND (OLD.outcome IS NULL OR OLD.outcome NOT IN ('printed', 'spoiled'))
         AND EXISTS (SELECT 1 FROM stock) BEGIN
        INSERT INTO tallies VALUES ('blanks_consumed', 1)
            ON CONFLICT(name) DO UPDATE SET n = n + 1; END""",
)


def upgrade(db: sqlite3.Connection, path: Path) -> None:
    """Bring the journal at ``path`` to ``SCHEMA_VERSION`` inside the caller's transaction: the steps of
    ``MIGRATIONS`` from its version on, then the tables, indexes and triggers that are missing. A journal
    from a newer agent is refused (``JournalError``), never changed."""
    row = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
    version = int(row[0]) if row else 0
    if version > SCHEMA_VERSION:
        raise JournalError(f"{path}: journal schema {version} is newer than this agent ({SCHEMA_VERSION})")
    if db.execute("SELECT 1 FROM sqlite_master WHERE name='jobs'").fetchone():
        for step in range(version, SCHEMA_VERSION):
            for statement in MIGRATIONS[step]:
                db.execute(statement)
    for statement in SCHEMA.split(";"):
        if statement.strip():
            db.execute(statement)
    for trigger in COUNT_TRIGGERS:
        db.execute(trigger)
    db.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
