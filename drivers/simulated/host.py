"""Run a simulated device on the far end of a transport, in its own thread.

A simulated device is a byte-level state machine: ``feed(data) -> reply``.
The host reads whatever the driver wrote, feeds it, and writes the reply
back, so the driver talks to the simulator exactly as to hardware.
"""
from __future__ import annotations

import os
import threading
import tty
from typing import Protocol

from ..errors import DisconnectedError, TransportTimeoutError
from ..transport import FdTransport, Transport, pipe_pair


class SimulatedDevice(Protocol):
    def feed(self, data: bytes) -> bytes:
        """Consume bytes from the host; return the bytes the device sends back."""


class SimulatorHost:
    """Pumps bytes between one transport end and a simulated device."""

    def __init__(self, device: SimulatedDevice, link: Transport, name: str = "sim") -> None:
        self.device = device
        self._link = link
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name=f"{name}-host", daemon=True)

    def start(self) -> "SimulatorHost":
        self._thread.start()
        return self

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                chunk = self._link.read(1 << 20, timeout=0.2)
            except TransportTimeoutError:
                continue
            except DisconnectedError:
                return
            reply = self.device.feed(chunk)
            if reply:
                try:
                    self._link.write(reply)
                except DisconnectedError:
                    return

    def stop(self) -> None:
        """Unplug: the driver's next read or write fails as on a pulled cable."""
        self._stop.set()
        self._link.close()
        self._thread.join(timeout=2)


def serve_over_pipe(device: SimulatedDevice, name: str = "sim") -> tuple[Transport, SimulatorHost]:
    """An in-process link: returns the driver's end and the running host."""
    driver_end, device_end = pipe_pair()
    return driver_end, SimulatorHost(device, device_end, name).start()


def serve_over_pty(device: SimulatedDevice, name: str = "sim") -> tuple[str, SimulatorHost]:
    """A pseudo-terminal link: returns the slave path for pyserial and the host."""
    master, slave = os.openpty()
    tty.setraw(slave)
    path = os.ttyname(slave)
    # Keep the slave open until the driver has it, so early writes do not EIO.
    host = SimulatorHost(device, FdTransport(master), name)
    host.slave_fd = slave  # type: ignore[attr-defined]
    return path, host.start()
