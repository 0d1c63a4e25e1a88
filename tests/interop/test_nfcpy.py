"""Interop: nfcpy (a test extra) against the simulated PN532 on a pty.

nfcpy opens ``tty:<name>:pn532`` by looking for ``/dev/<name>``, so the test
points a symlink ``/dev/ttyKTPSIM<n>`` at the simulator's pty (root may) and
removes it afterwards. nfcpy runs in a child process with a deadline. It
must read exactly the blank's UID twice: from the InListPassiveTarget
answer it parses with automatic RATS off (sense), and after activating the
card with its own RATS through InCommunicateThru (connect).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.interop.pn532_sim import BLANK_UID, ReaderSimulator, chip_answers, host_commands

pytest.importorskip("nfc", reason="nfcpy is not installed (pip install -e '.[test]')")
NFCPY_SECONDS = 60

NFCPY_SCRIPT = r"""
import json, sys, time
import nfc, nfc.clf

clf = nfc.ContactlessFrontend(sys.argv[1])
try:
    deadline = time.monotonic() + 20
    target = clf.sense(nfc.clf.RemoteTarget("106A"), iterations=5, interval=0.1)
    tag = clf.connect(rdwr={"targets": ["106A"], "on-connect": lambda tag: False},
                      terminate=lambda: time.monotonic() > deadline)
    print(json.dumps({"device": str(clf.device), "sensed": target.sdd_res.hex() if target else None,
                      "tag": str(tag), "identifier": tag.identifier.hex() if tag else None}))
finally:
    clf.close()
"""


@pytest.fixture
def simulator(tmp_path):
    sim = ReaderSimulator(tmp_path / "reader")
    yield sim
    sim.stop()


@pytest.fixture
def dev_name(simulator):
    """``ttyKTPSIM<n>`` under /dev, pointing at the simulator's pty; removed afterwards."""
    if not os.access("/dev", os.W_OK):
        pytest.skip("nfcpy finds serial ports only under /dev, which this user cannot write")
    name = f"ttyKTPSIM{os.getpid()}"
    link = Path("/dev") / name
    link.symlink_to(simulator.link)
    yield name
    link.unlink(missing_ok=True)


def run_nfcpy(name: str) -> dict:
    done = subprocess.run([sys.executable, "-c", NFCPY_SCRIPT, f"tty:{name}:pn532"], capture_output=True,
                          text=True, timeout=NFCPY_SECONDS)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_nfcpy_reads_exactly_the_uid_of_the_blank_at_the_station(simulator, dev_name):
    simulator.place_blank()
    seen = run_nfcpy(dev_name)
    assert "PN532v1.6" in seen["device"]
    assert bytes.fromhex(seen["sensed"]) == simulator.station_uid() == BLANK_UID
    assert bytes.fromhex(seen["identifier"]) == BLANK_UID
    assert seen["tag"].startswith("Type4ATag")
    lines = simulator.tap_lines()
    assert "ERROR" not in chip_answers(lines)
    commands = host_commands(lines)
    assert commands[:3] == ["GetFirmwareVersion", "SAMConfiguration", "SetSerialBaudRate"]
    assert any("d4 12 00" in line for line in lines), "nfcpy turns automatic RATS off"
    assert any("d4 42 e0" in line for line in lines), "nfcpy sends its own RATS"
    assert any("line 921600 baud" in line for line in lines)
    assert commands[-1] == "PowerDown"


def test_nfcpy_opens_the_chip_again_after_its_own_power_down(simulator, dev_name):
    simulator.place_blank()
    run_nfcpy(dev_name)
    simulator.clear_tap()
    seen = run_nfcpy(dev_name)
    assert bytes.fromhex(seen["identifier"]) == BLANK_UID
    lines = simulator.tap_lines()
    assert any("line wake-up" in line for line in lines)
    assert "ERROR" not in chip_answers(lines)
