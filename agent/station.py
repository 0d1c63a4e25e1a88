"""The station: journal, link, workers and metrics wired together.

Workers talk through the journal and wake-ups: the fetcher (poll and
download ahead, ``transfer.parallel_downloads`` threads), the card preparer
(decrypt, check and render the next cards), the print worker (the only owner
of the devices), the reporter (drains the outbox) and the offline desk
(bundles in from removable media, receipts out).
"""
from __future__ import annotations

import socket
import threading
from datetime import datetime, timezone
from typing import Callable

import structlog

from drivers.interfaces import Printer, Reader

from .config import AtQuota, Config
from .crashpoints import CrashPoints
from .jobs import Fetcher, Intake, LinkQuota, LinkTally, ManifestVerifier, Reporter, ServerAccess, Spool
from .journal import JobState
from .journal_guard import open_checked
from .keys import load_signing_key, load_station_key, load_token
from .observe import MetricsServer, StationMetrics, load_basic_auth, server_tls_context
from .offline import BundleImporter, OfflineWorker
from .os_faults import OsFault, OsFaultError, classify
from .power import PowerCollector, PowerMonitor, open_power, power_view
from .printing import PrintWorker
from .storage import StorageCollector, StorageState
from .technician import (ControlServer, StationStatus, control_handlers, gather, printer_view, quota_view,
                         render_status_page, socket_path)

log = structlog.get_logger("ktp.station")


