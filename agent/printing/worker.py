"""The print worker: the one thread that owns the printer and the reader.

For each downloaded job, in seq order: decrypt, validate, render, then the
physical part, with the journal one step ahead of the hardware: the intent
(and the printer's card counter) is committed before a blank moves, the
blank's chip UID before the print command, the outcome right after. A blank
is accounted by the printer's card counter (the one fed after the intent's
``cards_before``), so a chip with a random UID is accounted as exactly.
"""
from __future__ import annotations

import threading
import time
from datetime import datetime, timezone
from typing import Callable

import structlog

from drivers.errors import DeviceFaultError, DriverError, ProtocolError, TransportError
from drivers.interfaces import CardFace, CardPosition, ChipTarget, Printer, PrinterStatus, Reader

from ..config import Config
from ..crashpoints import CrashPoints
from ..jobs import Spool
from ..journal import JobRecord, JobState, Journal
from ..observe import StationMetrics
from ..os_faults import OsFaultError
from ..power import BlankGate, MainsOnly
from ..storage import StorageState
from .preparer import CardPreparer, PreparedCard
from .printer_state import FaultHistory, PrinterSnapshot
from .recovery import Resolution, resolve_interrupted
from .requests import DeviceRequest, DeviceRequests

log = structlog.get_logger("ktp.printing")

#: How long a fault that needs a person (empty feeder, open cover) holds the queue between checks.
HOLD_RECHECK_S = 2.0
#: With no card to print, the printer's status (and its metrics) is read this often.
IDLE_STATUS_S = 5.0
CHIP_READ_TIMEOUT_S = 2.0
#: Reasons no sensor reports: only trying again tells whether they cleared (a failed try
#: moves no blank, and holds the queue for HOLD_RECHECK_S before the next).
CLEARED_BY_RETRY = frozenset({"media-empty", "media-jam"})


