"""``sim://`` URIs: a simulated device on a real link, driven by the real driver.

    sim://printer?state=DIR&link=pipe|pty&print_ms=0&png=DIR&cards=N&ribbon=N&ribbon_type=YMCKO
    sim://reader?state=DIR&link=pipe|pty

The printer and the reader of one station share ``state`` (the contactless
station between them). ``link=pipe`` (default) is an in-process byte pipe;
``link=pty`` a pseudo-terminal opened with pyserial, exactly like hardware.
"""
from __future__ import annotations

import os
import tempfile

from ..errors import UnsupportedDeviceError
from ..interfaces import Printer, Reader
from ..registry import DeviceUri
from ..transport import Transport
from .host import SimulatedDevice, SimulatorHost, serve_over_pipe, serve_over_pty


class _HostedTransport:
    """A driver-side transport that also stops its simulator when closed."""

    def __init__(self, inner: Transport, host: SimulatorHost) -> None:
        self._inner, self._host = inner, host

    def write(self, data: bytes) -> None:
        self._inner.write(data)

    def read(self, size: int, timeout: float) -> bytes:
        return self._inner.read(size, timeout)

    def close(self) -> None:
        self._inner.close()
        self._host.stop()


def _link(device: SimulatedDevice, uri: DeviceUri, name: str) -> Transport:
    kind = uri.option("link", "pipe")
    if kind == "pipe":
        transport, host = serve_over_pipe(device, name)
    elif kind == "pty":
        from ..serial_transport import SerialTransport

        path, host = serve_over_pty(device, name)
        transport = SerialTransport(path)
    else:
        raise UnsupportedDeviceError(f"{uri.raw}: link={kind!r} is not pipe or pty")
    return _HostedTransport(transport, host)


def _state_dir(uri: DeviceUri) -> str:
    state = uri.option("state")
    if state:
        os.makedirs(state, exist_ok=True)
        return state
    return tempfile.mkdtemp(prefix="ktp-sim-")


def _int(uri: DeviceUri, name: str) -> int | None:
    raw = uri.option(name)
    if raw in (None, ""):
        return None
    try:
        return int(raw)
    except ValueError:
        raise UnsupportedDeviceError(f"{uri.raw}: option {name}={raw!r} is not an integer") from None


def open_simulated_printer(uri: DeviceUri) -> Printer:
    if uri.target != "printer":
        raise UnsupportedDeviceError(f"{uri.raw}: expected sim://printer")
    from ..evolis.printer import EvolisPrinter
    from .evolis import SimulatedEvolis
    from .evolis_state import EvolisStateFile

    state = _state_dir(uri)
    # cards= and ribbon= stock a new simulator; a persisted one keeps its own supplies.
    fresh = EvolisStateFile(state).load() is None
    device = SimulatedEvolis(
        state,
        print_seconds=(_int(uri, "print_ms") or 0) / 1000.0,
        png_dir=uri.option("png") or None,
        feeder_cards=_int(uri, "cards") if fresh else None,
        ribbon_prints=_int(uri, "ribbon") if fresh else None,
        ribbon_type=(uri.option("ribbon_type") or "YMCKO").upper(),
    )
    return EvolisPrinter(_link(device, uri, "sim-printer"))


def open_simulated_reader(uri: DeviceUri) -> Reader:
    if uri.target != "reader":
        raise UnsupportedDeviceError(f"{uri.raw}: expected sim://reader")
    from ..pn532.reader import Pn532Reader
    from .pn532 import SimulatedPn532

    device = SimulatedPn532(_state_dir(uri))
    return Pn532Reader.over_hsu(_link(device, uri, "sim-reader"))
