"""Standalone simulators on a real pty or loopback TCP port, driven by the real
drivers through pyserial, with faults through the control channel."""
from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from PIL import Image

from agent.cli import main as cli_main
from drivers.errors import DeviceFaultError, DisconnectedError, ProtocolError, TransportTimeoutError
from drivers.evolis.printer import EvolisPrinter
from drivers.interfaces import CARD_HEIGHT, CARD_WIDTH, CardFace, ChipTarget
from drivers.pn532.reader import Pn532Reader
from drivers.serial_transport import SerialTransport
from drivers.simulated.control import ControlError, send_control
from drivers.simulated.evolis import blank_chip_uid
from drivers.simulated.standalone import SimulatorOptions, StandaloneSimulator

ROOT = Path(__file__).resolve().parents[2]
REPLY_TIMEOUT = 0.4
SERIAL = "EVSIM0001"


def ko_face() -> CardFace:
    color = Image.new("RGB", (CARD_WIDTH, CARD_HEIGHT), (255, 255, 255))
    return CardFace(color=color, black=Image.new("L", (CARD_WIDTH, CARD_HEIGHT), 255))


@pytest.fixture
def start(tmp_path, request):
    """Start an in-process standalone simulator; stopped when the test ends."""

    def _start(role: str = "printer", *, tcp: bool = True, **kw) -> StandaloneSimulator:
        kw.setdefault("state_dir", tmp_path / "state")
        if role == "printer":
            kw.setdefault("ribbon_type", "KO")
        sim = StandaloneSimulator(SimulatorOptions(role=role, tcp=("127.0.0.1", 0) if tcp else None, **kw))
        request.addfinalizer(sim.stop)
        return sim.start()

    return _start


@pytest.fixture
def drivers(request):
    """Open drivers (closed when the test ends)."""

    def _printer(uri: str, reply_timeout: float = REPLY_TIMEOUT) -> EvolisPrinter:
        printer = EvolisPrinter(SerialTransport(_url(uri)), reply_timeout=reply_timeout)
        request.addfinalizer(printer.close)
        return printer

    def _reader(uri: str) -> Pn532Reader:
        reader = Pn532Reader.over_hsu(SerialTransport(_url(uri)), command_timeout=REPLY_TIMEOUT)
        request.addfinalizer(reader.close)
        return reader

    return _printer, _reader


def _url(uri: str) -> str:
    """pyserial's name for a URI the simulator printed."""
    return uri.removeprefix("serial://") if uri.startswith("serial://") else uri


def control(sim: StandaloneSimulator, **message) -> dict:
    reply = send_control(sim.control_address, message)
    assert reply["ok"], reply
    return reply


# -- the command line ---------------------------------------------------------------


