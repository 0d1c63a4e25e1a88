"""The control socket: JSON lines on a 0600 unix socket, and device requests run by the devices' owner."""
from __future__ import annotations

import json
import queue
import socket
import stat
import threading

import pytest

from agent.printing import DeviceRequest, DeviceRequestError
from agent.technician.control import ControlClient, ControlError, ControlServer, DaemonNotRunningError
from agent.errors import AgentError
from drivers.errors import DeviceFaultError, DisconnectedError, Severity, StateReason


@pytest.fixture
def served(tmp_path):
    calls = []

    def echo(request):
        calls.append(request)
        return {"echo": request}

    def refuse(request):
        raise AgentError("the printer is offline")

    server = ControlServer(tmp_path / "control.sock", {"ping": lambda r: {"pong": True}, "echo": echo,
                                                       "refuse": refuse}).start()
    yield server, calls
    server.stop()


def test_socket_is_private_to_its_owner(served):
    server, _ = served
    mode = server.path.stat().st_mode
    assert stat.S_ISSOCK(mode)
    assert stat.S_IMODE(mode) == 0o600
    assert not list(server.path.parent.glob(".control.sock.*"))  # the temporary name is gone


def test_request_and_reply_are_json_lines(served):
    server, calls = served
    reply = ControlClient(server.path).request("echo", test_card=True)
    assert reply == {"echo": {"op": "echo", "test_card": True}}
    assert calls == [{"op": "echo", "test_card": True}]


def test_several_requests_on_one_connection_and_bad_ones_answered_with_an_error(served):
    server, _ = served
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(5)
        sock.connect(str(server.path))
        sock.sendall(b'{"op": "ping"}\nnot json\n{"op": "nope"}\n{"no": "op"}\n{"op": "refuse"}\n')
        stream = sock.makefile("rb")
        replies = [json.loads(stream.readline()) for _ in range(5)]
    assert replies[0] == {"ok": True, "pong": True}
    assert replies[1] == {"ok": False, "error": "the request is not JSON"}
    assert "unknown op 'nope'" in replies[2]["error"] and "ping" in replies[2]["error"]
    assert replies[3]["ok"] is False
    assert replies[4] == {"ok": False, "error": "the printer is offline"}


def test_a_refusal_reaches_the_client_as_control_error(served):
    server, _ = served
    with pytest.raises(ControlError, match="the printer is offline"):
        ControlClient(server.path).request("refuse")


def test_no_daemon_is_told_apart_from_other_failures(tmp_path):
    with pytest.raises(DaemonNotRunningError):
        ControlClient(tmp_path / "control.sock").request("ping")
    dead = socket.socket(socket.AF_UNIX)
    dead.bind(str(tmp_path / "control.sock"))
    dead.close()  # a socket file nobody listens on: a daemon that died
    with pytest.raises(DaemonNotRunningError):
        ControlClient(tmp_path / "control.sock").request("ping")


def test_stale_socket_of_a_dead_daemon_is_replaced_but_a_live_one_is_not_taken(tmp_path):
    path = tmp_path / "control.sock"
    dead = socket.socket(socket.AF_UNIX)
    dead.bind(str(path))
    dead.close()
    first = ControlServer(path, {"ping": lambda r: {}}).start()
    try:
        with pytest.raises(ControlError, match="another ktp-agent daemon"):
            ControlServer(path, {"ping": lambda r: {}}).start()
        assert ControlClient(path).request("ping") == {}
    finally:
        first.stop()
    assert not path.exists()


def test_an_overlong_socket_path_is_refused_with_its_name(tmp_path):
    with pytest.raises(ControlError, match="longer than"):
        ControlServer(tmp_path / ("x" * 120) / "control.sock", {})


# -- device requests ----------------------------------------------------------------

class Owner:
    """Stands for the print worker: the one thread that runs device requests, between 'jobs'."""

    def __init__(self) -> None:
        self.inbox: queue.Queue[DeviceRequest] = queue.Queue()
        self.ran_on: list[str] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="printer", daemon=True)
        self.errors: list[Exception] = []

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                request = self.inbox.get(timeout=0.05)
            except queue.Empty:
                continue
            try:
                request.run("the-printer", "the-reader")
            except DisconnectedError as exc:
                self.errors.append(exc)

    def submit(self, action, timeout=5.0):
        request = DeviceRequest(action)
        self.inbox.put(request)
        return request.wait(timeout)


@pytest.fixture
def owner():
    o = Owner()
    o.thread.start()
    yield o
    o.stop.set()
    o.thread.join(5)


def test_the_action_runs_on_the_owner_thread_with_its_devices(owner):
    def action(printer, reader):
        owner.ran_on.append(threading.current_thread().name)
        return printer, reader

    assert owner.submit(action) == ("the-printer", "the-reader")
    assert owner.ran_on == ["printer"]


def test_a_device_fault_becomes_the_requests_error_and_the_owner_goes_on(owner):
    def jammed(printer, reader):
        raise DeviceFaultError(StateReason("cover-open", Severity.ERROR), "NACK C to St")

    with pytest.raises(DeviceRequestError, match="cover-open"):
        owner.submit(jammed)
    with pytest.raises(DeviceRequestError, match="internal error: ZeroDivisionError"):
        owner.submit(lambda p, r: 1 / 0)
    assert owner.submit(lambda p, r: "still serving") == "still serving"


def test_a_lost_device_is_reported_and_reraised_to_the_owner(owner):
    def unplugged(printer, reader):
        raise DisconnectedError("pty closed")

    with pytest.raises(DeviceRequestError, match="stopped answering"):
        owner.submit(unplugged)
    assert [str(e) for e in owner.errors] == ["pty closed"]


def test_a_request_not_taken_in_time_is_cancelled_and_never_runs_later():
    ran = []
    request = DeviceRequest(lambda p, r: ran.append(1))
    with pytest.raises(DeviceRequestError, match="did not take the request"):
        request.wait(0.05)
    request.run(None, None)  # the owner gets to it late
    assert ran == []


def test_a_refused_request_answers_at_once_with_the_reason():
    request = DeviceRequest(lambda p, r: None)
    request.refuse("the devices went offline")
    with pytest.raises(DeviceRequestError, match="went offline"):
        request.wait(5)
