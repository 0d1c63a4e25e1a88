"""Which plugged-in devices look like a printer or a reader, with the URI for the config.

Serial ports come from pyserial's ``list_ports`` (plus any ``/dev/ttyUSB*``
or ``/dev/ttyACM*`` node it did not report): a port behind Evolis' USB id is
a printer, one behind a common USB-serial bridge (FTDI, Prolific, Silicon
Labs, WCH: what PN532 boards and printer cables use) may be either, and the
rest are "unknown serial". USB devices come from pyusb: ``0f49:*`` is an
Evolis printer, ``072f:2200`` an ACR122U reader. A missing pyusb or libusb
is reported as a note, never raised: serial discovery still works.
"""
from __future__ import annotations

import errno
import glob
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Callable, Iterable

EVOLIS_VID = 0x0F49
ACR122U_IDS = (0x072F, 0x2200)
#: USB-serial bridge chips by vendor id.
SERIAL_BRIDGES = {
    0x0403: "FTDI",
    0x067B: "Prolific",
    0x10C4: "Silicon Labs CP210x",
    0x1A86: "WCH CH34x",
}
DEFAULT_BAUD = 115200
_EXTRA_TTY_GLOBS = ("/dev/ttyUSB*", "/dev/ttyACM*")


@dataclass(frozen=True)
class Candidate:
    """One row of ``ktp-agent devices``."""

    kind: str          # "printer", "reader", "printer or reader", "unknown serial"
    description: str
    uri: str


class ListingProblem(str, Enum):
    """Why a bus could not be listed; the technician's commands say each in words."""

    NO_LIBRARY = "no-library"    # pyusb or pyserial is not installed
    NO_BACKEND = "no-backend"    # pyusb found no libusb
    NO_BUS = "no-bus"            # no USB bus folder to read (a container, a machine without USB)
    NO_ACCESS = "no-access"      # permission denied
    FAILED = "failed"            # anything else the library reported


class DeviceListingError(RuntimeError):
    """A bus could not be listed at all: ``problem`` says why, ``detail`` in words."""

    def __init__(self, problem: ListingProblem, detail: str) -> None:
        super().__init__(detail)
        self.problem, self.detail = problem, detail


@dataclass(frozen=True)
class ListingNote:
    bus: str                # "usb" or "serial"
    problem: ListingProblem
    detail: str

    def __str__(self) -> str:
        return f"{self.bus}: not available ({self.detail})"


@dataclass
class DiscoveryReport:
    candidates: list[Candidate] = field(default_factory=list)
    notes: list[ListingNote] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {"devices": [asdict(c) for c in self.candidates],
                "notes": [{"bus": n.bus, "problem": n.problem.value, "detail": n.detail} for n in self.notes]}


def discover(
    *,
    usb_backend: object | None = None,
    comports: Callable[[], Iterable[object]] | None = None,
    tty_globs: Iterable[str] = _EXTRA_TTY_GLOBS,
) -> DiscoveryReport:
    """Every candidate device: USB printers and readers first, then serial ports."""
    report = DiscoveryReport()
    _add_usb(report, usb_backend)
    _add_serial(report, comports, tty_globs)
    return report


# -- USB -------------------------------------------------------------------


def usb_candidates(backend: object | None = None) -> list[Candidate]:
    """USB devices that look like supported printers or readers.

    Raises DeviceListingError saying why when USB cannot be listed at all.
    """
    try:
        import usb.core
    except ImportError as exc:
        raise DeviceListingError(ListingProblem.NO_LIBRARY, f"pyusb is not installed ({exc})") from None
    from .usb_transport import usb_uri

    try:
        devices = list(usb.core.find(find_all=True, backend=backend))
    except usb.core.NoBackendError:
        raise DeviceListingError(ListingProblem.NO_BACKEND, "no libusb backend found") from None
    except (usb.core.USBError, OSError) as exc:
        raise _listing_error(exc) from None
    found = []
    for device in devices:
        kind = _usb_kind(device.idVendor, device.idProduct)
        if kind is None:
            continue
        serial = _string(device, "serial_number")
        product = _string(device, "product") or ("Evolis printer" if kind == "printer" else "ACR122U")
        where = f"bus {device.bus} address {device.address}" if device.bus is not None else "USB"
        description = f"{product} ({device.idVendor:04x}:{device.idProduct:04x}, {where}" + (
            f", serial {serial})" if serial else ")")
        found.append(Candidate(kind, description, usb_uri(device.idVendor, device.idProduct, serial)))
    return found


