"""Devices by URI.

    sim://printer?state=DIR&link=pipe|pty&print_ms=0&png=DIR&cards=N&ribbon=N
    sim://reader?state=DIR&link=pipe|pty
    serial:///dev/ttyUSB0?baud=115200
    socket://127.0.0.1:7000            (a serial-over-TCP bridge)
    usb://0f49:<pid>[?serial=SN]       (an Evolis printer on its USB printer-class interface)
    ...&generation=primacy|rev-e       (an Evolis printer's generation; by default from the model it reports)
    usb://072f:2200[?serial=SN]        (an ACR122U reader: PN532 commands over CCID)
    sim://printer?link=usb, sim://reader?link=usb   (simulators behind a simulated pyusb backend)

Each scheme's module is imported only when the scheme is used, so a missing
optional library disables only its own scheme.
"""
from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from .errors import UnsupportedDeviceError
from .interfaces import Printer, Reader


@dataclass(frozen=True)
class DeviceUri:
    scheme: str
    target: str          # "printer"/"reader" for sim, a path for serial, host:port for socket
    options: dict[str, str]
    raw: str

    def option(self, name: str, default: str | None = None) -> str | None:
        return self.options.get(name, default)


def parse_uri(uri: str) -> DeviceUri:
    parts = urlsplit(uri)
    if not parts.scheme:
        raise UnsupportedDeviceError(f"device URI {uri!r} has no scheme")
    options = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    target = parts.netloc + parts.path if parts.scheme != "serial" else parts.path or parts.netloc
    return DeviceUri(parts.scheme, target, options, uri)


def open_printer(uri: str) -> Printer:
    parsed = parse_uri(uri)
    if parsed.scheme == "sim":
        from .simulated.factory import open_simulated_printer

        return open_simulated_printer(parsed)
    from .evolis.printer import EvolisPrinter, Generation

    raw_generation = parsed.option("generation")
    try:
        generation = Generation(raw_generation) if raw_generation else None
    except ValueError:
        known = ", ".join(g.value for g in Generation)
        raise UnsupportedDeviceError(f"device URI {uri!r}: generation={raw_generation!r} is not one of {known}") from None
    if parsed.scheme == "usb":
        transport, rate = _usb_transport(parsed, _EVOLIS_IDS, "an Evolis printer"), _USB_FULL_SPEED
    else:
        transport = _byte_transport(parsed)
        rate = int(parsed.option("baud", "115200") or 115200) / 10 if parsed.scheme == "serial" else None
    try:
        return EvolisPrinter(transport, generation=generation, link_bytes_per_s=rate)
    except BaseException:
        transport.close()
        raise


def open_reader(uri: str) -> Reader:
    parsed = parse_uri(uri)
    if parsed.scheme == "sim":
        from .simulated.factory import open_simulated_reader

        return open_simulated_reader(parsed)
    if parsed.scheme == "usb":
        from .pn532.acr122u import open_acr122u_reader

        return open_acr122u_reader(_usb_transport(parsed, _ACR122U_IDS, "an ACR122U reader"))
    from .pn532.reader import Pn532Reader

    return Pn532Reader.over_hsu(_byte_transport(parsed))


def _byte_transport(parsed: DeviceUri):
    if parsed.scheme == "serial":
        from .serial_transport import SerialTransport

        return SerialTransport(parsed.target, baudrate=int(parsed.option("baud", "115200") or 115200))
    if parsed.scheme == "socket":
        from .serial_transport import SerialTransport

        return SerialTransport(f"socket://{parsed.target}")
    raise UnsupportedDeviceError(f"device URI {parsed.raw!r}: scheme {parsed.scheme!r} is not supported")


#: Bytes a second on USB full speed, the printers' link.
_USB_FULL_SPEED = 1_000_000.0
#: Which USB ids each USB driver takes: (vendor, product or None for any product).
_EVOLIS_IDS = (0x0F49, None)
_ACR122U_IDS = (0x072F, 0x2200)


def _usb_transport(parsed: DeviceUri, ids: tuple[int, int | None], what: str):
    """The UsbBulkTransport a ``usb://VID:PID[?serial=SN]`` URI names, if it is ``what``."""
    try:
        from .usb_transport import UsbBulkTransport, parse_usb_ids
    except ImportError as exc:
        raise UnsupportedDeviceError(f"device URI {parsed.raw!r}: USB support is not installed ({exc})") from None
    try:
        vid, pid = parse_usb_ids(parsed.target)
    except ValueError as exc:
        raise UnsupportedDeviceError(f"device URI {parsed.raw!r}: {exc}") from None
    if vid != ids[0] or ids[1] not in (None, pid):
        wanted = f"{ids[0]:04x}:{'*' if ids[1] is None else format(ids[1], '04x')}"
        raise UnsupportedDeviceError(f"device URI {parsed.raw!r}: {what} is usb://{wanted}")
    return UsbBulkTransport(vid, pid, serial=parsed.option("serial") or None)
