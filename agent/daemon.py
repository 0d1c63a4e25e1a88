"""The daemon: wires the station, owns signals and the systemd notify protocol."""
from __future__ import annotations

import signal
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import structlog

from drivers.registry import open_printer, open_reader

from .config import Config
from .jobs import ServerAccess
from .observe import SystemdNotifier
from .os_faults import OsFault
from .startup import prepare
from .station import Station

log = structlog.get_logger("ktp.daemon")


@dataclass
class RunSummary:
    cards_printed: int
    cards_spoiled: int
    jobs_rejected: int
    seconds: float
    payload_bytes: int
    stopped_by: str
    fault: OsFault | None = None  # the machine's fault that stopped the station, if one did


def server_access(config: Config) -> tuple[ServerAccess, object | None]:
    """Resolve the job server; for ``server.url = "demo"`` start the built-in one."""
    if not config.server.is_demo:
        return ServerAccess.from_config(config), None
    from jobserver.demo import provision, start_demo_server

    demo_dir = config.station.state_dir / "demo"
    creds = provision(demo_dir, config.station.id)
    server = start_demo_server(demo_dir, config.station.id, jobs=0, poll_after_s=1)
    access = ServerAccess(
        url=server.url,
        station_id=config.station.id,
        token_file=config.server.token_file or creds.token_file,
        signing_key=config.server.signing_key or creds.server_public_key,
        station_key=config.server.station_key or creds.station_private_key,
    )
    return access, server


def run(config: Config, *, until_cards: int | None = None, demo_jobs: int | None = None,
        stop: threading.Event | None = None, lang: str = "id") -> RunSummary:
    """Run the station until SIGTERM/SIGINT, or until ``until_cards`` cards finished. The start-up checks
    come first (agent.startup): nothing is created before they pass."""
    stop = stop or threading.Event()
    notifier = SystemdNotifier()
    with _signals(stop):
        listener = prepare(config, notifier, stop, lang)
        if listener is None:  # told to stop while waiting for free space
            return RunSummary(0, 0, 0, 0.0, 0, "signal")
        demo_server = None
        try:
            access, demo_server = server_access(config)
            if demo_server is not None:
                jobs = demo_jobs if demo_jobs is not None else config.server.demo_jobs
                demo_server.store.add_jobs(config.station.id, jobs)
                log.info("demo.server", url=access.url, jobs=jobs)
            station = Station(config, access, lambda: open_printer(config.printer.uri),
                              lambda: open_reader(config.reader.uri), metrics_listener=listener)
            return _serve(station, notifier, stop, until_cards)
        finally:
            listener.close()  # already closed by the metrics endpoint when the station ran
            if demo_server is not None:
                demo_server.stop()


@contextmanager
def _signals(stop: threading.Event) -> Iterator[None]:
    previous = {sig: signal.signal(sig, lambda *_: stop.set())
                for sig in (signal.SIGTERM, signal.SIGINT)} if _main_thread() else {}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _log_simulator_controls(config: Config) -> None:
    """Where each simulated device takes faults (its ``control=`` socket), for rehearsing them."""
    from drivers.simulated.factory import control_address

    for device, uri in (("printer", config.printer.uri), ("reader", config.reader.uri)):
        address = control_address(uri)
        if address:
            log.info("simulator.control", device=device, address=address,
                     example=f"ktp-agent simulate control {address} '{{\"get\": \"state\"}}'")


def _serve(station: Station, notifier: SystemdNotifier, stop: threading.Event,
           until_cards: int | None) -> RunSummary:
    threading.excepthook = lambda args: _log_thread_exception(args, station)
    started = time.monotonic()
    base = station.journal.outcome_counts()
    station.start()
    _log_simulator_controls(station.config)
    # READY once the journal is open (done) and the devices were tried and interrupted jobs resolved.
    station.printing.devices_tried.wait(30)
    notifier.notify("READY=1", f"STATUS=station {station.config.station.id} running")
    tick = notifier.watchdog_usec / 2e6 if notifier.watchdog_usec else 1.0
    stopped_by = "signal"
    try:
        while not stop.wait(min(tick, 1.0 if until_cards is None else 0.5)):
            if not station.healthy():
                # A worker died, or the machine failed the station (too many open files): exit so the
                # service manager restarts us; the journal holds every job's state.
                _log_worker_death(station.fault)
                stopped_by = "worker-died"
                break
            notifier.notify("WATCHDOG=1")
            if until_cards is not None and _done(station, base) >= until_cards and _finished(station):
                stopped_by = "cards"
                break
    finally:
        notifier.notify("STOPPING=1")
        summary = _summary(station, base, time.monotonic() - started, stopped_by)
        station.stop()
    return summary


def _log_worker_death(fault: OsFault | None) -> None:
    if fault is None:
        log.error("station.worker_died", cause="a worker thread ended (see thread.crashed)")
    else:
        log.error("station.worker_died", cause=fault.line("en"), kind=fault.kind.value, where=fault.where,
                  exit_code=int(fault.exit_code))


def _log_thread_exception(args: threading.ExceptHookArgs, station: Station) -> None:
    """A worker's death: one line with the machine's fault when it was one, the stack otherwise."""
    name = args.thread.name if args.thread else None
    fault = station.fail(args.exc_value, f"thread {name}") if isinstance(args.exc_value, Exception) else None
    if fault is not None:
        log.error("thread.crashed", thread=name, kind=fault.kind.value, where=fault.where, line=fault.line("en"))
    else:
        log.error("thread.crashed", thread=name, exc_info=(args.exc_type, args.exc_value, args.exc_traceback))


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _done(station: Station, base: dict[str, int]) -> int:
    return sum(station.journal.outcome_counts().values()) - sum(base.values())


def _finished(station: Station) -> bool:
    """Every job has an outcome and its report has left the outbox."""
    return station.journal.outbox_depth() == 0


def _summary(station: Station, base: dict[str, int], seconds: float, stopped_by: str) -> RunSummary:
    now = station.journal.outcome_counts()
    delta = {k: now.get(k, 0) - base.get(k, 0) for k in now}
    payload = station.tally.bytes_by_kind()["payload"]
    return RunSummary(delta["printed"], delta["spoiled"], delta["rejected"] + delta["expired"],
                      seconds, int(payload), stopped_by, station.fault)
