"""The station's Prometheus metrics: one private registry, bounded labels.

Counters and histograms are updated by the workers; values owned elsewhere
(the journal's counts, the print worker's printer state, the link's tally of
bytes and contact) are read from their owner at scrape time by collectors.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any, Callable, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, disable_created_metrics
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from drivers.errors import StateReason
from drivers.interfaces import PrinterStatus

from .. import __version__
from ..journal import JournalGauges

STAGES = ("poll", "download", "verify", "decrypt", "render", "print", "report")
CARD_RESULTS = ("printed", "spoiled")
#: Kinds of bytes over the link: a payload's own, requests and headers, and bytes fetched for nothing.
LINK_KINDS = ("payload", "overhead", "wasted")
#: Directions of the bytes on the link's sockets.
WIRE_DIRECTIONS = ("sent", "received")
#: Reject reasons are a closed set; anything else is counted as "other".
REJECT_REASONS = ("bad-signature", "bad-version", "wrong-station", "expired", "replay",
                  "bad-payload", "bad-card-data", "bad-manifest", "other")

# No ``*_created`` companion series: Prometheus does not use them from the text
# format, and they are an eighth of the exposition's cost on every scrape.
disable_created_metrics()

#: What the printer's owner last saw: (online, active reasons, last status or None).
PrinterReading = tuple[bool, tuple[StateReason, ...], PrinterStatus | None]

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 180, 600, 1800)


class _JournalCollector(Collector):
    def __init__(self, gauges: Callable[[], JournalGauges]) -> None:
        self._gauges = gauges

    def collect(self):
        gauges = self._gauges()
        jobs = GaugeMetricFamily("ktp_jobs", "Jobs in the journal, by state", labels=["state"])
        for state, n in gauges.counts.items():
            jobs.add_metric([state.value], n)
        yield jobs
        yield GaugeMetricFamily("ktp_reports_queued", "Result reports waiting to be sent",
                                value=gauges.outbox)
        left, per_day = gauges.blanks_left, gauges.blanks_per_day
        if left is not None:
            yield GaugeMetricFamily("ktp_blanks_remaining",
                                    "Blanks loaded minus blanks consumed since stock was first counted",
                                    value=left)
            days = left / per_day if per_day > 0 else float("inf")
            yield GaugeMetricFamily("ktp_blanks_days_left",
                                    "Days of blank stock left at the last 7 days' rate", value=max(days, 0.0))


class _PrinterCollector(Collector):
    def __init__(self, read: Callable[[], PrinterReading]) -> None:
        self._read = read

    def collect(self):
        online, reasons, status = self._read()
        yield GaugeMetricFamily("ktp_printer_online", "1 when the printer answers", value=int(online))
        if status is not None:
            yield CounterMetricFamily("ktp_printer_cards_inserted", "The printer's own count of cards taken from "
                                      "the feeder (non-volatile)", value=status.cards_inserted)
            yield CounterMetricFamily("ktp_printer_panels_printed", "The printer's own count of ribbon panels "
                                      "printed", value=status.panels_printed)
            if status.ribbon_remaining is not None:
                yield GaugeMetricFamily("ktp_ribbon_prints_remaining", "Prints left on the ribbon",
                                        value=status.ribbon_remaining)
            if status.cards_since_cleaning is not None:
                yield GaugeMetricFamily("ktp_printer_cards_since_cleaning", "Cards the printer has printed "
                                        "since its print head was last cleaned", value=status.cards_since_cleaning)
        active = GaugeMetricFamily("ktp_printer_state_reason",
                                   "Active PWG printer-state-reasons (1 per active reason)",
                                   labels=["reason", "severity"])
        for reason in reasons:
            active.add_metric([reason.keyword, reason.severity.value], 1)
        yield active


class LinkThroughput:
    """Bytes per second over the most recent payload transfers (a sliding window)."""

    def __init__(self, window: int = 20) -> None:
        self._lock = threading.Lock()
        self._recent: deque[tuple[int, float]] = deque(maxlen=window)

    def observe(self, nbytes: int, seconds: float) -> float:
        with self._lock:
            self._recent.append((nbytes, max(seconds, 1e-6)))
            return sum(b for b, _ in self._recent) / sum(s for _, s in self._recent)


class _LinkCollector(Collector):
    def __init__(self, bytes_by_kind: Callable[[], Mapping[str, int]],
                 last_contact: Callable[[], float | None], clock: Callable[[], float]) -> None:
        self._bytes, self._last_contact, self._clock = bytes_by_kind, last_contact, clock

    def collect(self):
        moved = CounterMetricFamily("ktp_link_bytes", "Bytes over the link by kind: payload bodies received, "
                                    "payload bytes thrown away (wasted), and everything else both ways "
                                    "(overhead)", labels=["kind"])
        for kind, n in self._bytes().items():
            moved.add_metric([kind], n)
        yield moved
        last = self._last_contact()
        yield GaugeMetricFamily("ktp_link_last_contact_timestamp_seconds",
                                "Unix time of the last successful exchange with the job server", value=last or 0)
        age = GaugeMetricFamily("ktp_link_last_contact_age_seconds",
                                "Seconds since the last successful exchange with the job server"
                                " (absent before the first)")
        if last:
            age.add_metric([], max(0.0, self._clock() - last))
        yield age


class _QuotaCollector(Collector):
    """The link's socket byte count and the quota month, read at scrape time."""

    def __init__(self, wire_bytes: Callable[[], Any], quota: Callable[[], Any]) -> None:
        self._wire, self._quota = wire_bytes, quota

    def collect(self):
        wire = self._wire()
        moved = CounterMetricFamily("ktp_link_wire_bytes", "Bytes on the link's sockets to the job server "
                                    "(HTTP and TLS included, TCP/IP headers not), by direction",
                                    labels=["direction"])
        for direction in WIRE_DIRECTIONS:
            moved.add_metric([direction], getattr(wire, direction))
        yield moved
        reading = self._quota()
        yield GaugeMetricFamily("ktp_link_quota_bytes", "The link's monthly quota in bytes (0: unmetered)",
                                value=reading.quota_bytes)
        yield GaugeMetricFamily("ktp_link_quota_used_bytes", "Bytes on the link this quota month, both "
                                "directions", value=reading.used_bytes)
        left = GaugeMetricFamily("ktp_link_quota_left_bytes", "Bytes left of this month's quota "
                                 "(absent when unmetered)")
        if reading.quota_bytes:
            left.add_metric([], reading.left_bytes)
        yield left


