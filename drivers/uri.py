"""Device URIs: how they are written, which options each scheme takes, which module opens it.

    serial:///dev/ttyUSB0?baud=115200    (a serial line; also pyserial's bytesize, parity, stopbits,
                                          xonxoff, rtscts, dsrdtr)
    socket://127.0.0.1:7000              (a serial-over-TCP bridge; also pyserial's logging=LEVEL)
    usb://0f49:<pid>[?serial=SN]         (an Evolis printer on its USB printer-class interface)
    usb://072f:2200[?serial=SN]          (an ACR122U reader: PN532 commands over CCID)
    ...&generation=primacy|rev-e         (a printer's generation; by default from the model it reports)
    sim://printer?..., sim://reader?...  (simulated devices: see drivers.simulated.factory)

A URI is a contract: an option its scheme does not take for that device is
an error naming the option and the URI, as pyserial's URL handlers do, and
as unknown configuration keys are. Each scheme's opener lives in a module
imported only when the scheme is used, so a missing optional library
(pyusb) disables only its own scheme.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path
from types import MappingProxyType
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

from .errors import UnsupportedDeviceError


class DeviceUriError(UnsupportedDeviceError):
    """A device URI is malformed or names an option its scheme does not take."""


class Role(Enum):
    PRINTER = "printer"
    READER = "reader"


@dataclass(frozen=True)
class DeviceUri:
    """One device URI, parsed: ``scheme://target?name=value&...``."""

    scheme: str
    target: str                              # "printer"/"reader" for sim, a path, host:port or VID:PID
    query: tuple[tuple[str, str], ...] = ()  # the options in their written order, each name once
    raw: str = field(default="", compare=False)  # as written, for messages

    @property
    def options(self) -> Mapping[str, str]:
        return MappingProxyType(dict(self.query))

    def option(self, name: str, default: str | None = None) -> str | None:
        return dict(self.query).get(name, default)

    def replace_options(self, changes: Mapping[str, str]) -> DeviceUri:
        """This URI with some options' values changed (or added at the end)."""
        query = [(name, changes.get(name, value)) for name, value in self.query]
        query += [(name, value) for name, value in changes.items() if name not in self.options]
        changed = replace(self, query=tuple(query), raw="")
        return replace(changed, raw=format_uri(changed))

    def __str__(self) -> str:
        return self.raw or format_uri(self)


@dataclass(frozen=True)
class Opener:
    """Where the function that opens one kind of device on a scheme lives, and the options it takes."""

    module: str
    function: str
    options: frozenset[str]
    #: A function (in ``module``) that names further options, such as a simulator's fault names;
    #: looked up when options are checked, so this module imports no device module.
    more_options: str = ""

    def allowed(self, role: "Role") -> frozenset[str]:
        if not self.more_options:
            return self.options
        more = getattr(importlib.import_module(self.module), self.more_options)
        return self.options | frozenset(more(role.value))


@dataclass(frozen=True)
class Scheme:
    name: str
    printer: Opener | None
    reader: Opener | None
    folders: frozenset[str] = frozenset()  # options naming a folder
    sockets: frozenset[str] = frozenset()  # options naming a socket path or a loopback HOST:PORT
    library: str = ""                      # the optional library the scheme's module needs

    def opener(self, role: Role) -> Opener | None:
        return self.printer if role is Role.PRINTER else self.reader


#: pyserial's port settings a serial:// URI may carry besides baud=.
SERIAL_SETTINGS = frozenset({"bytesize", "parity", "stopbits", "xonxoff", "rtscts", "dsrdtr"})
_SIM_COMMON = frozenset({"state", "link", "control"})
_SIM_PRINTER = _SIM_COMMON | {"print_ms", "panel_ms", "png", "cards", "ribbon", "ribbon_type", "baud",
                              "bytes_per_s", "cleaning_due", "cleaning_mandatory"}
_SIM_READER = _SIM_COMMON | {"random_uid"}

SCHEMES: Mapping[str, Scheme] = MappingProxyType({
    "serial": Scheme(
        "serial",
        printer=Opener("drivers.line_devices", "open_line_printer", frozenset({"baud", "generation"}) | SERIAL_SETTINGS),
        reader=Opener("drivers.line_devices", "open_line_reader", frozenset({"baud"}) | SERIAL_SETTINGS),
        library="pyserial"),
    "socket": Scheme(
        "socket",
        printer=Opener("drivers.line_devices", "open_line_printer", frozenset({"generation", "logging"})),
        reader=Opener("drivers.line_devices", "open_line_reader", frozenset({"logging"})),
        library="pyserial"),
    "usb": Scheme(
        "usb",
        printer=Opener("drivers.usb_devices", "open_usb_printer", frozenset({"serial", "generation"})),
        reader=Opener("drivers.usb_devices", "open_usb_reader", frozenset({"serial"})),
        library="pyusb"),
    "sim": Scheme(
        "sim",
        printer=Opener("drivers.simulated.factory", "open_simulated_printer", _SIM_PRINTER, "fault_options"),
        reader=Opener("drivers.simulated.factory", "open_simulated_reader", _SIM_READER, "fault_options"),
        folders=frozenset({"state", "png"}), sockets=frozenset({"control"})),
})
_KNOWN = ", ".join(f"{name}://" for name in SCHEMES)