def _spawn(*args: str) -> tuple[subprocess.Popen, dict[str, str]]:
    """Start ``ktp-agent simulate ...`` and read what it prints up to its ``state:`` line."""
    proc = subprocess.Popen([sys.executable, "-m", "agent", "simulate", *args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = b""
    deadline = time.monotonic() + 15
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while b"\nstate: " not in out and time.monotonic() < deadline:
            if sel.select(timeout=max(deadline - time.monotonic(), 0)):
                chunk = os.read(proc.stdout.fileno(), 4096)
                if not chunk:
                    break
                out += chunk
    printed = dict(line.partition(": ")[::2] for line in out.decode().splitlines() if ": " in line)
    if "state" not in printed:
        proc.kill()
        raise AssertionError(f"the simulator printed {out!r}; stderr: {proc.communicate(timeout=5)[1]!r}")
    return proc, printed


def _terminate(proc: subprocess.Popen) -> tuple[int, str]:
    proc.send_signal(signal.SIGTERM)
    try:
        _, err = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    return proc.returncode, err.decode()


def test_cli_serves_over_tcp_and_keeps_counters_across_a_restart(tmp_path, drivers):
    open_printer, _ = drivers
    state = str(tmp_path / "state")
    proc, printed = _spawn("printer", "--state", state, "--tcp", "127.0.0.1:0", "--cards", "5")
    try:
        assert printed["uri"].startswith("socket://127.0.0.1:")
        assert printed["control"] == os.path.join(state, "printer-control.sock")
        printer = open_printer(printed["uri"])
        printer.insert_to_contactless()
        printer.reject_card()
        printer.close()
    finally:
        rc, _ = _terminate(proc)
    assert rc == 0 and not Path(printed["control"]).exists()

    proc, printed = _spawn("printer", "--state", state, "--tcp", "127.0.0.1:0", "--cards", "50")
    try:
        status = open_printer(printed["uri"]).status()
        assert status.cards_inserted == 1
        assert send_control(printed["control"], {"get": "state"})["state"]["feeder_cards"] == 4
    finally:
        rc, err = _terminate(proc)
    assert rc == 0 and "--cards/--ribbon ignored" in err


def test_cli_control_command_prints_the_reply(start, capsys):
    sim = start()
    assert cli_main(["simulate", "control", sim.control_address, '{"fault": "cover_open", "value": true}']) == 0
    assert cli_main(["simulate", "control", sim.control_address, '{"get": "state"}']) == 0
    assert '"cover_open": true' in capsys.readouterr().out
    assert cli_main(["simulate", "control", sim.control_address, '{"fault": "cover_open"}']) == 1
    assert cli_main(["simulate", "control", sim.control_address, "{nope"]) == 2


def test_a_second_simulator_on_the_same_control_address_is_refused(start, tmp_path):
    start()
    with pytest.raises(ControlError, match="in use"):
        start()


# -- links ----------------------------------------------------------------------------


def test_printer_on_a_pty_behind_a_stable_link(start, drivers, tmp_path):
    link = tmp_path / "ktp-printer"
    sim = start(tcp=False, link_path=link)
    assert sim.uri == f"serial://{link}" and os.readlink(link) == sim.pty_path
    open_printer, _ = drivers
    assert open_printer(sim.uri).identity().serial == SERIAL


def test_tcp_client_disconnects_are_not_crashes(start, drivers):
    sim = start()
    open_printer, _ = drivers
    for expected in range(3):
        printer = open_printer(sim.uri)
        assert printer.cards_inserted() == expected
        printer.insert_to_contactless()
        printer.reject_card()
        printer.close()


def test_tcp_serves_one_client_at_a_time(start, drivers):
    sim = start()
    open_printer, _ = drivers
    first = open_printer(sim.uri)
    with pytest.raises(TransportTimeoutError):
        open_printer(sim.uri, reply_timeout=0.3)  # waits in the backlog, unanswered
    first.close()
    assert open_printer(sim.uri, reply_timeout=2).cards_inserted() == 0


# -- faults through the control channel ----------------------------------------------


@pytest.mark.parametrize("tcp", [True, False], ids=["tcp", "pty"])
def test_control_faults_reach_the_driver_as_declared_errors(start, drivers, tcp, tmp_path):
    sim = start(tcp=tcp, link_path=None if tcp else tmp_path / "ktp-printer")
    open_printer, _ = drivers
    printer = open_printer(sim.uri)

    control(sim, fault="jam_at_card", value=1)
    with pytest.raises(DeviceFaultError, match="media-jam"):
        printer.print_card(ko_face())
    with pytest.raises(DeviceFaultError, match="media-jam"):  # the jam holds the card, as a real one does
        printer.reject_card()
    control(sim, fault="jammed", value=False)  # a person takes the jammed card out

    control(sim, fault="cover_open", value=True)
    with pytest.raises(DeviceFaultError, match="cover-open"):
        printer.insert_to_contactless()
    control(sim, fault="cover_open", value=False)

    control(sim, fault="no_reply", value=True)
    with pytest.raises(TransportTimeoutError):
        printer.cards_inserted()
    control(sim, fault="no_reply", value=False)

    control(sim, fault="garbage", value=True)
    with pytest.raises(ProtocolError):
        printer.cards_inserted()
    control(sim, fault="garbage", value=False)

    control(sim, fault="slow_ms", value=int(REPLY_TIMEOUT * 2000))
    with pytest.raises(TransportTimeoutError):
        printer.cards_inserted()
    control(sim, fault="slow_ms", value=0)
    time.sleep(REPLY_TIMEOUT * 2)  # the late reply arrives; the driver drops it as stale input

    assert printer.cards_inserted() == 1  # the jammed card, counted once
    assert control(sim, get="state")["faults"] == {
        "no_reply": False, "garbage": False, "slow_seconds": 0.0, "jam_at_card": 1, "jammed": False, "cover_open": False}


def test_supplies_set_through_control_show_in_status(start, drivers):
    sim = start()
    control(sim, fault="ribbon_prints", value=3)
    control(sim, fault="feeder_cards", value=0)
    printer = drivers[0](sim.uri)
    assert "marker-supply-low-warning" in map(str, printer.status().reasons)
    with pytest.raises(DeviceFaultError, match="media-empty"):
        printer.insert_to_contactless()


def test_faults_given_at_start(start, drivers):
    sim = start(faults={"mechanical_error": True})
    printer = drivers[0](sim.uri)
    with pytest.raises(DeviceFaultError, match="media-jam"):
        printer.insert_to_contactless()


# -- unplug and replug ------------------------------------------------------------------


def test_unplug_mid_job_on_a_pty_then_replug_behind_the_same_link(start, drivers, tmp_path):
    link = tmp_path / "ktp-printer"
    sim = start(tcp=False, link_path=link, print_ms=1000)
    open_printer, _ = drivers
    printer = open_printer(sim.uri)
    unplug = threading.Timer(0.3, lambda: control(sim, unplug=True))
    unplug.start()
    try:
        with pytest.raises(DisconnectedError):
            printer.print_card(ko_face())
    finally:
        unplug.join(timeout=10)
    assert not link.exists() and control(sim, get="state")["plugged"] is False
    with pytest.raises(DisconnectedError):
        open_printer(sim.uri)
    assert control(sim, replug=True)["uri"] == f"serial://{link}"
    again = open_printer(sim.uri, reply_timeout=3)
    assert again.cards_inserted() <= 1
    again.print_card(ko_face())


def test_unplug_over_tcp_refuses_connections_until_replug(start, drivers):
    sim = start()
    open_printer, _ = drivers
    printer = open_printer(sim.uri)
    control(sim, unplug=True)
    with pytest.raises(DisconnectedError):
        printer.cards_inserted()
    with pytest.raises(DisconnectedError):
        open_printer(sim.uri)
    assert control(sim, replug=True)["uri"] == sim.uri
    assert open_printer(sim.uri).cards_inserted() == 0


# -- a printer and a reader sharing one state folder ----------------------------------------


def test_the_reader_sees_the_card_the_printer_placed_and_not_an_unreadable_one(start, drivers, tmp_path):
    printer_sim = start("printer")
    reader_sim = start("reader", tcp=False, link_path=tmp_path / "ktp-reader")
    open_printer, open_reader = drivers
    printer, reader = open_printer(printer_sim.uri), open_reader(reader_sim.uri)

    printer.insert_to_contactless()
    assert reader.find_card(timeout=0.2) == ChipTarget(blank_chip_uid(SERIAL, 1), "A")
    reader.release()
    control(reader_sim, fault="chip_absent", value=True)
    assert reader.find_card(timeout=0.1) is None
    control(reader_sim, fault="chip_absent", value=False)

    printer.reject_card()
    control(printer_sim, fault="chip_unreadable", value=True)
    printer.insert_to_contactless()
    assert reader.find_card(timeout=0.2) is None
    assert control(reader_sim, get="state")["contactless_station"] == {
        "uid": blank_chip_uid(SERIAL, 2).hex(), "readable": False}

    control(reader_sim, fault="no_reply", value=True)
    with pytest.raises(TransportTimeoutError):
        reader.find_card(timeout=0.1)
