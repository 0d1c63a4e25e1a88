"""Working without the network: job bundles in from a removable medium, result receipts out.

Public names: ``BundleImporter`` and ``ImportSummary`` (a bundle through the
station's own intake), ``write_receipts`` (the queued reports as a
``.ktpresults`` file), ``OfflineWorker`` (the daemon's imports and watched
mount folder), ``OfflineRecord`` (the last import and receipts, kept in the
state folder), ``OfflineStatus`` with ``LastImport`` (the offline part of the
station's status; ``offline_at_rest`` with the daemon down) and
``offline_lines`` (its text).
"""
from __future__ import annotations

from .bundle import BundleError, BundleReader, MediumGoneError
from .importer import BundleImporter, ImportSummary, bundle_files
from .receipts import receipts_bytes, write_receipts
from .record import OfflineRecord, read_record
from .status import ImportProgress, LastImport, LastReceipts, OfflineStatus, offline_at_rest
from .texts import import_trouble_lines, offline_lines
from .watcher import OfflineWorker

__all__ = ["BundleError", "BundleImporter", "BundleReader", "ImportProgress", "ImportSummary", "LastImport",
           "LastReceipts", "MediumGoneError", "OfflineRecord", "OfflineStatus", "OfflineWorker", "bundle_files",
           "import_trouble_lines", "offline_at_rest", "offline_lines", "read_record", "receipts_bytes",
           "write_receipts"]
