"""Working without the network: job bundles in from a removable medium, result receipts out.

Public names: ``BundleImporter`` and ``ImportSummary`` (a bundle through the
station's own intake), ``write_receipts`` (the queued reports as a
``.ktpresults`` file), ``OfflineWorker`` (the daemon's imports and watched
mount folder), ``add_offline_commands`` (the CLI), ``offline_lines`` (status
text) and ``read_record`` (the last import and receipts, daemon down).
"""
from __future__ import annotations

from .bundle import BundleError, BundleReader, MediumGoneError
from .commands import add_offline_commands
from .importer import BundleImporter, ImportSummary
from .receipts import receipts_bytes, write_receipts
from .record import read_record
from .texts import offline_lines
from .watcher import OfflineWorker

__all__ = ["BundleError", "BundleImporter", "BundleReader", "ImportSummary", "MediumGoneError", "OfflineWorker",
           "add_offline_commands", "offline_lines", "read_record", "receipts_bytes", "write_receipts"]
