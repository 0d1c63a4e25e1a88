"""``sim://`` URIs: a simulated device on a real link, driven by the real driver.

    sim://printer?state=DIR&link=pipe|pty|usb&print_ms=0&panel_ms=0&png=DIR&cards=N&ribbon=N&ribbon_type=YMCKO
                 &baud=N&bytes_per_s=N&cleaning_due=N&cleaning_mandatory=N
    sim://reader?state=DIR&link=pipe|pty|usb&random_uid=0|1

The printer and the reader of one station share ``state`` (the contactless
station between them). ``link=pipe`` (default) is an in-process byte pipe;
``link=pty`` a pseudo-terminal opened with pyserial, exactly like hardware.
``link=usb`` puts the device on a simulated pyusb bus (see usb_backend): the
printer as an Evolis USB printer, the reader as an ACR122U, both opened with
the real UsbBulkTransport.

Link honesty: the printer simulator receives bytes at the link's rate:
``baud=N`` (a serial line, N/10 bytes a second), ``bytes_per_s=N``, or by
default about 1,000,000 bytes a second on ``link=usb`` (full speed) and no
limit on a pipe or pty; printing takes ``print_ms`` a card plus
``panel_ms`` a panel. ``cleaning_due`` and ``cleaning_mandatory`` are the
cards since the last cleaning at which the printer asks for cleaning.
An option no simulator knows is an error that names it (the options are
listed in ``drivers.uri.SCHEMES``).

Faults at start take the simulators' fault names as options (see
``faults.faults_from_options``): ``jam_at_card=3``, ``cover_open=1``,
``mechanical_error=1``, ``chip_unreadable=1`` (printer), ``chip_absent=1``
(reader), ``no_reply=1``, ``garbage=1``, ``slow_ms=N`` (not on link=usb).
``control=ADDRESS`` (a socket path or loopback HOST:PORT) serves the
simulator's control channel (see ``control``) while the device is open, so
a test can inject faults into a daemon's simulator from outside; an
``{"unplug": true, "seconds": N}`` there keeps the cable out for N seconds
(opening the URI fails with DisconnectedError until then).
``random_uid=1`` gives the reader's card a random UID (4 bytes, first byte
0x08), new at every activation.
"""
from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable

from ..errors import DisconnectedError, UnsupportedDeviceError
from ..interfaces import Printer, Reader
from ..line_devices import open_or_close
from ..uri import DeviceUri, DeviceUriError, Role, parse_uri
from ..transport import Transport
from .faults import fault_options
from .files import unplugged_seconds
from .host import SimulatedDevice, SimulatorHost, serve_over_pipe, serve_over_pty


class _HostedTransport:
    """A driver-side transport that also stops its simulator when closed."""

    def __init__(self, inner: Transport, host: SimulatorHost) -> None:
        self._inner, self._host = inner, host
        self.on_close: list[Callable[[], None]] = []  # e.g. the simulator's control channel

    def write(self, data: bytes) -> None:
        self._inner.write(data)

    def read(self, size: int, timeout: float) -> bytes:
        return self._inner.read(size, timeout)

    def close(self) -> None:
        while self.on_close:
            self.on_close.pop()()
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
    elif kind == "usb":
        from .usb_backend import serve_over_usb

        transport, host = serve_over_usb(device)  # type: ignore[assignment]
    else:
        raise UnsupportedDeviceError(f"{uri}: link={kind!r} is not pipe, pty or usb")
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
        raise UnsupportedDeviceError(f"{uri}: option {name}={raw!r} is not an integer") from None


def _flag(uri: DeviceUri, name: str) -> bool:
    raw = (uri.option(name) or "0").strip().lower()
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise UnsupportedDeviceError(f"{uri}: option {name}={raw!r} is not 1 or 0")


USB_FULL_SPEED_BYTES_PER_S = 1_000_000


def link_bytes_per_s(uri: DeviceUri) -> float | None:
    """The byte rate of the simulated printer's link; None for no limit."""
    rate, baud = _int(uri, "bytes_per_s"), _int(uri, "baud")
    if rate:
        return float(rate)
    if baud:
        return baud / 10.0
    return float(USB_FULL_SPEED_BYTES_PER_S) if uri.option("link") == "usb" else None


