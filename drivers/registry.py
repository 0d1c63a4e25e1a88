"""Devices by URI.

    sim://printer?state=DIR&link=pipe|pty&print_ms=0&png=DIR&cards=N&ribbon=N
    sim://reader?state=DIR&link=pipe|pty
    serial:///dev/ttyUSB0?baud=115200
    socket://127.0.0.1:7000            (a serial-over-TCP bridge)

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
    from .evolis.printer import EvolisPrinter

    return EvolisPrinter(_byte_transport(parsed))


def open_reader(uri: str) -> Reader:
    parsed = parse_uri(uri)
    if parsed.scheme == "sim":
        from .simulated.factory import open_simulated_reader

        return open_simulated_reader(parsed)
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
