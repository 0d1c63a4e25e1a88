"""Interop: libnfc's own tools (Debian libnfc-bin, libnfc-examples) against the simulated PN532.

``ktp-agent simulate reader`` serves the chip on a pty; libnfc opens it as a
``pn532_uart`` device named by ``LIBNFC_DEVICE`` (autoscan off, so nothing
else on the machine is probed). A blank sits at the contactless station;
each tool must find the chip, report exactly that blank's UID and never be
answered with the error frame.
"""
from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from drivers.pn532.reader import Pn532Reader
from drivers.serial_transport import SerialTransport

from tests.interop.pn532_sim import BLANK_UID, ReaderSimulator, chip_answers, host_commands, uid_in

TOOLS = {name: shutil.which(name) for name in ("nfc-list", "nfc-poll", "nfc-scan-device")}
pytestmark = pytest.mark.skipif(
    None in TOOLS.values(),
    reason="libnfc's tools are not installed (apt-get install libnfc-bin libnfc-examples)",
)
TOOL_SECONDS = 30


@pytest.fixture
def simulator(tmp_path):
    sim = ReaderSimulator(tmp_path / "reader")
    yield sim
    sim.stop()


def libnfc_env(sim: ReaderSimulator) -> dict[str, str]:
    return {**os.environ, "LIBNFC_DEVICE": f"pn532_uart:{sim.link}", "LIBNFC_AUTO_SCAN": "false",
            "LIBNFC_LOG_LEVEL": "1"}


def run_tool(sim: ReaderSimulator, *argv: str) -> str:
    done = subprocess.run([TOOLS[argv[0]], *argv[1:]], env=libnfc_env(sim), capture_output=True,
                          text=True, timeout=TOOL_SECONDS)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_nfc_list_reports_exactly_the_uid_of_the_blank_at_the_station(simulator):
    simulator.place_blank()
    out = run_tool(simulator, "nfc-list")
    assert "1 ISO14443A passive target(s) found" in out, out
    assert uid_in(out, "UID (NFCID1):") == simulator.station_uid() == BLANK_UID
    assert uid_in(out, "ATQA (SENS_RES):") == bytes.fromhex("0044")
    lines = simulator.tap_lines()
    assert host_commands(lines)[:3] == ["SAMConfiguration", "Diagnose", "GetFirmwareVersion"]
    assert "ERROR" not in chip_answers(lines)


def test_nfc_list_without_a_blank_finds_no_target_and_no_error(simulator):
    out = run_tool(simulator, "nfc-list", "-v")  # -v: also the modulations with no target
    assert "0 ISO14443A passive target(s) found" in out, out
    assert "ERROR" not in chip_answers(simulator.tap_lines())


def test_nfc_poll_reports_the_uid_then_sees_the_blank_leave(simulator):
    simulator.place_blank()
    poll = subprocess.Popen([TOOLS["nfc-poll"]], env=libnfc_env(simulator), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        # nfc-poll pings the card (InCommunicateThru) until it leaves the field.
        assert simulator.wait_for_tap("host InCommunicateThru", TOOL_SECONDS)
        simulator.remove_blank()
        out, _ = poll.communicate(timeout=TOOL_SECONDS)
    finally:
        if poll.poll() is None:
            poll.kill()
            poll.communicate(timeout=5)
    assert poll.returncode == 0, out
    assert uid_in(out, "UID (NFCID1):") == BLANK_UID, out
    assert "done." in out
    lines = simulator.tap_lines()
    assert "InAutoPoll" in host_commands(lines)
    assert "ERROR" not in chip_answers(lines)


def test_nfc_scan_device_opens_the_chip_and_names_it(simulator):
    simulator.place_blank()
    out = run_tool(simulator, "nfc-scan-device", "-v")
    assert "1 NFC device(s) found" in out, out
    assert f"pn532_uart:{simulator.link}" in out
    assert "chip: PN532 v1.6" in out
    assert "Diagnose" in host_commands(simulator.tap_lines())


def test_the_station_driver_wakes_the_chip_libnfc_left_powered_down(simulator):
    simulator.place_blank()
    run_tool(simulator, "nfc-list")
    assert host_commands(simulator.tap_lines())[-1] == "PowerDown"
    reader = Pn532Reader.over_hsu(SerialTransport(str(simulator.link)), command_timeout=1.0)
    try:
        target = reader.find_card(timeout=1.0)
        assert target is not None and target.uid == BLANK_UID
        reader.release()
    finally:
        reader.close()
    assert host_commands(simulator.tap_lines())[-1] != "PowerDown"