class PrintWorker:
    def __init__(self, config: Config, journal: Journal, spool: Spool, metrics: StationMetrics,
                 station_key: object, stop: threading.Event,
                 open_printer: Callable[[], Printer], open_reader: Callable[[], Reader],
                 outcome_ready: Callable[[], None], crash: CrashPoints | None = None,
                 power: BlankGate | None = None, storage: StorageState | None = None) -> None:
        self.config, self.journal, self.spool, self.metrics = config, journal, spool, metrics
        self._stop = stop
        self._open_printer, self._open_reader = open_printer, open_reader
        self._outcome_ready = outcome_ready
        self._crash = crash or CrashPoints()
        #: Asked before every new blank (agent.power, agent.storage): ``may_take_blank()`` never waits.
        self._power = power or MainsOnly()
        #: The state folder: while it cannot be written, no journal step is tried (the journal is a step
        #: ahead of the hardware, so no blank moves either) and a failed write holds instead of ending us.
        self._storage = storage
        self._gates: tuple[BlankGate, ...] = (self._power,) + ((storage,) if storage is not None else ())
        self._wake = threading.Event()
        #: Set once the devices were tried and interrupted jobs resolved (or the devices failed).
        self.devices_tried = threading.Event()
        self.preparer = CardPreparer(journal, spool, station_key, metrics, stop, encoder=self._encode)
        self._current: PreparedCard | None = None
        self.printer: Printer | None = None
        self.reader: Reader | None = None
        self._backoff = 0.5
        self._held: tuple[str, ...] = ()  # the reasons the queue is held for, as last logged
        #: The printer's last status (in memory) and the fault episodes (in the journal): written here,
        #: read by the station's status and the metrics.
        self.printer_state = PrinterSnapshot()
        self.faults = FaultHistory(journal.faults)
        #: Whether the reader answered when last opened (None: not tried yet); the printer's is in printer_state.
        self.reader_online: bool | None = None
        self._printer_online: bool | None = None
        self._requests = DeviceRequests()

    def job_ready(self) -> None:
        self._wake.set()
        self.preparer.job_ready()

    def _encode(self, face: CardFace) -> object | None:
        """The printer's own encoding of a face, made on the preparer's thread (pure CPU)."""
        printer = self.printer
        return printer.prepare(face) if printer is not None else None

    def _let_go(self, job_id: str) -> None:
        if self._current is not None and self._current.job.job_id == job_id:
            self._current = None
        self.preparer.done(job_id)

    def run(self) -> None:
        while not self._stop.is_set():
            try:
                ready = self._ensure_devices()
                self.devices_tried.set()
                if not ready:
                    self._wait_backoff()
                    continue
                if self._held_for_storage():
                    continue
                self._recover_unfinished()
                self._serve_requests()
                self._step()
            except (TransportError, ProtocolError) as exc:
                self.devices_tried.set()
                self._lost_link(exc)
            except (OSError, OsFaultError) as exc:
                # A journal step the machine refused: the job is where the journal last holds it (the
                # intent before the blank, the blank before the print), so nothing more happens to the
                # card now; once the folder takes writes, the recovery above settles it from the
                # printer's own counters, as after a restart.
                if self._storage is None or not self._storage.took(exc):
                    raise
                self.devices_tried.set()

    def _held_for_storage(self) -> bool:
        """While the state folder cannot be written: serve the technician's requests, and wait."""
        if self._storage is None or not self._storage.holds:
            return False
        self.devices_tried.set()
        self._serve_requests()
        self._pause(HOLD_RECHECK_S)
        return True
        self._refuse_requests("the station is stopping")
        self._close_devices()

    # -- requests from other threads (the control socket) ----------------------
    def on_devices(self, action: Callable[[Printer, Reader], object], timeout: float) -> object:
        """Run ``action(printer, reader)`` on this thread, between jobs; wait at most ``timeout``.

        Called from other threads; only this thread ever touches the devices.
        """
        request = DeviceRequest(action)
        self._requests.put(request)
        self._wake.set()
        self.preparer.interrupt()  # the worker may be waiting for a card
        return request.wait(timeout)

    def _serve_requests(self) -> None:
        self._requests.serve(self.printer, self.reader)

    def _refuse_requests(self, why: str) -> None:
        self._requests.refuse(why)

    def _pause(self, seconds: float) -> None:
        self._wake.wait(seconds)
        self._wake.clear()

    # -- devices --------------------------------------------------------------
    def _ensure_devices(self) -> bool:
        """Open whichever device is not open, each on its own: an unplugged printer does not make the
        reader look disconnected, nor the other way round. True when both are open."""
        if self.printer is None:
            try:
                self.printer = self._open_printer()
            except (TransportError, ProtocolError) as exc:
                self._printer_offline(exc)
            else:
                log.info("printer.connected", **_identity(self.printer))
                self._printer_online = True
        if self.reader is None:
            try:
                self.reader = self._open_reader()
            except (TransportError, ProtocolError) as exc:
                log.warning("device.offline", device="reader", error=str(exc), retry_in_s=round(self._backoff, 1))
                self.reader_online = False
                self.faults.reader_online(False)
            else:
                log.info("reader.connected", firmware=self.reader.firmware())
                self.reader_online = True
                self.faults.reader_online(True)
        if self.printer is None or self.reader is None:
            return False
        self._backoff = 0.5
        return True

    def _printer_offline(self, exc: DriverError) -> None:
        log.warning("device.offline", device="printer", error=str(exc), retry_in_s=round(self._backoff, 1))
        if self._printer_online:  # count the fall, not every failed reconnect
            self.metrics.printer_faults.labels("offline").inc()
        self.faults.offline()  # one episode until the printer answers again
        self._printer_online = False
        self.printer_state.publish(False, ())

    def _lost_link(self, exc: DriverError) -> None:
        """A device stopped answering in the middle of something: close both and open each again, so
        the one that does not open is the one shown as offline."""
        log.warning("device.link_lost", error=str(exc))
        self._refuse_requests(f"the devices went offline: {exc}")
        self._close_devices()
        self._wait_backoff()

    def _wait_backoff(self) -> None:
        self._refuse_requests("the devices are offline")
        self._stop.wait(self._backoff)
        self._backoff = min(self._backoff * 2, 30.0)

    def _close_devices(self) -> None:
        for device in (self.printer, self.reader):
            if device is not None:
                try:
                    device.close()
                except DriverError:
                    pass
        self.printer = self.reader = None

    # -- the queue ------------------------------------------------------------
    def _step(self) -> None:
        status = self.printer.status()
        self.printer_state.publish(True, status.reasons, status)
        self.faults.observe(status.reasons)
        blocking = [r for r in status.reasons if r.stops_printing and r.keyword not in CLEARED_BY_RETRY]
        self._note_hold(tuple(sorted(str(r) for r in blocking)))
        if blocking:
            self._pause(HOLD_RECHECK_S)
            return
        if self._current is None:
            # Waiting for a card takes up to IDLE_STATUS_S: the next step reads the printer's status
            # afresh (a cover opened or the ribbon ran out meanwhile) before this card moves.
            self._current = self.preparer.take(timeout=IDLE_STATUS_S)
            return
        card = self._current
        record = self.journal.get(card.job.job_id)
        if record is None or record.state is not JobState.DOWNLOADED:
            self._let_go(card.job.job_id)  # finished meanwhile (e.g. resolved after a restart)
            return
        try:
            self._process(card, status)
        except DeviceFaultError as fault:
            self.printer_state.publish(True, (fault.reason,))
            if self.faults.fault(fault.reason, card.job.job_id):  # counted once an episode, not at each retry
                self.metrics.printer_faults.labels(fault.reason.keyword).inc()
                log.warning("printer.fault", reason=str(fault.reason), job_id=card.job.job_id)
            self._pause(HOLD_RECHECK_S)

    def _note_hold(self, reasons: tuple[str, ...]) -> None:
        """Log when the queue's hold starts, changes and ends, not at every recheck."""
        if reasons == self._held:
            return
        if reasons:
            log.info("queue.held", reasons=list(reasons), before=list(self._held))
        else:
            log.info("queue.resumed", after=list(self._held))
        self._held = reasons

    def _process(self, card: PreparedCard, status: PrinterStatus) -> None:
        job = card.job
        if card.manifest.expires_at <= datetime.now(timezone.utc):
            self._finish(job.job_id, JobState.EXPIRED, "expired")
            return
        if card.rejection is not None:
            exc = card.rejection
            self.metrics.count_rejection(exc.reason)
            log.warning("job.rejected", job_id=job.job_id, reason=exc.reason, detail=exc.detail)
            self._finish(job.job_id, JobState.REJECTED, exc.reason)
            return
        gate = next((g for g in self._gates if not g.may_take_blank()), None)
        if gate is not None:  # the card stays current; the gate's owner wakes us when it opens
            gate.held(job.job_id)
            self._pause(HOLD_RECHECK_S)
            return
        self._print(card, status)

    def _print(self, card: PreparedCard, status: PrinterStatus) -> None:
        job, printer, reader = card.job, self.printer, self.reader
        status = self._clear_leftover_card(job.job_id, status)
        waiting_blank = status.card_position is CardPosition.CONTACTLESS
        # A blank left untouched at the contactless station is used, not wasted.
        before = status.cards_inserted - 1 if waiting_blank else status.cards_inserted
        self.journal.record_intent(job.job_id, before, status.panels_printed)
        self._crash.hit("print.intent")
        started = time.monotonic()
        if not waiting_blank:
            try:
                printer.insert_to_contactless()
            except DeviceFaultError:
                self._settle_failed_insert(job.job_id, before)
                raise
            self._crash.hit("print.inserted")
        target = reader.find_card(timeout=CHIP_READ_TIMEOUT_S)
        self._record_blank(job.job_id, target)
        self._crash.hit("print.blank")
        if target is None:
            printer.reject_card()
            self._finish(job.job_id, JobState.SPOILED, "chip-unreadable")
            return
        reader.release()
        try:
            printer.print_card(card.encoded if card.encoded is not None else card.face)
        except DeviceFaultError as fault:
            self._reject_quietly()
            self._finish(job.job_id, JobState.SPOILED, fault.reason.keyword)
            raise
        self._crash.hit("print.done")
        self.metrics.stage_seconds.labels("print").observe(time.monotonic() - started)
        self.metrics.job_seconds.observe(max(0.0, time.time() - job.received_at))
        self._finish(job.job_id, JobState.PRINTED, None)
        self._crash.hit("print.outcome")

    def _clear_leftover_card(self, job_id: str, status: PrinterStatus) -> PrinterStatus:
        """Send a card already counted for another job to the reject box before this job starts.

        A blank waiting untouched at the contactless station that no job has
        counted is this job's to use. Any other card in the printer (one left
        inside by a failed reject, or at the station but counted for a job
        that finished or is in doubt) is already accounted for there; printing
        this job on it would account one blank twice.
        """
        position = status.card_position
        if position is CardPosition.NONE:
            return status
        if position is CardPosition.CONTACTLESS and self.journal.blank_owner(status.cards_inserted) is None:
            return status
        self.printer.reject_card()
        log.warning("printer.leftover_rejected", job_id=job_id, card=status.cards_inserted,
                    position=position.value)
        return self.printer.status()

    def _record_blank(self, job_id: str, target: ChipTarget | None) -> None:
        if target is None:
            self.journal.record_blank(job_id, None)
        else:
            self.journal.record_blank(job_id, target.uid_hex, uid_is_random=target.uid_is_random)

    def _settle_failed_insert(self, job_id: str, before: int) -> None:
        if self.printer.cards_inserted() == before:
            self.journal.release_intent(job_id)
        else:
            self._reject_quietly()
            self._finish(job_id, JobState.SPOILED, "insert-failed")

    def _reject_quietly(self) -> None:
        try:
            self.printer.reject_card()
        except DriverError as exc:
            log.warning("printer.reject_failed", error=str(exc))

    def _finish(self, job_id: str, outcome: JobState, reason: str | None) -> None:
        body = self.journal.finish(job_id, outcome, self.config.station.id, reason=reason)
        self._let_go(job_id)
        random_uid = False
        if outcome in (JobState.PRINTED, JobState.SPOILED):
            self.metrics.cards.labels(outcome.value).inc()
            record = self.journal.get(job_id)
            random_uid = record is not None and record.blank_uid_random
            if random_uid:
                self.metrics.random_uid_blanks.inc()
        if outcome is JobState.SPOILED:
            self.faults.spoiled(reason or "unknown", job_id)
        event = {JobState.PRINTED: "card.printed", JobState.SPOILED: "card.spoiled"}.get(outcome, "job.finished")
        log.info(event, job_id=job_id, outcome=outcome.value, reason=reason, blank_serial=body["blank_serial"],
                 blank_counter=body.get("blank_counter"), random_uid=random_uid)
        self._outcome_ready()

    # -- restart recovery -----------------------------------------------------
    def _recover_unfinished(self) -> None:
        """Resolve jobs left between intent and outcome from the printer's evidence."""
        for job in self.journal.jobs_in(JobState.PRINTING):
            status = self.printer.status()
            resolution = resolve_interrupted(job, status)
            log.info("job.recovered", job_id=job.job_id, resolution=resolution.value)
            if resolution is Resolution.NOT_STARTED:
                self.journal.release_intent(job.job_id)
            elif resolution is Resolution.BLANK_WAITING:
                self.journal.release_intent(job.job_id)  # the next attempt prints on that blank
            elif resolution is Resolution.CARD_STUCK:
                self._record_blank_at_station(job, status)
                self._reject_quietly()
                self._finish(job.job_id, JobState.SPOILED, "interrupted")
            elif resolution is Resolution.PRINTED:
                self._finish(job.job_id, JobState.PRINTED, None)
            elif resolution is Resolution.REJECTED:
                self._finish(job.job_id, JobState.SPOILED, "interrupted")
            else:
                self.journal.mark_in_doubt(job.job_id, "card left the printer; outcome unknown")
                log.warning("job.in_doubt", job_id=job.job_id)

    def _record_blank_at_station(self, job: JobRecord, status: PrinterStatus) -> None:
        if job.blank_serial is None and status.card_position is CardPosition.CONTACTLESS:
            target = self.reader.find_card(timeout=CHIP_READ_TIMEOUT_S)
            if target is not None:
                self._record_blank(job.job_id, target)


def _identity(printer: Printer) -> dict[str, str]:
    ident = printer.identity()
    return {"model": ident.model, "serial": ident.serial, "firmware": ident.firmware}
