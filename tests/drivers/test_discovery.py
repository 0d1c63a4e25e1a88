"""Device discovery: USB through the simulated backend, serial ports as pyserial lists them."""
from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import usb.core

from agent.cli import main
from drivers.discovery import discover, format_table, serial_candidates, usb_candidates
from drivers.evolis.protocol import ReplyParser
from drivers.simulated.evolis import SimulatedEvolis
from drivers.simulated.pn532 import SimulatedPn532
from drivers.simulated.usb_backend import (
    EndpointSpec,
    SimulatedUsbBackend,
    SimulatedUsbDevice,
    acr122u_usb_device,
    evolis_usb_device,
)
from drivers.usb_transport import UsbBulkTransport


class Silent:
    def feed(self, data: bytes) -> bytes:
        return b""


def port(device: str, vid=None, pid=None, description="n/a") -> SimpleNamespace:
    """What pyserial's list_ports gives for one port (the fields discovery reads)."""
    return SimpleNamespace(device=device, vid=vid, pid=pid, description=description)


def station_bus(tmp_path) -> SimulatedUsbBackend:
    mouse = SimulatedUsbDevice(Silent(), 0x046D, 0xC077, 0x03, (EndpointSpec(0x81, 0x03, 8, 10),),
                               manufacturer="Logitech", product="Mouse", address=3)
    return SimulatedUsbBackend(
        evolis_usb_device(SimulatedEvolis(tmp_path, serial="EVSIM0042")),
        acr122u_usb_device(SimulatedPn532(tmp_path)),
        mouse,
    )


def test_usb_lists_the_printer_and_the_reader_with_their_uris(tmp_path):
    printer, reader = usb_candidates(station_bus(tmp_path))
    assert (printer.kind, printer.uri) == ("printer", "usb://0f49:1001?serial=EVSIM0042")
    assert "Evolis Primacy 2" in printer.description and "EVSIM0042" in printer.description
    assert (reader.kind, reader.uri) == ("reader", "usb://072f:2200")
    assert "ACR122U" in reader.description


def test_listed_uris_open_the_devices(tmp_path):
    backend = station_bus(tmp_path)
    printer, _ = usb_candidates(backend)
    transport = UsbBulkTransport(0x0F49, 0x1001, serial="EVSIM0042", backend=backend)
    try:
        transport.write(b"\x1bRsn\r")
        (reply,) = ReplyParser().feed(transport.read(512, 1.0))
        assert reply.text == "EVSIM0042"
    finally:
        transport.close()


def test_unplugged_devices_are_not_listed(tmp_path):
    backend = station_bus(tmp_path)
    backend.unplug(backend.devices[0])
    assert [c.kind for c in usb_candidates(backend)] == ["reader"]


def test_missing_libusb_is_a_note_not_a_crash(monkeypatch):
    def no_backend(**_):
        raise usb.core.NoBackendError("No backend available")

    monkeypatch.setattr(usb.core, "find", no_backend)
    report = discover(comports=lambda: [port("/dev/ttyUSB0", 0x1A86, 0x7523, "USB Serial")], tty_globs=())
    assert [str(n) for n in report.notes] == ["usb: not available (no libusb backend found)"]
    assert [c.uri for c in report.candidates] == ["serial:///dev/ttyUSB0?baud=115200"]


def test_serial_ports_are_classified_by_usb_vendor():
    ports = [
        port("/dev/ttyUSB1", 0x0F49, 0x0001, "Evolis Primacy"),
        port("/dev/ttyUSB0", 0x10C4, 0xEA60, "CP2102 USB to UART"),
        port("/dev/ttyS0"),
    ]
    found = serial_candidates(lambda: ports, tty_globs=())
    assert [(c.kind, c.uri) for c in found] == [
        ("unknown serial", "serial:///dev/ttyS0?baud=115200"),
        ("printer or reader", "serial:///dev/ttyUSB0?baud=115200"),
        ("printer", "serial:///dev/ttyUSB1?baud=115200"),
    ]
    assert "Silicon Labs" in found[1].description and "Evolis" in found[2].description


def test_tty_nodes_pyserial_missed_are_unknown_serial(tmp_path):
    (tmp_path / "ttyACM0").touch()
    (tmp_path / "ttyUSB0").touch()
    ftdi = port(str(tmp_path / "ttyUSB0"), 0x0403, 0x6001)
    found = serial_candidates(lambda: [ftdi], tty_globs=[str(tmp_path / "tty*")])
    assert [(c.kind, c.description) for c in found] == [
        ("printer or reader", f"{tmp_path}/ttyUSB0 (FTDI 0403:6001)"),
        ("unknown serial", f"{tmp_path}/ttyACM0"),
    ]


def test_discover_puts_usb_devices_first_and_formats_a_table(tmp_path):
    report = discover(usb_backend=station_bus(tmp_path), comports=lambda: [port("/dev/ttyS0")], tty_globs=())
    assert [c.kind for c in report.candidates] == ["printer", "reader", "unknown serial"]
    assert report.notes == []
    lines = format_table(report).splitlines()
    assert lines[0].split() == ["KIND", "DESCRIPTION", "URI"]
    assert lines[1].startswith("printer") and lines[1].endswith("usb://0f49:1001?serial=EVSIM0042")
    assert json.loads(json.dumps(report.as_dict()))["devices"][1]["uri"] == "usb://072f:2200"


def test_empty_report_says_so():
    text = format_table(discover(usb_backend=SimulatedUsbBackend(), comports=lambda: [], tty_globs=()))
    assert "no printer, reader or serial port found" in text


def test_devices_command_prints_json_and_a_table_on_this_machine(capsys):
    assert main(["devices", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report) == {"devices", "notes"}
    assert all(set(row) == {"kind", "description", "uri"} for row in report["devices"])
    assert main(["devices"]) == 0
    assert capsys.readouterr().out.startswith("JENIS")
    assert main(["devices", "--lang", "en"]) == 0
    assert capsys.readouterr().out.startswith("KIND")


class _UnreadableBus:
    """A pyusb backend as libusb-0.1's answers on a machine without /dev/bus/usb: errno None, bytes."""

    def enumerate_devices(self):
        raise usb.core.USBError(b"couldn't opendir(): No such file or directory")


@pytest.mark.parametrize("lang, line", [
    ("id", "Perangkat USB tidak dapat didaftar: folder bus USB (/dev/bus/usb) tidak bisa dibuka"),
    ("en", "USB devices could not be listed: the USB bus folder (/dev/bus/usb) cannot be opened"),
])
def test_a_usb_bus_that_cannot_be_listed_is_one_plain_line(lang, line):
    from agent.technician.devices_command import format_devices

    report = discover(usb_backend=_UnreadableBus(), comports=lambda: [], tty_globs=())
    text = format_devices(report, lang)
    assert line in text
    assert "Errno" not in text and "b\"" not in text and "opendir" not in text
    assert report.as_dict()["notes"][0]["problem"] == "no-bus"
