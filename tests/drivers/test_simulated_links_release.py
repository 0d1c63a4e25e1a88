"""Simulator links own what they open: closing a device releases every
descriptor and thread its link took, and wakes the simulator waiting on it.

Each test counts the process's open descriptors (/proc/self/fd) and threads
(threading.active_count) before and after many open/close cycles of a real device
on a real link. The time of each close is measured, and only a generous
bound is asserted: a close that has to wait for a blocked ``select`` to time
out takes seconds, one that wakes it takes milliseconds.
"""
from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from drivers.errors import DisconnectedError
from drivers.evolis.protocol import encode_command
from drivers.registry import open_printer, open_reader
from drivers.serial_transport import SerialTransport
from drivers.simulated.evolis import SimulatedEvolis
from drivers.simulated.host import serve_over_tcp
from drivers.simulated.links import PtyLink
from drivers.simulated.standalone import SimulatorOptions, StandaloneSimulator
from drivers.transport import FdTransport

CYCLES = 30
#: Bounds the loop, not the code: 30 cycles of any link take well under this.
BUDGET_S = 20.0
#: A close that wakes the simulator returns in milliseconds; one that waits out its read, in seconds.
PROMPT_CLOSE_S = 0.5
FIRMWARE_QUERY = encode_command("Rfv")
LINKS = [(role, link) for role in ("printer", "reader") for link in ("pipe", "pty", "usb")]


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def running_threads() -> int:
    # Python's count: a joined thread has left it, though its OS task may linger for a moment.
    return threading.active_count()


def cycle_until_done(cycle: Callable[[], float]) -> list[float]:
    """Run ``cycle`` (which returns how long its close took) CYCLES times, or until the budget is spent."""
    cycle()  # the first open imports modules and warms caches: not a leak
    fds, threads = open_descriptors(), running_threads()
    closes: list[float] = []
    deadline = time.monotonic() + BUDGET_S
    while len(closes) < CYCLES and time.monotonic() < deadline:
        closes.append(cycle())
    assert open_descriptors() <= fds, (
        f"{open_descriptors() - fds} descriptors more after {len(closes)} open/close cycles")
    assert running_threads() <= threads, (
        f"{running_threads() - threads} threads more after {len(closes)} open/close cycles")
    return closes


def sim_device_cycle(role: str, link: str, state: Path) -> Callable[[], float]:
    opener = open_printer if role == "printer" else open_reader
    uri = f"sim://{role}?state={state}&link={link}"

    def cycle() -> float:
        device = opener(uri)
        started = time.monotonic()
        device.close()
        return time.monotonic() - started

    return cycle


@pytest.mark.parametrize(("role", "link"), LINKS, ids=[f"{role}-{link}" for role, link in LINKS])
def test_opening_and_closing_a_simulated_device_leaves_no_descriptor_or_thread_behind(role, link, tmp_path):
    closes = cycle_until_done(sim_device_cycle(role, link, tmp_path))
    assert len(closes) == CYCLES, f"only {len(closes)} cycles in {BUDGET_S} s (slowest close {max(closes):.2f} s)"


@pytest.mark.parametrize(("role", "link"), LINKS, ids=[f"{role}-{link}" for role, link in LINKS])
def test_closing_a_simulated_device_wakes_its_simulator_at_once(role, link, tmp_path):
    cycle = sim_device_cycle(role, link, tmp_path)
    for _ in range(5):
        took = cycle()
        assert took < PROMPT_CLOSE_S, f"closing sim://{role}?link={link} took {took:.2f} s"


def test_stopping_a_tcp_bridge_wakes_a_host_still_waiting_for_its_client(tmp_path):
    simulator = SimulatedEvolis(tmp_path)

    def cycle() -> float:
        _url, host = serve_over_tcp(simulator)
        started = time.monotonic()
        host.stop()
        return time.monotonic() - started

    closes = cycle_until_done(cycle)
    assert max(closes) < PROMPT_CLOSE_S, f"the slowest stop took {max(closes):.2f} s"