def parse_uri(text: str) -> DeviceUri:
    """The URI ``text`` names; DeviceUriError if it is not one (options are checked by ``check_options``)."""
    try:
        parts = urlsplit(text.strip())
    except ValueError as exc:  # an unbalanced [ ] around a host
        raise DeviceUriError(f"device URI {text!r}: {exc}") from None
    if parts.scheme not in SCHEMES or "://" not in text:
        raise DeviceUriError(f"{text!r} is not a device URI ({_KNOWN})")
    if parts.fragment:
        raise DeviceUriError(f"device URI {text!r}: '#' must be written %23")
    target = unquote(parts.netloc + parts.path)
    if not target:
        raise DeviceUriError(f"device URI {text!r}: names no device after {parts.scheme}://")
    query: list[tuple[str, str]] = []
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if any(name == seen for seen, _ in query):
            raise DeviceUriError(f"device URI {text!r}: option {name!r} is given twice")
        query.append((name, value))
    return DeviceUri(parts.scheme, target, tuple(query), text)


def format_uri(uri: DeviceUri) -> str:
    """The text of ``uri``; ``parse_uri`` reads it back as the same value."""
    text = f"{uri.scheme}://{quote(uri.target, safe='/:[]@')}"
    if uri.query:
        text += "?" + urlencode(uri.query, safe="/:", quote_via=quote)
    return text


def check_options(uri: DeviceUri, role: Role) -> None:
    """DeviceUriError naming the first option the URI's scheme does not take for a ``role``."""
    opener = SCHEMES[uri.scheme].opener(role)
    if opener is None:
        raise DeviceUriError(f"device URI {str(uri)!r}: {uri.scheme}:// opens no {role.value}")
    allowed = opener.allowed(role)
    for name, _ in uri.query:
        if name not in allowed:
            raise DeviceUriError(f"device URI {str(uri)!r}: unknown option {name!r} "
                                 f"(known: {', '.join(sorted(allowed))})")


def resolve_paths(uri: DeviceUri, base: Path) -> DeviceUri:
    """``uri`` with its relative folder and socket-path options taken from ``base``."""
    scheme = SCHEMES[uri.scheme]
    changes: dict[str, str] = {}
    for name, value in uri.query:
        path = value if name in scheme.folders else socket_path(value) if name in scheme.sockets else None
        if path and not Path(path).expanduser().is_absolute():
            changes[name] = value[:len(value) - len(path)] + str((base / Path(path).expanduser()).resolve())
    return uri.replace_options(changes) if changes else uri


def socket_path(address: str) -> str | None:
    """The Unix socket path a control address names, None for a TCP ``HOST:PORT``.

    ``unix:PATH`` and anything with a slash or without a colon is a path;
    ``tcp:HOST:PORT`` and other ``HOST:PORT`` are TCP.
    """
    if address.startswith("unix:"):
        return address[len("unix:"):].removeprefix("//")
    if address.startswith("tcp:"):
        return None
    return address if "/" in address or ":" not in address else None


def device_uri(text: str, role: Role, base: Path | None = None) -> DeviceUri:
    """Parse ``text``, check its options for ``role`` and, given ``base``, resolve its relative paths."""
    uri = parse_uri(text)
    check_options(uri, role)
    return resolve_paths(uri, base) if base is not None else uri


def share_simulated_station(printer: DeviceUri, reader: DeviceUri, default_state: Path) -> tuple[DeviceUri, DeviceUri]:
    """A ``sim://printer`` and ``sim://reader`` are one simulated station: the reader sees the card the
    printer moved to the contactless station through their shared ``state`` folder.

    Without ``state=`` a simulator takes its partner's, or ``default_state``; two different folders are
    refused (DeviceUriError naming both URIs and the fix), since every blank would then be spoiled
    ``chip-unreadable``.
    """
    sims = [uri for uri in (printer, reader) if uri.scheme == "sim"]
    states = {uri.option("state") for uri in sims if uri.option("state")}
    if len(states) > 1:
        raise DeviceUriError(f"{printer} and {reader} name different state folders, so the reader never sees "
                             "the printer's card; give both the same state= (or leave it out of both)")
    state = states.pop() if states else str(default_state)
    printer, reader = (uri.replace_options({"state": state}) if uri.scheme == "sim" and not uri.option("state")
                       else uri for uri in (printer, reader))
    return printer, reader


def load_opener(uri: DeviceUri, role: Role) -> Callable[[DeviceUri], object]:
    """The function that opens ``uri`` as a ``role``, its module imported now."""
    scheme = SCHEMES[uri.scheme]
    opener = scheme.opener(role)
    if opener is None:
        raise DeviceUriError(f"device URI {str(uri)!r}: {uri.scheme}:// opens no {role.value}")
    try:
        module = importlib.import_module(opener.module)
    except ModuleNotFoundError as exc:
        missing = (exc.name or "").split(".")[0]
        if missing == "drivers":
            raise
        raise UnsupportedDeviceError(f"device URI {str(uri)!r}: {uri.scheme}:// needs {scheme.library or missing}, "
                                     f"which is not installed (no module {missing!r})") from None
    function: Callable[[DeviceUri], object] = getattr(module, opener.function)
    return function
