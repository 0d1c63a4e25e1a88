"""The real daemon process against the real reference job server, on loopback.

The job server runs in the test process (so tests can issue jobs and read the
reports it received); the daemon runs as `python -m agent run` with its own
config, simulated devices and state folder.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import urllib3

from jobserver.demo import provision, start_demo_server

STATION = "3319-05"
REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class StationHarness:
    def __init__(self, root: Path, link: str = "pipe", print_ms: int = 0, extra_printer: str = "") -> None:
        self.root = root
        self.creds = provision(root / "server-keys", STATION)
        self.server = start_demo_server(root / "server-keys", STATION, jobs=0, poll_after_s=1)
        self.state = root / "station"
        self.cards_dir = root / "cards"
        self.metrics_port = free_port()
        self.config_path = root / "agent.toml"
        self.log_path = root / "daemon.log"
        self.config_path.write_text(f"""
[station]
id = "{STATION}"
state_dir = "{self.state}"

[server]
url = "{self.server.url}"
token_file = "{self.creds.token_file}"
signing_key = "{self.creds.server_public_key}"
station_key = "{self.creds.station_private_key}"

[printer]
uri = "sim://printer?state={root / 'sim'}&png={self.cards_dir}&print_ms={print_ms}&link={link}{extra_printer}"

[reader]
uri = "sim://reader?state={root / 'sim'}&link={link}"

[metrics]
listen = "127.0.0.1:{self.metrics_port}"
""")
        self.process: subprocess.Popen | None = None

    def start_daemon(self, wait: bool = True, env_extra: dict[str, str] | None = None) -> None:
        """Start the daemon; with ``wait``, return once it serves /metrics."""
        env = dict(os.environ, PYTHONPATH=str(REPO), **(env_extra or {}))
        self._log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "agent", "run", "--config", str(self.config_path)],
            stdout=self._log, stderr=subprocess.STDOUT, env=env, cwd=self.root,
        )
        deadline = time.monotonic() + 30
        while wait and time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"daemon exited with {self.process.returncode}:\n{self.log()}")
            try:
                self.metrics()
                return
            except urllib3.exceptions.HTTPError:
                time.sleep(0.05)
        if wait:
            raise AssertionError("daemon did not serve /metrics within 30 s")

    def stop_daemon(self, timeout: float = 30) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout)
        self._log.close()
        return code

    def kill_daemon(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(10)
        self._log.close()

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.kill_daemon()
        self.server.stop()

    def issue(self, count: int, defect: str | None = None) -> list[str]:
        return self.server.store.add_jobs(STATION, count, defect=defect)

    def wait_reported(self, job_ids: list[str], timeout: float = 60) -> dict[str, dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            results = self.server.store.results()
            if all(j in results for j in job_ids):
                return {j: results[j] for j in job_ids}
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(f"daemon exited with {self.process.returncode}:\n{self.log()}")
            time.sleep(0.1)
        missing = [j for j in job_ids if j not in self.server.store.results()]
        raise AssertionError(f"{len(missing)} of {len(job_ids)} jobs not reported in {timeout}s:\n{self.log()[-4000:]}")

    def metrics(self) -> str:
        http = urllib3.PoolManager(retries=False)
        return http.request("GET", f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5).data.decode()

    def printer_state(self) -> dict:
        return json.loads((self.root / "sim" / "evolis.json").read_text())

    def pngs(self) -> list[Path]:
        return sorted(self.cards_dir.glob("*.png")) if self.cards_dir.exists() else []

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