def test_stopping_a_tcp_bridge_drops_its_client_and_leaves_nothing_behind(tmp_path):
    simulator = SimulatedEvolis(tmp_path)

    def cycle() -> float:
        url, host = serve_over_tcp(simulator)
        with socket.create_connection(_address(url), timeout=5) as client:
            client.sendall(FIRMWARE_QUERY)  # a reply proves the bridge serves
            assert client.recv(64)
            started = time.monotonic()
            host.stop()
            took = time.monotonic() - started
            assert client.recv(64) == b"", "the bridge still holds the connection"
        return took

    closes = cycle_until_done(cycle)
    assert max(closes) < PROMPT_CLOSE_S, f"the slowest stop took {max(closes):.2f} s"


def test_closing_a_pty_link_ends_a_read_and_a_write_blocked_on_it_in_other_threads():
    fds = open_descriptors()
    link = PtyLink()
    ended: dict[str, float] = {}

    def blocked(name: str, call: Callable[[], object]) -> threading.Thread:
        def run() -> None:
            with pytest.raises(DisconnectedError):
                call()
            ended[name] = time.monotonic()

        thread = threading.Thread(target=run, name=f"blocked-{name}")
        thread.start()
        return thread

    # Nobody reads the slave, so the pty's buffer fills and the write waits; nobody writes, so the read waits.
    threads = [blocked("read", lambda: link.read(64, timeout=30)),
               blocked("write", lambda: link.write(bytes(1 << 20)))]
    deadline = time.monotonic() + 5
    while not _waiting_in_poll(threads) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _waiting_in_poll(threads), "the read and the write never came to wait"
    closed_at = time.monotonic()
    link.close()
    for thread in threads:
        thread.join(timeout=5)
    assert not any(thread.is_alive() for thread in threads), "a call still waits on the closed link"
    assert max(ended.values()) - closed_at < PROMPT_CLOSE_S, ended
    assert open_descriptors() <= fds, "the pty or its wake-up pipe is still open"


def _waiting_in_poll(threads: list[threading.Thread]) -> bool:
    """Whether every thread sleeps in poll (its kernel wait channel), so the close surely finds it waiting."""
    return all(thread.native_id is not None and _wait_channel(thread.native_id) for thread in threads)


def _wait_channel(tid: int) -> bool:
    task = Path(f"/proc/self/task/{tid}")
    channel = (task / "wchan").read_text()
    if channel not in ("", "0"):
        return "poll" in channel
    return (task / "stat").read_text().rpartition(")")[2].split()[0] == "S"  # a kernel that hides wchan


@pytest.mark.parametrize("tcp", [False, True], ids=["pty", "tcp"])
def test_unplugging_a_standalone_simulator_many_times_drops_its_client_and_leaves_nothing_behind(tcp, tmp_path):
    sim = StandaloneSimulator(SimulatorOptions(
        role="printer", state_dir=tmp_path, tcp=("127.0.0.1", 0) if tcp else None)).start()
    try:
        def cycle() -> float:
            sim.replug()
            client = _connected_client(sim.uri)
            try:
                client.write(FIRMWARE_QUERY)
                assert client.read(64, timeout=5), "the simulator did not answer"
                started = time.monotonic()
                sim.unplug()
                took = time.monotonic() - started
                with pytest.raises(DisconnectedError):
                    client.read(64, timeout=5)
            finally:
                client.close()
            return took

        closes = cycle_until_done(cycle)
    finally:
        sim.stop()
    assert max(closes) < PROMPT_CLOSE_S, f"the slowest unplug took {max(closes):.2f} s"


def _connected_client(uri: str) -> SerialTransport | FdTransport:
    """A client on the simulator's link: pyserial on the pty, a plain socket over TCP.

    (pyserial's socket:// close sleeps 0.3 s, which 30 cycles need not wait through.)
    """
    if uri.startswith("socket://"):
        return FdTransport(socket.create_connection(_address(uri), timeout=5).detach())
    return SerialTransport(uri.removeprefix("serial://"))


def _address(url: str) -> tuple[str, int]:
    host, _, port = url.removeprefix("socket://").rpartition(":")
    return host, int(port)
