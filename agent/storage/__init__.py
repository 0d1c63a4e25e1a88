"""The state folder's storage as a state: a write that fails for lack of space, a read-only file system
or a lost permission holds the station (no new blank, download, poll or report) until a probe can write
again, instead of ending a worker.

Public names: ``StorageState`` (the owner, a ``BlankGate`` for the print worker, with its probe thread),
``StorageStatus`` (the hold as the station's status shows it), ``StorageCollector`` (its metrics) and
``STORAGE_KINDS``.
"""
from .collector import StorageCollector
from .state import HOLD_REST_S, MIN_FREE_BYTES, STORAGE_KINDS, StorageState, StorageStatus

__all__ = ["HOLD_REST_S", "MIN_FREE_BYTES", "STORAGE_KINDS", "StorageCollector", "StorageState", "StorageStatus"]
