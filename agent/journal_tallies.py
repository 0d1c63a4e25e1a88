"""Named counters in the journal's ``tallies`` table that belong to no job: the link's bytes of a
quota month (``link_bytes:<first day>``), kept across restarts.

A family is a name prefix: adding to one name of a family drops its other names, so a new
month's counter replaces the last month's in the same transaction.
"""
from __future__ import annotations

import sqlite3
from contextlib import AbstractContextManager
from typing import Callable

Transaction = Callable[[], AbstractContextManager[sqlite3.Connection]]


class NamedTallies:
    """Reads through the journal's read connection, writes in its own transactions."""

    def __init__(self, transaction: Transaction, reading: Transaction) -> None:
        self._tx, self._reading = transaction, reading

    def get(self, name: str) -> int:
        with self._reading() as db:
            row = db.execute("SELECT n FROM tallies WHERE name=?", (name,)).fetchone()
        return row[0] if row else 0

    def add(self, name: str, n: int, family: str) -> None:
        """Add ``n`` to tally ``name``; the other tallies of its ``family`` (a name prefix) are dropped."""
        with self._tx() as db:
            db.execute("DELETE FROM tallies WHERE substr(name, 1, ?) = ? AND name != ?",
                       (len(family), family, name))
            db.execute("INSERT INTO tallies VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET n = n + excluded.n",
                       (name, n))