class Station:
    def __init__(self, config: Config, access: ServerAccess,
                 open_printer: Callable[[], Printer], open_reader: Callable[[], Reader], *,
                 metrics_listener: socket.socket | None = None) -> None:
        self.config = config
        #: A fault of the machine the station cannot work through (too many open files): the daemon stops.
        self.fault: OsFault | None = None
        self._fault_lock = threading.Lock()
        state = config.station.state_dir
        # Keys first: a missing or unreadable key, token or TLS file stops the station before anything runs.
        signing_key = load_signing_key(access.signing_key)
        station_key = load_station_key(access.station_key, access.station_key_passphrase_file)
        self.metrics = StationMetrics(config.station.id)
        self.tally = LinkTally()
        self.link = access.open_link(wire=self.tally.wire)
        self.journal = open_checked(state)
        self.spool = Spool(state / "spool")
        self.quota = LinkQuota(config.link, self.journal, self.tally.wire)
        self.stop_event = threading.Event()
        # The state folder: a write it refuses holds the station until a probe can write again.
        self.storage = StorageState(state, self.stop_event, probes=(self.journal.touch,))
        crash = CrashPoints.from_env()
        self.power = open_power(config.power.ups, config.power.min_runtime_s, self.stop_event,
                                lambda: self.metrics.mean_stage_seconds("print"), lambda: self.printing.job_ready())
        self.reporter = Reporter(self.link, self.journal, self.spool, self.metrics, self.stop_event, crash,
                                 tally=self.tally, storage=self.storage,
                                 retry=(config.transfer.retry_initial_seconds, config.transfer.retry_max_seconds))
        self.printing = PrintWorker(config, self.journal, self.spool, self.metrics, station_key,
                                    self.stop_event, open_printer, open_reader, self._outcome_ready, crash,
                                    power=self.power, storage=self.storage)
        self.intake = intake = Intake(self.journal, ManifestVerifier(signing_key, config.station.id), self.metrics, crash)
        self.fetcher = Fetcher(config, self.link, self.journal, intake, self.spool, self.metrics,
                               self.stop_event, self.printing.job_ready, tally=self.tally, storage=self.storage,
                               quota=self.quota)
        self.offline = OfflineWorker(
            BundleImporter(self.journal, intake, self.spool, config.station.id, mark_ready=self.fetcher.adopt,
                           should_stop=self.stop_event.is_set),
            self.journal, config.station.id, load_token(access.token_file), state, config.offline.watch_dir,
            config.offline.scan_seconds, self.stop_event, storage=self.storage)
        for wake in (self.printing.job_ready, self.fetcher.wake, self.reporter.wake, self.offline.wake):
            self.storage.on_resume(wake)
        # The metrics read each owner's state at scrape time.
        self.metrics.watch_journal(self.journal.gauges)
        self.metrics.watch_printer(self.printing.printer_state.read)
        self.metrics.watch_link(self.tally.bytes_by_kind, self.tally.last_contact)
        self.metrics.registry.register(StorageCollector(self.storage))
        self.metrics.watch_quota(self.tally.wire_bytes, self.quota.reading)
        monitor = self.power if isinstance(self.power, PowerMonitor) else None
        if monitor is not None:
            self.metrics.registry.register(PowerCollector(monitor))  # reads the monitor's snapshot at each scrape
        m = config.metrics
        self.metrics_server = MetricsServer(self.metrics.registry, m.host, m.port,
                                            routes={"/status": self._status_page},
                                            tls=server_tls_context(m.tls_cert, m.tls_key),
                                            auth=load_basic_auth(m.basic_auth_file), listener=metrics_listener,
                                            on_fault=lambda exc: self.fail(exc, f"metrics {m.host}:{m.port}"))
        self.control = ControlServer(socket_path(state), control_handlers(self),
                                     on_fault=lambda exc: self.fail(exc, str(socket_path(state))))
        power_thread = (("power", monitor.run),) if monitor is not None else ()
        self._threads = [
            threading.Thread(target=run, name=name, daemon=True)
            for name, run in (*self.fetcher.workers(), ("printer", self.printing.run),
                              ("preparer", self.printing.preparer.run), ("reporter", self.reporter.run),
                              ("offline", self.offline.run), ("storage", self.storage.run), *power_thread)
        ]

    def _outcome_ready(self) -> None:
        """A job has its outcome: its report can go, and its payload's place in the spool is free."""
        self.reporter.wake()
        self.fetcher.room_freed()

    def start(self) -> None:
        self.intake.resume_received(datetime.now(timezone.utc))
        self.metrics_server.start()
        self.control.start()
        for thread in self._threads:
            thread.start()
        host, port = self.metrics_server.address
        log.info("station.started", station_id=self.config.station.id, metrics=f"http://{host}:{port}/metrics")

    def healthy(self) -> bool:
        return self.fault is None and all(t.is_alive() for t in self._threads)

    def fail(self, exc: BaseException, where: str) -> OsFault | None:
        """A fault of the machine met by a worker or a listener (``where``): the first one is kept, and the
        station counts as unhealthy so the daemon stops, says the fault in one line (station.worker_died)
        and exits with its code. None (nothing kept) when ``exc`` is not the machine's fault."""
        fault = classify(exc, getattr(exc, "filename", None) or where)
        if fault is not None:
            with self._fault_lock:
                self.fault = self.fault or fault
        return fault

    def counts(self) -> dict[JobState, int]:
        return self.journal.counts_by_state()

    def status(self) -> StationStatus:
        """What `ktp-agent status`, diagnose, the control socket and the /status page show, read now
        from each owner: the journal, the print worker, the link's tally, the offline desk and the
        power monitor."""
        online, reasons, status = self.printing.printer_state.read()
        return gather(self.config.station.id, self.journal, printer_view(online, reasons, status),
                      reader_online=self.printing.reader_online, last_contact=self.tally.last_contact(),
                      daemon=True, offline=self.offline.snapshot(), power=power_view(self.power),
                      storage=self.storage.status(), downloading=self.fetcher.downloading(),
                      quota=quota_view(self.quota.reading(), self.config.link.at_quota is AtQuota.STOP_DOWNLOADS))

    def _status_page(self) -> tuple[str, bytes]:
        return "text/html; charset=utf-8", render_status_page(self.status())

    def poll_now(self) -> None:
        """`ktp-agent sync`: poll the job server now, not at the next scheduled poll."""
        self.fetcher.poll_now()

    def stop(self, timeout: float = 30.0) -> None:
        self.stop_event.set()
        self.fetcher.wake()
        self.reporter.wake()
        self.offline.wake()
        self.printing.job_ready()
        self.link.end_long_poll()  # else a held poll keeps the fetcher for up to [link] long_poll_s
        for thread in self._threads:
            thread.join(timeout)
        self.control.stop()
        self.link.close()
        try:
            self.quota.sync()  # the last bytes, the connection's close included
        except OsFaultError as exc:  # the state folder refuses writes (already told): stop all the same
            log.warning("quota.last_bytes_not_kept", kind=exc.fault.kind.value, where=exc.fault.where)
        self.metrics_server.stop()
        self.journal.close()
        log.info("station.stopped")
