"""Printers and readers on a byte line: ``serial://`` ports and ``socket://`` bridges, opened with pyserial."""
from __future__ import annotations

from collections.abc import Callable

from .evolis.printer import EvolisPrinter, Generation
from .interfaces import Printer, Reader
from .pn532.reader import Pn532Reader
from .serial_transport import SerialTransport
from .transport import Transport
from .uri import DeviceUri, DeviceUriError, format_uri

DEFAULT_BAUD = 115200
_FLAGS = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False, "off": False}
#: What each pyserial setting of a serial:// URI may be, as written.
_SETTINGS: dict[str, dict[str, object]] = {
    "bytesize": {"5": 5, "6": 6, "7": 7, "8": 8},
    "parity": {"N": "N", "E": "E", "O": "O", "M": "M", "S": "S"},
    "stopbits": {"1": 1, "1.5": 1.5, "2": 2},
    "xonxoff": _FLAGS, "rtscts": _FLAGS, "dsrdtr": _FLAGS,
}


def open_line_printer(uri: DeviceUri) -> Printer:
    transport = line_transport(uri)
    rate = _baud(uri) / 10 if uri.scheme == "serial" else None
    return evolis_printer(transport, uri, rate)


def open_line_reader(uri: DeviceUri) -> Reader:
    return open_or_close(line_transport(uri), Pn532Reader.over_hsu)


def line_transport(uri: DeviceUri) -> SerialTransport:
    """The pyserial transport a serial:// or socket:// URI names, with its settings."""
    if uri.scheme == "socket":  # pyserial's own socket handler reads the rest (logging=)
        rest = tuple((name, value) for name, value in uri.query if name != "generation")
        return SerialTransport(format_uri(DeviceUri("socket", uri.target, rest)))
    settings = {name: _setting(uri, name) for name, _ in uri.query if name in _SETTINGS}
    return SerialTransport(uri.target, baudrate=_baud(uri), **settings)


def evolis_printer(transport: Transport, uri: DeviceUri, rate: float | None) -> Printer:
    """An EvolisPrinter over ``transport`` of the URI's ``generation=``; the transport is closed if it fails."""
    raw = uri.option("generation")
    try:
        generation = Generation(raw) if raw else None
    except ValueError:
        transport.close()
        known = ", ".join(g.value for g in Generation)
        raise DeviceUriError(f"device URI {str(uri)!r}: generation={raw!r} is not one of {known}") from None
    return open_or_close(transport, lambda t: EvolisPrinter(t, generation=generation, link_bytes_per_s=rate))


def open_or_close(transport: Transport, opener: Callable[[Transport], object]):  # type: ignore[no-untyped-def]
    """The driver ``opener`` makes over ``transport``; if it cannot open, the transport is closed."""
    try:
        return opener(transport)
    except BaseException:
        transport.close()
        raise


def _baud(uri: DeviceUri) -> int:
    raw = uri.option("baud") or str(DEFAULT_BAUD)
    if not raw.isdigit() or int(raw) == 0:
        raise DeviceUriError(f"device URI {str(uri)!r}: baud={raw!r} is not a positive whole number")
    return int(raw)


def _setting(uri: DeviceUri, name: str) -> object:
    raw, allowed = uri.option(name) or "", _SETTINGS[name]
    value = allowed.get(raw.upper() if name == "parity" else raw.lower())
    if value is None:
        raise DeviceUriError(f"device URI {str(uri)!r}: {name}={raw!r} is not one of "
                             f"{', '.join(dict.fromkeys(allowed))}")
    return value
