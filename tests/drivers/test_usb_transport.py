"""UsbBulkTransport through pyusb's core, on the simulated USB backend."""
from __future__ import annotations

import errno
import threading
import time

import pytest
import usb.core

from drivers.errors import DisconnectedError, TransportError, TransportTimeoutError, UnsupportedDeviceError
from drivers.registry import open_printer, open_reader
from drivers.simulated.bench import SimBench
from drivers.evolis.protocol import Reply, ReplyParser
from drivers.simulated.evolis import SimulatedEvolis
from drivers.simulated.pn532 import SimulatedPn532
from drivers.simulated.usb_backend import (
    EndpointSpec,
    SimulatedUsbBackend,
    SimulatedUsbDevice,
    acr122u_usb_device,
    evolis_usb_device,
)
from drivers.usb_transport import UsbBulkTransport, parse_usb_ids, translate_usb_error, usb_uri


class Echo:
    """A device that answers every write with the same bytes."""

    def feed(self, data: bytes) -> bytes:
        return data


@pytest.fixture
def printer_bus(tmp_path):
    printer = evolis_usb_device(SimulatedEvolis(tmp_path))
    return SimulatedUsbBackend(printer), printer


@pytest.fixture
def opened(request):
    def open_(*args, **kwargs) -> UsbBulkTransport:
        transport = UsbBulkTransport(*args, **kwargs)
        request.addfinalizer(transport.close)
        return transport

    return open_


def test_ids_and_uris():
    assert parse_usb_ids("0f49:1001") == (0x0F49, 0x1001)
    assert parse_usb_ids("072F:2200") == (0x072F, 0x2200)
    assert usb_uri(0x0F49, 0x1001, "EV1") == "usb://0f49:1001?serial=EV1"
    assert usb_uri(0x072F, 0x2200) == "usb://072f:2200"
    for bad in ("0f49", "xyz:1", "10000:1", ""):
        with pytest.raises(ValueError, match="VID"):
            parse_usb_ids(bad)


def read_frame(transport: UsbBulkTransport) -> Reply:
    """One bulk read: one whole Primacy reply frame."""
    (reply,) = ReplyParser().feed(transport.read(512, 1.0))
    return reply


def test_printer_interface_carries_escape_commands(printer_bus, opened):
    backend, _ = printer_bus
    transport = opened(0x0F49, 0x1001, backend=backend)
    assert transport.interface_class == 0x07
    transport.write(b"\x1bRfv\r")
    assert read_frame(transport).text == "SIM-1.0.0"


def test_every_printer_read_repeats_the_last_reply_with_the_current_status(printer_bus, opened):
    backend, device = printer_bus
    transport = opened(0x0F49, 0x1001, backend=backend)
    assert read_frame(transport).text == ""  # nothing asked yet
    transport.write(b"\x1bRsn\r\x1bPcla;1\r")
    first = read_frame(transport)
    assert (first.text, first.status.claimed) == ("OK", True)
    device.front.set_fault("cover_open", True)
    again = read_frame(transport)
    assert again.text == "OK" and again.status.warning and not first.status.warning


def test_read_returns_at_most_size_and_keeps_the_rest(opened):
    echo = SimulatedUsbDevice(Echo(), 0x1234, 0x0001, 0xFF, (EndpointSpec(0x01), EndpointSpec(0x81)),
                              manufacturer="Test", product="Echo")
    backend = SimulatedUsbBackend(echo)
    transport = opened(0x1234, 0x0001, backend=backend)
    transport.write(b"abcdefgh")
    assert transport.read(3, 1.0) == b"abc"
    assert transport.read(100, 1.0) == b"defgh"


def test_empty_bulk_in_times_out_after_the_timeout(opened):
    echo = SimulatedUsbDevice(Echo(), 0x1234, 0x0001, 0xFF, (EndpointSpec(0x01), EndpointSpec(0x81)),
                              manufacturer="Test", product="Echo")
    transport = opened(0x1234, 0x0001, backend=SimulatedUsbBackend(echo))
    started = time.monotonic()
    with pytest.raises(TransportTimeoutError):
        transport.read(64, 0.1)
    assert 0.09 <= time.monotonic() - started < 1.0
    with pytest.raises(TransportTimeoutError):
        transport.read(64, 0.0)  # never libusb's "0 = wait forever"


def test_acr122u_uses_its_bulk_endpoints_not_the_interrupt_one(tmp_path, opened):
    backend = SimulatedUsbBackend(acr122u_usb_device(SimulatedPn532(tmp_path)))
    transport = opened(0x072F, 0x2200, backend=backend)
    assert transport.interface_class == 0x0B
    transport.write(bytes.fromhex("62000000000001000000"))  # IccPowerOn
    assert transport.read(64, 1.0)[0] == 0x80


def test_missing_device_is_disconnected(printer_bus):
    backend, _ = printer_bus
    with pytest.raises(DisconnectedError, match="0f49:1002"):
        UsbBulkTransport(0x0F49, 0x1002, backend=backend)


