"""``ktp-agent devices``: serial ports and USB devices that look like a printer or a reader, with the URI
for the configuration. Bahasa Indonesia by default, English with ``--lang en``, JSON with ``--json``.
A bus that cannot be listed is one plain line saying why, never the library's own error."""
from __future__ import annotations

import argparse
import json

from drivers.discovery import DiscoveryReport, ListingNote, ListingProblem, discover

_HEAD = (("JENIS", "KETERANGAN", "URI"), ("KIND", "DESCRIPTION", "URI"))
_KINDS = {
    "printer": ("printer", "printer"),
    "reader": ("pembaca kartu", "reader"),
    "printer or reader": ("printer atau pembaca kartu", "printer or reader"),
    "unknown serial": ("port serial tak dikenal", "unknown serial"),
}
_NONE = ("(tidak ada printer, pembaca kartu atau port serial)", "(no printer, reader or serial port found)")
_BUS = {"usb": ("Perangkat USB", "USB devices"), "serial": ("Port serial", "Serial ports")}
_WHY = {
    ListingProblem.NO_LIBRARY: ("pustaka Python-nya (pyusb/pyserial) tidak terpasang",
                                "its Python library (pyusb/pyserial) is not installed"),
    ListingProblem.NO_BACKEND: ("libusb tidak terpasang (`apt-get install libusb-1.0-0`)",
                                "libusb is not installed (`apt-get install libusb-1.0-0`)"),
    ListingProblem.NO_BUS: ("folder bus USB (/dev/bus/usb) tidak bisa dibuka: mesin ini tidak punya bus USB "
                            "(mis. kontainer) atau tidak ada izin",
                            "the USB bus folder (/dev/bus/usb) cannot be opened: this machine has no USB bus "
                            "(e.g. a container) or no permission"),
    ListingProblem.NO_ACCESS: ("tidak ada izin membaca bus USB: jalankan dengan `sudo` atau sebagai pengguna layanan",
                               "no permission to read the USB bus: run with `sudo` or as the service's user"),
    ListingProblem.FAILED: ("pustaka USB/serial gagal; coba lagi, lalu periksa `dmesg`",
                            "the USB/serial library failed; try again, then look at `dmesg`"),
}
_CANNOT = ("{bus} tidak dapat didaftar: {why}.", "{bus} could not be listed: {why}.")


def add_devices_command(sub: argparse._SubParsersAction) -> None:
    devices = sub.add_parser("devices", help="list serial ports and USB printers/readers with their config URIs")
    devices.add_argument("--lang", choices=("id", "en"), default="id", help="message language (default: id)")
    devices.add_argument("--json", action="store_true", help="print JSON instead of a table")
    devices.set_defaults(handler=_devices)


def _devices(args: argparse.Namespace) -> int:
    report = discover()
    print(json.dumps(report.as_dict(), indent=2) if args.json else format_devices(report, args.lang))
    return 0


def format_devices(report: DiscoveryReport, lang: str) -> str:
    """Aligned columns, then one line for each bus that could not be listed."""
    i = 1 if lang == "en" else 0
    rows = [_HEAD[i]] + [(_KINDS.get(c.kind, (c.kind, c.kind))[i], c.description, c.uri) for c in report.candidates]
    widths = [max(len(row[n]) for row in rows) for n in range(2)]
    lines = [f"{k:<{widths[0]}}  {d:<{widths[1]}}  {u}".rstrip() for k, d, u in rows]
    if not report.candidates:
        lines.append(_NONE[i])
    lines += [note_line(note, lang) for note in report.notes]
    return "\n".join(lines)


def note_line(note: ListingNote, lang: str) -> str:
    i = 1 if lang == "en" else 0
    return _CANNOT[i].format(bus=_BUS.get(note.bus, (note.bus, note.bus))[i], why=_WHY[note.problem][i])
