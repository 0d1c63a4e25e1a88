"""The real daemon process against the real reference job server, on loopback.

The job server runs in the test process (so tests can issue jobs and read the
reports it received); the daemon runs as `python -m agent run` with its own
config, simulated devices and state folder.

Optionally the server listens elsewhere than loopback and speaks TLS
(``server_host``, ``server_pki``: the station then pins the PKI's CA), and the
daemon starts through a ``launcher`` (e.g. ``ip netns exec NAME``, see
``station_link``), from another checkout's code (``code_root``, ``python``).
With a launcher the daemon's metrics may be out of reach, so readiness is
asked on the control socket instead.
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
from typing import Sequence

import urllib3

from jobserver.demo import open_store, provision
from jobserver.keys import load_station_private_key, load_token
from jobserver.server import JobServer

STATION = "3319-05"
REPO = Path(__file__).resolve().parents[1]


def end_process(process: subprocess.Popen, grace_s: float = 10) -> None:
    """SIGTERM, then SIGKILL if it has not exited within ``grace_s``."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(grace_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SimulatorProcess:
    """``ktp-agent simulate printer|reader`` in its own process, on a pty behind a stable link."""

    def __init__(self, role: str, state: Path, link: Path, args: list[str]) -> None:
        self.role = role
        self.log_path = state.parent / f"{role}-simulator.log"
        state.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "agent", "simulate", role, "--state", str(state), "--link", str(link),
             "--control", str(state.parent / f"{role}.sock"), *args],
            stdout=subprocess.PIPE, stderr=self._log, env=dict(os.environ, PYTHONPATH=str(REPO)), cwd=REPO,
        )
        self.info: dict[str, str] = {}
        deadline = time.monotonic() + 20
        while "state" not in self.info and time.monotonic() < deadline:
            line = self.process.stdout.readline().decode()
            if not line:
                raise AssertionError(f"{role} simulator exited: {self.log_path.read_text()}")
            key, _, value = line.strip().partition(": ")
            self.info[key] = value
        self.uri = self.info["uri"]
        self.control_address = self.info["control"]

    def control(self, **message) -> dict:
        from drivers.simulated.control import send_control

        reply = send_control(self.control_address, message)
        assert reply.get("ok", True), reply
        return reply

    def stop(self) -> None:
        end_process(self.process)
        self._log.close()