def test_serial_selects_one_of_two_identical_printers(tmp_path, opened):
    first = evolis_usb_device(SimulatedEvolis(tmp_path / "a", serial="EV-A"), address=1)
    second = evolis_usb_device(SimulatedEvolis(tmp_path / "b", serial="EV-B"), address=2)
    backend = SimulatedUsbBackend(first, second)
    transport = opened(0x0F49, 0x1001, serial="EV-B", backend=backend)
    transport.write(b"\x1bRsn\r")
    assert read_frame(transport).text == "EV-B"
    assert not first._handles  # opened to read its serial number, then let go
    with pytest.raises(DisconnectedError, match="EV-C"):
        UsbBulkTransport(0x0F49, 0x1001, serial="EV-C", backend=backend)


def test_device_without_bulk_endpoints_is_unsupported():
    only_interrupt = SimulatedUsbDevice(Echo(), 0x1234, 0x0002, 0x03, (EndpointSpec(0x81, 0x03, 8, 10),),
                                        manufacturer="Test", product="Keyboard")
    with pytest.raises(UnsupportedDeviceError, match="bulk"):
        UsbBulkTransport(0x1234, 0x0002, backend=SimulatedUsbBackend(only_interrupt))
    assert not only_interrupt._handles


def test_unplug_makes_reads_and_writes_disconnected(printer_bus, opened):
    backend, _ = printer_bus
    transport = opened(0x0F49, 0x1001, backend=backend)
    backend.unplug()
    with pytest.raises(DisconnectedError):
        transport.write(b"\x1bRfv\r")
    with pytest.raises(DisconnectedError):
        transport.read(64, 0.1)
    assert list(usb.core.find(find_all=True, backend=backend)) == []


def test_unplug_wakes_a_blocked_read(opened):
    echo = SimulatedUsbDevice(Echo(), 0x1234, 0x0001, 0xFF, (EndpointSpec(0x01), EndpointSpec(0x81)),
                              manufacturer="Test", product="Echo")
    backend = SimulatedUsbBackend(echo)
    transport = opened(0x1234, 0x0001, backend=backend)
    threading.Timer(0.05, backend.unplug).start()
    started = time.monotonic()
    with pytest.raises(DisconnectedError):
        transport.read(64, 5.0)
    assert time.monotonic() - started < 2.0


def test_close_is_idempotent_releases_the_device_and_later_use_is_disconnected(printer_bus):
    backend, device = printer_bus
    transport = UsbBulkTransport(0x0F49, 0x1001, backend=backend)
    transport.close()
    transport.close()
    assert not device._handles
    with pytest.raises(DisconnectedError):
        transport.write(b"\x1bRfv\r")
    again = UsbBulkTransport(0x0F49, 0x1001, backend=backend)  # the interface is free again
    again.close()


def test_no_usb_backend_is_unsupported(monkeypatch):
    def no_backend(**_):
        raise usb.core.NoBackendError("No backend available")

    monkeypatch.setattr(usb.core, "find", no_backend)
    with pytest.raises(UnsupportedDeviceError, match="libusb"):
        UsbBulkTransport(0x0F49, 0x1001)


@pytest.mark.parametrize("code", [errno.ENODEV, errno.EIO, errno.EPIPE])
def test_usb_errors_of_a_gone_device_are_disconnected(code):
    assert isinstance(translate_usb_error(usb.core.USBError("gone", None, code), "read"), DisconnectedError)


def test_usb_timeout_and_other_errors_keep_their_meaning():
    timeout = translate_usb_error(usb.core.USBTimeoutError("Operation timed out", None, errno.ETIMEDOUT), "read")
    assert isinstance(timeout, TransportTimeoutError)
    denied = translate_usb_error(usb.core.USBError("Access denied", None, errno.EACCES), "open")
    assert type(denied) is TransportError and "Access denied" in str(denied)


def test_registry_refuses_usb_ids_of_the_wrong_device():
    with pytest.raises(UnsupportedDeviceError, match="Evolis"):
        open_printer("usb://072f:2200")
    with pytest.raises(UnsupportedDeviceError, match="ACR122U"):
        open_reader("usb://0f49:1001")
    with pytest.raises(UnsupportedDeviceError, match="VID:PID"):
        open_printer("usb://evolis")


def test_sim_uris_with_link_usb_run_the_real_usb_path(tmp_path):
    printer = open_printer(f"sim://printer?state={tmp_path}&link=usb")
    reader = open_reader(f"sim://reader?state={tmp_path}&link=usb")
    try:
        assert printer.identity().serial == "EVSIM0001"
        printer.insert_to_contactless()
        uid, _ = SimBench(tmp_path).card_at_station()
        assert reader.find_card(timeout=0.1).uid == uid
    finally:
        printer.close()
        reader.close()
