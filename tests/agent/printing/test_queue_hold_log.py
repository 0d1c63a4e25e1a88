"""The print worker logs a held queue when the hold starts, changes and ends, not at every recheck."""
from __future__ import annotations

import threading

from structlog.testing import capture_logs

from agent.config import load_config
from agent.jobs.spool import Spool
from agent.journal import Journal
from agent.observe.metrics import StationMetrics
from agent.printing.worker import PrintWorker
from drivers.evolis.printer import EvolisPrinter
from drivers.registry import open_reader
from drivers.simulated.evolis import SimulatedEvolis
from drivers.simulated.host import serve_over_pipe

from ..station_config import STATION, write_station_config



def test_a_held_queue_is_logged_when_the_hold_starts_changes_and_ends(tmp_path):
    sim_dir = tmp_path / "sim"
    printer = SimulatedEvolis(sim_dir, cover_open=True)
    reader_uri = f"sim://reader?state={sim_dir}"
    journal = Journal(tmp_path / "state" / "journal.sqlite3")
    hosts = []

    def open_printer():
        transport, host = serve_over_pipe(printer, "hold-printer")
        hosts.append(host)
        return EvolisPrinter(transport)

    worker = PrintWorker(load_config(write_station_config(tmp_path, state_dir=tmp_path / "state",
                                                           printer=f"sim://printer?state={sim_dir}", reader=reader_uri)), journal, Spool(tmp_path / "state" / "spool"),
                         StationMetrics(STATION), None, threading.Event(), open_printer,
                         lambda: open_reader(reader_uri), outcome_ready=lambda: None)
    worker._ensure_devices()
    try:
        with capture_logs() as events:
            for _ in range(4):          # the cover stays open over four rechecks
                worker.job_ready()      # the recheck's pause returns at once
                worker._step()
            printer.set_fault("ribbon_prints", 0)   # a second reason joins the first: the ribbon ends
            for _ in range(3):
                worker.job_ready()
                worker._step()
            printer.set_fault("cover_open", False)
            printer.set_fault("ribbon_prints", 50)
            worker._step()              # nothing to print: waits for a job (IDLE_STATUS_S) once
    finally:
        worker._close_devices()
        for host in hosts:
            host.stop()
        journal.close()
    queue = [e for e in events if e["event"].startswith("queue.")]
    assert [e["event"] for e in queue] == ["queue.held", "queue.held", "queue.resumed"], queue
    assert any("cover-open" in r for r in queue[0]["reasons"])
    assert len(queue[1]["reasons"]) > len(queue[0]["reasons"])
    assert queue[2]["after"] == queue[1]["reasons"]
