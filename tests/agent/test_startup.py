"""The start-up checks on real folders and sockets: each failure names its place, and nothing is created."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from agent.config import load_config
from agent.errors import ConfigError
from agent.observe import SystemdNotifier
from agent.os_faults import OsFaultError, OsFaultKind
from agent.startup import MARGIN_BYTES, min_free_bytes, prepare
from agent.technician import ControlServer, socket_path
from tests.agent.station_config import write_station_config

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def config_in(tmp_path, state="state", port=None):
    port = free_port() if port is None else port
    return load_config(write_station_config(tmp_path, state_dir=state,
                                            extra=f'[metrics]\nlisten = "127.0.0.1:{port}"\n'))


def test_all_checks_pass_then_the_folder_is_made_and_the_metrics_port_is_held(tmp_path):
    config = config_in(tmp_path)
    listener = prepare(config, SystemdNotifier(), threading.Event())
    try:
        assert config.station.state_dir.is_dir()
        assert listener.getsockname() == ("127.0.0.1", config.metrics.port)
        with socket.create_connection(("127.0.0.1", config.metrics.port), timeout=5):
            pass  # already listening: the endpoint serves it later
    finally:
        listener.close()


def test_a_taken_metrics_port_names_the_key_and_the_port_and_creates_nothing(tmp_path):
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        config = config_in(tmp_path, port=other.getsockname()[1])
        with pytest.raises(OsFaultError) as caught:
            prepare(config, SystemdNotifier(), threading.Event())
    fault = caught.value.fault
    assert fault.kind is OsFaultKind.ADDRESS_IN_USE and fault.exit_code == 69
    assert fault.where == f"127.0.0.1:{config.metrics.port} ([metrics] listen in {config.path})"
    assert not config.station.state_dir.exists()


def test_a_control_socket_another_daemon_serves_stops_the_start_and_frees_the_port(tmp_path):
    config = config_in(tmp_path)
    config.station.state_dir.mkdir()
    other = ControlServer(socket_path(config.station.state_dir), {"ping": lambda request: {}}).start()
    try:
        with pytest.raises(OsFaultError) as caught:
            prepare(config, SystemdNotifier(), threading.Event())
    finally:
        other.stop()
    assert caught.value.fault.kind is OsFaultKind.ADDRESS_IN_USE
    assert str(socket_path(config.station.state_dir)) in caught.value.fault.where
    with socket.socket() as again:  # the metrics listener bound before the check was closed
        again.bind(("127.0.0.1", config.metrics.port))


def test_a_state_folder_too_deep_for_a_unix_socket_is_a_config_error_naming_the_key(tmp_path):
    config = config_in(tmp_path, state=str(tmp_path / ("d" * 100)))
    with pytest.raises(ConfigError, match=r"\[station\] state_dir: .*longer than 107 bytes"):
        prepare(config, SystemdNotifier(), threading.Event())
    assert not config.station.state_dir.exists()


def test_a_state_folder_that_is_a_file_is_a_config_error_naming_the_key(tmp_path):
    (tmp_path / "state").write_text("not a folder")
    with pytest.raises(ConfigError, match=r"\[station\] state_dir: .*state is not a folder"):
        prepare(config_in(tmp_path), SystemdNotifier(), threading.Event())


def test_too_little_space_waits_until_told_to_stop_and_creates_nothing(tmp_path):
    config = config_in(tmp_path)
    config = replace(config, spool=replace(config.spool, prefetch_bytes=1 << 60))  # more than any disk
    stop = threading.Event()
    threading.Timer(0.3, stop.set).start()
    assert prepare(config, SystemdNotifier(), stop) is None
    assert not config.station.state_dir.exists()


def test_the_space_needed_is_the_spools_remaining_room_and_the_margin(tmp_path):
    config = config_in(tmp_path)
    spool = config.station.state_dir / "spool"
    spool.mkdir(parents=True)
    (spool / "a.payload").write_bytes(b"x" * 1000)
    assert min_free_bytes(config) == config.spool.prefetch_bytes - 1000 + MARGIN_BYTES



_PREPARE_AS_USER = """
import sys, threading
from agent.config import load_config
from agent.observe import SystemdNotifier
from agent.os_faults import OsFaultError
from agent.startup import prepare
try:
    prepare(load_config(sys.argv[1]), SystemdNotifier(), threading.Event())
except OsFaultError as exc:
    print(exc.fault.line("en"))
"""


def test_a_state_folder_that_cannot_be_made_is_named_itself_never_its_parent():
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv (util-linux): runs as another user")
    root = Path(tempfile.mkdtemp(prefix="ktp-startup-", dir="/tmp"))
    try:
        root.chmod(0o755)  # root's own folder: the other user may enter it, not write in it
        state = root / "ktp-agent"
        config = config_in(root, state=str(state))
        done = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c",
                               _PREPARE_AS_USER, str(config.path)], capture_output=True, text=True, timeout=60,
                              cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    assert done.stdout.startswith(f"permission denied on {state}: "), done.stdout + done.stderr
    assert f"`chown -R ktp-agent:ktp-agent {state}`" in done.stdout and f"{root}`" not in done.stdout