class StationMetrics:
    """Every metric the station exports, in its own registry."""

    def __init__(self, station_id: str) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.info = Info("ktp_station", "Station identity", registry=r)
        self.info.info({"station_id": station_id, "version": __version__})
        self.cards = Counter("ktp_cards", "Cards finished, by result", ["result"], registry=r)
        self.random_uid_blanks = Counter("ktp_random_uid_blanks", "Blanks consumed whose chip answered a random "
                                         "UID (accounted by the printer's card counter)", registry=r)
        self.rejected = Counter("ktp_jobs_rejected", "Jobs rejected, by reason", ["reason"], registry=r)
        self.stage_seconds = Histogram("ktp_stage_duration_seconds", "Time spent per pipeline stage",
                                       ["stage"], buckets=_LATENCY_BUCKETS, registry=r)
        self.job_seconds = Histogram("ktp_job_duration_seconds",
                                     "From receipt of a job to its card leaving the printer",
                                     buckets=_LATENCY_BUCKETS, registry=r)
        self.link_errors = Counter("ktp_link_errors", "Failed exchanges with the job server", registry=r)
        self.resumes = Counter("ktp_payload_resumes", "Payload downloads resumed from a partial file",
                               registry=r)
        self.printer_faults = Counter("ktp_printer_faults", "Printer faults seen, by PWG reason",
                                      ["reason"], registry=r)
        self.link_retries = Counter("ktp_link_retries",
                                    "Exchanges tried again after a failure or a broken transfer", registry=r)
        self.payload_stalls = Counter("ktp_payload_stalls",
                                      "Download attempts ended because no byte came for stall_seconds",
                                      registry=r)
        self.payload_corrupt = Counter("ktp_payload_corrupt_fetches",
                                       "Whole payloads discarded because SHA-256 or size did not match",
                                       registry=r)
        self.link_throughput = Gauge("ktp_link_throughput_bytes_per_second",
                                     "Payload bytes per second over the recent transfers", registry=r)
        self._throughput = LinkThroughput()
        for result in CARD_RESULTS:
            self.cards.labels(result)
        for stage in STAGES:
            self.stage_seconds.labels(stage)

    def watch_journal(self, gauges: Callable[[], JournalGauges]) -> None:
        self.registry.register(_JournalCollector(gauges))

    def watch_printer(self, read: Callable[[], PrinterReading]) -> None:
        """``read()``: the printer's owner's last (online, reasons, status), asked at each scrape."""
        self.registry.register(_PrinterCollector(read))

    def watch_link(self, bytes_by_kind: Callable[[], Mapping[str, int]],
                   last_contact: Callable[[], float | None]) -> None:
        """The link's own tally of bytes by kind and of its last contact, asked at each scrape."""
        self.registry.register(_LinkCollector(bytes_by_kind, last_contact, time.time))

    def watch_quota(self, wire_bytes: Callable[[], Any], quota: Callable[[], Any]) -> None:
        """``wire_bytes()``: the link's (sent, received) socket count; ``quota()``: the quota month's
        reading (quota_bytes, used_bytes, left_bytes), both asked at each scrape."""
        self.registry.register(_QuotaCollector(wire_bytes, quota))

    def mean_stage_seconds(self, stage: str) -> float | None:
        """The mean time of ``stage`` so far (None before the first)."""
        found = {s.name: s.value for m in self.stage_seconds.collect() for s in m.samples
                 if s.labels.get("stage") == stage and s.name.endswith(("_sum", "_count"))}
        count = found.get("ktp_stage_duration_seconds_count", 0)
        return found["ktp_stage_duration_seconds_sum"] / count if count else None

    def observe_transfer(self, nbytes: int, seconds: float) -> None:
        """One download attempt moved ``nbytes`` of payload in ``seconds``."""
        self.link_throughput.set(self._throughput.observe(nbytes, seconds))

    def count_rejection(self, reason: str) -> None:
        self.rejected.labels(reason if reason in REJECT_REASONS else "other").inc()
