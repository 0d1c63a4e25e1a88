"""The in-process byte pipe the simulated devices are served over."""
from __future__ import annotations

import threading

import pytest

from drivers.errors import DisconnectedError, TransportTimeoutError
from drivers.simulated.evolis import SimulatedEvolis
from drivers.simulated.host import IDLE_READ_S, serve_over_pipe
from drivers.transport import pipe_pair


def test_bytes_cross_in_order_and_a_quiet_pipe_times_out():
    a, b = pipe_pair()
    a.write(b"abc")
    a.write(b"def")
    assert b.read(4, timeout=1) + b.read(4, timeout=1) == b"abcdef"
    with pytest.raises(TransportTimeoutError):
        b.read(1, timeout=0.01)


def test_closing_an_end_ends_a_read_blocked_on_it_and_the_peer_sees_the_cable_pulled():
    a, b = pipe_pair()
    failed: list[BaseException] = []

    def reader() -> None:
        try:
            a.read(1, timeout=60)
        except DisconnectedError as exc:
            failed.append(exc)

    thread = threading.Thread(target=reader)
    thread.start()
    a.close()
    thread.join(5)
    assert not thread.is_alive() and "closed" in str(failed[0])
    with pytest.raises(DisconnectedError, match="peer closed"):
        b.read(1, timeout=1)
    with pytest.raises(DisconnectedError):
        b.write(b"x")


def test_stopping_a_simulator_host_is_prompt_though_its_reads_wait_long(tmp_path):
    transport, host = serve_over_pipe(SimulatedEvolis(tmp_path / "sim"), "pipe-test")
    host.stop()
    assert not host._thread.is_alive(), f"the host still waits in a {IDLE_READ_S} s read"
    with pytest.raises(DisconnectedError):
        transport.read(1, timeout=1)