class StationHarness:
    def __init__(self, root: Path, link: str = "pipe", print_ms: int = 0, extra_printer: str = "",
                 standalone: list[str] | None = None, reader_args: list[str] | None = None,
                 printouts: bool = True, poll_after_s: float | None = 1, extra_reader: str = "",
                 extra_config: str = "", state: Path | None = None, server_host: str = "127.0.0.1",
                 server_pki=None, launcher: Sequence[str] = (), code_root: Path = REPO,
                 python: str = sys.executable) -> None:
        self.root = root
        self.creds = provision(root / "server-keys", STATION)
        self.server_host, self.server_pki, self.poll_after_s = server_host, server_pki, poll_after_s
        self.launcher, self.code_root, self.python = list(launcher), Path(code_root), python
        self.server = self.start_server()
        self.state = state or root / "station"
        self.cards_dir = root / "cards"
        self.metrics_port = free_port()
        self.config_path = root / "agent.toml"
        self.log_path = root / "daemon.log"
        self.simulators: list[SimulatorProcess] = []
        png = ["--png", str(self.cards_dir)] if printouts else []
        png_query = f"&png={self.cards_dir}" if printouts else ""
        printer_uri = (f"sim://printer?state={root / 'sim'}{png_query}&print_ms={print_ms}"
                       f"&link={link}{extra_printer}")
        reader_uri = f"sim://reader?state={root / 'sim'}&link={link}{extra_reader}"
        if standalone is not None:
            self.printer_sim = SimulatorProcess("printer", root / "sim", root / "printer-link",
                                                [*png, "--print-ms", str(print_ms), *standalone])
            self.reader_sim = SimulatorProcess("reader", root / "sim", root / "reader-link", reader_args or [])
            self.simulators = [self.printer_sim, self.reader_sim]
            printer_uri, reader_uri = self.printer_sim.uri, self.reader_sim.uri
        self.config_path.write_text(f"""
[station]
id = "{STATION}"
state_dir = "{self.state}"

[server]
url = "{self.server.url}"
token_file = "{self.creds.token_file}"
signing_key = "{self.creds.server_public_key}"
station_key = "{self.creds.station_private_key}"
{f'ca_file = "{server_pki.ca_cert}"' if server_pki else ""}

[printer]
uri = "{printer_uri}"

[reader]
uri = "{reader_uri}"

[metrics]
listen = "127.0.0.1:{self.metrics_port}"
{extra_config}""")
        self.process: subprocess.Popen | None = None

    def start_server(self, port: int = 0) -> JobServer:
        """The reference server on the job store kept under ``server-keys/server`` (reloaded when present)."""
        keys = self.root / "server-keys"
        station_key = load_station_private_key(self.creds.station_private_key).public_key()
        store = open_store(keys / "server", self.creds.server_signing_key, {STATION: station_key})
        options = {} if self.poll_after_s is None else {"poll_after_s": self.poll_after_s}
        context = self.server_pki.server_context() if self.server_pki else None
        return JobServer(store, self.server_host, port, tokens={load_token(self.creds.token_file): STATION},
                         ssl_context=context, **options).start()

    def while_server_stopped(self, action):
        """Stop the server, run ``action()`` (e.g. a command on its state folder), start it again on
        the same port with its store reloaded from disk; returns what ``action`` returned."""
        port = self.server.port
        self.server.stop()
        try:
            return action()
        finally:
            self.server = self.start_server(port)

    def daemon_command(self, *args: str, user: str | None = None) -> list[str]:
        """``ktp-agent run`` (or ``args``) for this station, through the launcher if any; as ``user``
        (through setpriv) when given."""
        command = [*self.launcher, self.python, "-m", "agent", *(args or ("run",)),
                   "--config", str(self.config_path)]
        if user is None:
            return command
        import pwd

        account = pwd.getpwnam(user)
        return ["setpriv", f"--reuid={account.pw_uid}", f"--regid={account.pw_gid}", "--clear-groups", *command]

    def run_daemon(self, *args: str, user: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
        """Run ``ktp-agent run`` to its end (a daemon that cannot start); its output, as text."""
        return subprocess.run(self.daemon_command(*args, user=user), capture_output=True, text=True,
                              env=dict(os.environ, PYTHONPATH=str(self.code_root)), cwd=self.root, timeout=timeout)

    def start_daemon(self, wait: bool = True, env_extra: dict[str, str] | None = None,
                     user: str | None = None) -> None:
        """Start the daemon; with ``wait``, return once it serves /metrics (its control socket with a launcher)."""
        env = dict(os.environ, PYTHONPATH=str(self.code_root), **(env_extra or {}))
        self._log = open(self.log_path, "ab")
        self.process = subprocess.Popen(self.daemon_command(user=user), stdout=self._log,
                                        stderr=subprocess.STDOUT, env=env, cwd=self.root)
        deadline = time.monotonic() + 30
        while wait and time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"daemon exited with {self.process.returncode}:\n{self.log()}")
            if self._ready():
                return
            time.sleep(0.05)
        if wait:
            raise AssertionError("daemon did not answer within 30 s")

    def _ready(self) -> bool:
        if not self.launcher:
            try:
                self.metrics()
                return True
            except urllib3.exceptions.HTTPError:
                return False
        from agent.technician.control import ControlError

        try:
            self.status()
            return True
        except ControlError:
            return False

    def status(self) -> dict:
        """The daemon's status, asked on its control socket."""
        from agent.technician.control import ControlClient

        return ControlClient(self.state / "control.sock", timeout=15).request("status")["status"]

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
        for simulator in self.simulators:
            simulator.stop()
        self.server.stop()

    def wait_for(self, predicate, what: str, timeout: float = 30):
        """Poll ``predicate()`` until it returns a true value; bounded in time."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(0.1)
        raise AssertionError(f"timed out after {timeout}s waiting for {what}:\n{self.log()[-3000:]}")

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

    def printout_counters(self) -> list[int]:
        """The printer's card counter of each card it printed (``card-<counter>-<uid>.png``)."""
        return [int(p.stem.split("-")[1]) for p in self.pngs()]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
