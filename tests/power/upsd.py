"""Network UPS Tools' own server for tests: ``upsd`` with the ``dummy-ups`` driver, in a temporary folder.

The driver reads a ``.dev`` file (``mode = dummy-once``: read again whenever
its timestamp changes, every ``pollinterval = 1`` s); ``set`` rewrites it
atomically. ``upsc``, NUT's own client, tells when ``upsd`` reports a value.
Both processes run in the foreground on a free loopback port and are ended by
their pid.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

from testbed.station import end_process, free_port

NUT_LIBEXEC = Path("/lib/nut")
UPSD = NUT_LIBEXEC / "upsd"           # Debian's /usr/sbin/upsd is a wrapper that reads /etc/nut/nut.conf
DUMMY_UPS = NUT_LIBEXEC / "dummy-ups"
UPSC = shutil.which("upsc")
MISSING = None if UPSD.exists() and DUMMY_UPS.exists() and UPSC else \
    "Network UPS Tools is not installed (apt-get install nut-server; .ci/run installs it)"
NAME = "ups"


class DummyUps:
    def __init__(self, root: Path, status: str = "OL", charge: int = 100, runtime: int = 1200) -> None:
        self.root = root
        (root / "state").mkdir(parents=True, exist_ok=True)
        os.chmod(root / "state", 0o770)
        self.port = free_port()
        self.dev = root / "ups.dev"
        self.set(status, charge, runtime)
        (root / "nut.conf").write_text("MODE=standalone\n")
        (root / "ups.conf").write_text(f"maxretry = 3\n[{NAME}]\n  driver = dummy-ups\n  port = {self.dev}\n"
                                       "  mode = dummy-once\n  pollinterval = 1\n  desc = \"test UPS\"\n")
        (root / "upsd.conf").write_text(f"LISTEN 127.0.0.1 {self.port}\n")
        (root / "upsd.users").write_text("")
        for name in ("ups.conf", "upsd.conf", "upsd.users"):
            os.chmod(root / name, 0o640)
        self.env = dict(os.environ, NUT_CONFPATH=str(root), NUT_STATEPATH=str(root / "state"))
        self.address = f"{NAME}@127.0.0.1:{self.port}"
        self.driver = self._spawn("driver", [str(DUMMY_UPS), "-a", NAME, *self._user(), "-F"])
        self._wait(lambda: any((root / "state").glob("dummy-ups-*")), "the driver's socket")
        self.upsd: subprocess.Popen | None = None
        self.start_upsd()

    def _user(self) -> list[str]:
        return ["-u", "root"] if os.geteuid() == 0 else []

    def _spawn(self, what: str, argv: list[str]) -> subprocess.Popen:
        log = open(self.root / f"{what}.log", "ab")
        try:
            return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=self.env, cwd=self.root)
        finally:
            log.close()

    def _wait(self, predicate, what: str, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.05)
        logs = "\n".join(p.read_text(errors="replace") for p in self.root.glob("*.log"))
        raise AssertionError(f"NUT: timed out waiting for {what}:\n{logs}")

    def start_upsd(self) -> None:
        self.upsd = self._spawn("upsd", [str(UPSD), *self._user(), "-F"])
        self._wait(lambda: self.read("ups.status") not in (None, "WAIT"), "upsd to answer with the driver's data")

    def kill_upsd(self) -> None:
        assert self.upsd is not None
        self.upsd.kill()
        self.upsd.wait(10)
        self.upsd = None

    def set(self, status: str, charge: int, runtime: int) -> None:
        """What the UPS reports next (the driver sees it within its 1 s poll).

        dummy-ups reads the file again when its timestamp changes, compared in whole seconds: each
        rewrite gets a timestamp a second past the last one, so two rewrites within a second both count.
        """
        part = self.dev.with_suffix(".part")
        part.write_text(f"ups.status: {status}\nbattery.charge: {charge}\nbattery.runtime: {runtime}\n")
        self._mtime = max(int(time.time()), getattr(self, "_mtime", 0) + 1)
        os.utime(part, (self._mtime, self._mtime))
        os.replace(part, self.dev)

    def read(self, variable: str) -> str | None:
        done = subprocess.run([UPSC, self.address, variable], capture_output=True, text=True, timeout=10)
        return done.stdout.strip() if done.returncode == 0 else None

    def wait_reported(self, status: str, timeout: float = 15.0) -> float:
        """Poll upsc until upsd reports ``status``; the monotonic time it was first seen."""
        self._wait(lambda: self.read("ups.status") == status, f"upsd to report {status!r}", timeout)
        return time.monotonic()

    def stop(self) -> None:
        for process in (self.upsd, self.driver):
            if process is not None:
                end_process(process, grace_s=5)