def open_simulated_printer(uri: DeviceUri) -> Printer:
    if uri.target != "printer":
        raise UnsupportedDeviceError(f"{uri}: expected sim://printer")
    from ..evolis.printer import EvolisPrinter
    from .evolis import SimulatedEvolis
    from .evolis_state import EvolisStateFile

    state = _state_dir(uri)
    # cards= and ribbon= stock a new simulator; a persisted one keeps its own supplies.
    fresh = EvolisStateFile(state).load() is None
    rate = link_bytes_per_s(uri)
    device = SimulatedEvolis(
        state,
        print_seconds=(_int(uri, "print_ms") or 0) / 1000.0,
        panel_seconds=(_int(uri, "panel_ms") or 0) / 1000.0,
        bytes_per_s=rate,
        png_dir=uri.option("png") or None,
        feeder_cards=_int(uri, "cards") if fresh else None,
        ribbon_prints=_int(uri, "ribbon") if fresh else None,
        ribbon_type=(uri.option("ribbon_type") or "YMCKO").upper(),
        cleaning_due_at=_int(uri, "cleaning_due"),
        cleaning_mandatory_at=_int(uri, "cleaning_mandatory"),
    )
    link = _simulator_link(device, uri, "printer", state, "sim-printer")
    return open_or_close(link, lambda transport: EvolisPrinter(transport, link_bytes_per_s=rate))


def open_simulated_reader(uri: DeviceUri) -> Reader:
    if uri.target != "reader":
        raise UnsupportedDeviceError(f"{uri}: expected sim://reader")
    from ..pn532.reader import Pn532Reader
    from .pn532 import SimulatedPn532

    state = _state_dir(uri)
    device = SimulatedPn532(state, random_uid=_flag(uri, "random_uid"))
    if uri.option("link") == "usb":  # an ACR122U: the same PN532 behind CCID
        from ..pn532.acr122u import open_acr122u_reader

        return open_or_close(_simulator_link(device, uri, "reader", state, "sim-reader"), open_acr122u_reader)
    return open_or_close(_simulator_link(device, uri, "reader", state, "sim-reader"), Pn532Reader.over_hsu)


def _simulator_link(device: SimulatedDevice, uri: DeviceUri, role: str, state: str, name: str) -> _HostedTransport:
    """``_link`` with the URI's faults applied and, given ``control=``, a control channel."""
    from .faults import WIRE_FAULTS, FaultyLink, faults_from_options

    out_for = unplugged_seconds(state, role, time.time())
    if out_for:
        raise DisconnectedError(f"{uri}: the simulated {role}'s cable is unplugged for another {out_for:.0f} s")
    try:
        faults = faults_from_options(role, uri.options)
    except ValueError as exc:
        raise UnsupportedDeviceError(f"{uri}: {exc}") from None
    faulty = FaultyLink(device, role=role)  # type: ignore[arg-type]
    on_usb = uri.option("link") == "usb"  # the USB front needs the device itself
    for fault, value in faults.items():
        if on_usb and fault in WIRE_FAULTS:
            raise UnsupportedDeviceError(f"{uri}: {fault} is not available on link=usb")
        faulty.set_fault(fault, value)
    transport = _link(device if on_usb else faulty, uri, name)
    assert isinstance(transport, _HostedTransport)
    address = uri.option("control")
    if address:
        from .control import ControlError, ControlServer, InProcessControl

        target = InProcessControl(role, faulty, state, str(uri), unplug=transport._host.stop,
                                  wire_faults=not on_usb)
        try:
            server = ControlServer(target, address).start()
        except (ControlError, OSError) as exc:
            transport.close()
            raise UnsupportedDeviceError(f"{uri}: control channel: {exc}") from None
        transport.on_close.append(server.close)
    return transport


def control_address(uri: str) -> str | None:
    """The control channel a ``sim://`` URI serves (``control=``), else None."""
    try:
        parsed = parse_uri(uri)
    except DeviceUriError:
        return None
    return parsed.option("control") or None if parsed.scheme == "sim" else None


def printout_folder(uri: str) -> str | None:
    """The folder a ``sim://printer`` URI's simulator writes its card images to (``png=``), else None."""
    try:
        parsed = parse_uri(uri)
    except DeviceUriError:
        return None
    if parsed.scheme != "sim" or parsed.target != Role.PRINTER.value:
        return None
    return parsed.option("png") or None
