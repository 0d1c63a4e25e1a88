"""``ktp-agent simulate reader`` on a pty for the PN532 interop tests, with its frame tap."""
from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

from drivers.simulated.bench import SimBench
from drivers.simulated.control import send_control

ROOT = Path(__file__).resolve().parents[2]
#: A blank's chip UID (7 bytes, NXP manufacturer code 04) put at the contactless station.
BLANK_UID = bytes.fromhex("04a1b2c3d4e5f6")
START_SECONDS = 15.0


class ReaderSimulator:
    """A running standalone reader simulator; ``stop()`` ends it."""

    def __init__(self, state: Path) -> None:
        self.state = state
        self.link = state / "pn532"
        self.tap_path = state / "tap.txt"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "agent", "simulate", "reader", "--state", str(state),
             "--link", str(self.link), "--tap", str(self.tap_path)],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        self.printed = self._read_banner()

    def _read_banner(self) -> dict[str, str]:
        out = b""
        deadline = time.monotonic() + START_SECONDS
        with selectors.DefaultSelector() as sel:
            sel.register(self.process.stdout, selectors.EVENT_READ)  # type: ignore[arg-type]
            while b"\nstate: " not in out and time.monotonic() < deadline:
                if sel.select(timeout=max(deadline - time.monotonic(), 0)):
                    chunk = os.read(self.process.stdout.fileno(), 4096)  # type: ignore[union-attr]
                    if not chunk:
                        break
                    out += chunk
        printed = dict(line.partition(": ")[::2] for line in out.decode().splitlines() if ": " in line)
        if "state" not in printed:
            self.process.kill()
            raise AssertionError(f"the reader simulator printed {out!r}")
        return printed

    @property
    def control(self) -> str:
        return self.printed["control"]

    def place_blank(self, uid: bytes = BLANK_UID) -> None:
        SimBench(self.state).place_card(uid)

    def remove_blank(self) -> None:
        SimBench(self.state).remove_card()

    def station_uid(self) -> bytes:
        """The UID of the chip at the contactless station, as the simulator reports it."""
        reply = send_control(self.control, {"get": "state"})
        assert reply["ok"] and reply["contactless_station"], reply
        return bytes.fromhex(reply["contactless_station"]["uid"])

    def tap_lines(self) -> list[str]:
        try:
            return self.tap_path.read_text(encoding="ascii").splitlines()
        except FileNotFoundError:
            return []

    def clear_tap(self) -> None:
        self.tap_path.write_text("")

    def wait_for_tap(self, needle: str, seconds: float) -> bool:
        """True once a tap line contains ``needle``; polls for at most ``seconds``."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if any(needle in line for line in self.tap_lines()):
                return True
            time.sleep(0.05)
        return False

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.communicate(timeout=5)


def chip_answers(lines: list[str]) -> list[str]:
    """The names of the chip's frames in tap lines (ACK, ERROR, response names)."""
    return [line.split()[2] for line in lines if line.split()[1:2] == ["chip"]]


def host_commands(lines: list[str]) -> list[str]:
    """The host's commands, in order, as names (InListPassiveTarget ...)."""
    return [line.split()[2] for line in lines if line.split()[1:2] == ["host"] and line.split()[3:4] == ["d4"]]


def uid_in(text: str, label: str) -> bytes | None:
    """The hex bytes after ``label`` on a line of a tool's output (``UID (NFCID1):  04  a1 ...``)."""
    for line in text.splitlines():
        if label in line:
            return bytes.fromhex("".join(line.split(label, 1)[1].split()))
    return None