def _listing_error(exc: OSError) -> DeviceListingError:
    """A USB library failure in words: the library's own text is bytes and errno None for libusb's."""
    words = exc.strerror if exc.strerror is not None else (exc.args[0] if exc.args else "")
    if isinstance(words, bytes):
        words = words.decode("utf-8", "replace")
    words = str(words).strip() or type(exc).__name__
    if exc.errno in (errno.EACCES, errno.EPERM) or "access" in words.lower():
        return DeviceListingError(ListingProblem.NO_ACCESS, f"permission denied reading the USB bus ({words})")
    if "opendir" in words or exc.errno == errno.ENOENT:
        return DeviceListingError(ListingProblem.NO_BUS, f"the USB bus folder cannot be opened ({words})")
    return DeviceListingError(ListingProblem.FAILED, f"the USB library failed ({words})")


def _usb_kind(vid: int, pid: int) -> str | None:
    if vid == EVOLIS_VID:
        return "printer"
    if (vid, pid) == ACR122U_IDS:
        return "reader"
    return None


def _string(device: object, name: str) -> str | None:
    """A string descriptor, or None when it cannot be read (permissions, no strings)."""
    try:
        return getattr(device, name)
    except (OSError, ValueError, NotImplementedError):  # USBError is an OSError
        return None


def _add_usb(report: DiscoveryReport, backend: object | None) -> None:
    try:
        report.candidates += usb_candidates(backend)
    except DeviceListingError as exc:
        report.notes.append(ListingNote("usb", exc.problem, exc.detail))


# -- serial ----------------------------------------------------------------


def serial_candidates(
    comports: Callable[[], Iterable[object]] | None = None,
    tty_globs: Iterable[str] = _EXTRA_TTY_GLOBS,
) -> list[Candidate]:
    """Serial ports; ``comports`` defaults to pyserial's ``list_ports.comports``."""
    if comports is None:
        from serial.tools.list_ports import comports
    found = []
    seen = set()
    for port in sorted(comports(), key=lambda p: p.device):
        seen.add(port.device)
        found.append(_serial_candidate(port))
    for pattern in tty_globs:
        for path in sorted(glob.glob(pattern)):
            if path not in seen:
                seen.add(path)
                found.append(Candidate("unknown serial", path, _serial_uri(path)))
    return found


def _serial_candidate(port) -> Candidate:
    vid, pid = getattr(port, "vid", None), getattr(port, "pid", None)
    label = getattr(port, "description", None) or port.device
    if label in ("n/a", port.device):
        label = port.device
    else:
        label = f"{port.device}: {label}"
    if vid == EVOLIS_VID:
        return Candidate("printer", f"{label} (Evolis {vid:04x}:{pid or 0:04x})", _serial_uri(port.device))
    if vid in SERIAL_BRIDGES:
        chip = f"{SERIAL_BRIDGES[vid]} {vid:04x}:{pid or 0:04x}"
        return Candidate("printer or reader", f"{label} ({chip})", _serial_uri(port.device))
    return Candidate("unknown serial", label, _serial_uri(port.device))


def _serial_uri(path: str) -> str:
    return f"serial://{path}?baud={DEFAULT_BAUD}"


def _add_serial(report: DiscoveryReport, comports, tty_globs: Iterable[str]) -> None:
    try:
        report.candidates += serial_candidates(comports, tty_globs)
    except ImportError as exc:
        report.notes.append(ListingNote("serial", ListingProblem.NO_LIBRARY, f"pyserial is not installed ({exc})"))
    except OSError as exc:
        report.notes.append(ListingNote("serial", ListingProblem.FAILED, f"cannot list ports ({exc.strerror or exc})"))


# -- output ----------------------------------------------------------------


def format_table(report: DiscoveryReport) -> str:
    """Aligned columns KIND / DESCRIPTION / URI, then the notes."""
    rows = [("KIND", "DESCRIPTION", "URI")] + [(c.kind, c.description, c.uri) for c in report.candidates]
    widths = [max(len(row[i]) for row in rows) for i in range(2)]
    lines = [f"{k:<{widths[0]}}  {d:<{widths[1]}}  {u}".rstrip() for k, d, u in rows]
    if not report.candidates:
        lines.append("(no printer, reader or serial port found)")
    lines += [str(note) for note in report.notes]
    return "\n".join(lines)
