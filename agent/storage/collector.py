"""The storage metrics, read from the station's ``StorageState`` at scrape time."""
from __future__ import annotations

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from .state import STORAGE_KINDS, StorageState

KINDS = tuple(sorted(kind.value for kind in STORAGE_KINDS))


class StorageCollector(Collector):
    def __init__(self, storage: StorageState) -> None:
        self._storage = storage

    def collect(self):
        status = self._storage.status()
        fault = GaugeMetricFamily("ktp_storage_fault", "1 while the station holds because its state folder "
                                  "cannot be written, by kind (no-space, read-only, permission-denied)",
                                  labels=["kind"])
        for kind in KINDS:
            fault.add_metric([kind], int(status is not None and status.fault.kind.value == kind))
        yield fault
        free = self._storage.free_bytes()
        if free is not None:
            yield GaugeMetricFamily("ktp_state_free_bytes", "Free space in the state folder's file system "
                                    "(for the station's user)", value=free)
        yield GaugeMetricFamily("ktp_state_min_free_bytes", "Free space under which the station takes no new "
                                "blank and starts no download", value=self._storage.min_free_bytes)
        yield GaugeMetricFamily("ktp_storage_fault_since_timestamp_seconds", "Unix time the current storage "
                                "hold began (0 when none)", value=status.since if status is not None else 0)
