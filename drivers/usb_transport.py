"""pyusb transport: the bulk endpoints of one USB interface as a byte stream.

``UsbBulkTransport`` finds a device by vendor and product id (and, when
several are plugged in, by serial number), claims its printer-class
interface (class 7) or else the first interface with a bulk IN and a bulk
OUT endpoint, and moves bytes over those two endpoints. pyusb's exceptions
stop here:

* ``USBTimeoutError`` -> TransportTimeoutError;
* ``USBError`` with ENODEV, EIO, EPIPE, ESHUTDOWN -> DisconnectedError
  (libusb reports a pulled cable as ENODEV, sometimes as EIO first);
* any other ``USBError`` -> TransportError.

Tests pass a pyusb ``backend`` (see drivers.simulated.usb_backend); without
one pyusb picks libusb.
"""
from __future__ import annotations

import errno
import math
import time

import usb.core
import usb.util

from .errors import DisconnectedError, TransportError, TransportTimeoutError, UnsupportedDeviceError
from .uri import DeviceUri, format_uri

PRINTER_CLASS = 0x07
_GONE = frozenset({errno.ENODEV, errno.EIO, errno.EPIPE, errno.ESHUTDOWN})
#: libusb treats a timeout of 0 as "wait forever": never ask for less than this.
_MIN_TIMEOUT_MS = 1


def parse_usb_ids(target: str) -> tuple[int, int]:
    """``"0f49:1001"`` -> (0x0F49, 0x1001); ValueError names what is wrong."""
    vid_text, sep, pid_text = target.strip("/").partition(":")
    try:
        if not sep:
            raise ValueError
        vid, pid = int(vid_text, 16), int(pid_text, 16)
    except ValueError:
        raise ValueError(f"USB id {target!r} is not VID:PID in hex (e.g. 0f49:1001)") from None
    if not (0 <= vid <= 0xFFFF and 0 <= pid <= 0xFFFF):
        raise ValueError(f"USB id {target!r}: VID and PID are 16-bit numbers")
    return vid, pid


def usb_uri(vid: int, pid: int, serial: str | None = None) -> str:
    """The device URI naming one USB device, as the registry reads it."""
    return format_uri(DeviceUri("usb", f"{vid:04x}:{pid:04x}", (("serial", serial),) if serial else ()))


def translate_usb_error(exc: usb.core.USBError, what: str) -> TransportError:
    """The drivers-floor error for a pyusb error during ``what``."""
    if isinstance(exc, usb.core.USBTimeoutError):
        return TransportTimeoutError(f"{what}: timed out")
    if exc.errno in _GONE:
        return DisconnectedError(f"{what}: device gone ({exc.strerror})")
    return TransportError(f"{what}: {exc.strerror or exc}")


class UsbBulkTransport:
    """A Transport over the bulk IN/OUT endpoints of one USB interface."""

    def __init__(
        self,
        vid: int,
        pid: int,
        *,
        serial: str | None = None,
        backend: object | None = None,
        write_timeout: float = 10.0,
    ) -> None:
        self.name = usb_uri(vid, pid, serial)
        self._write_timeout = write_timeout
        self._pending = b""
        self._closed = False
        self._detached: int | None = None
        try:
            self._device = _find_device(vid, pid, serial, backend, self.name)
        except usb.core.USBError as exc:
            raise translate_usb_error(exc, f"cannot open {self.name}") from None
        try:
            self._interface = _choose_interface(self._device, self.name)
            self._claim()
            self._ep_out, self._ep_in = _bulk_endpoints(self._interface)
        except usb.core.USBError as exc:
            _dispose(self._device)
            raise translate_usb_error(exc, f"cannot open {self.name}") from None
        except UnsupportedDeviceError:
            _dispose(self._device)
            raise
        self._packet = max(int(self._ep_in.wMaxPacketSize or 64), 1)

    @property
    def interface_class(self) -> int:
        return int(self._interface.bInterfaceClass)

    def write(self, data: bytes) -> None:
        if self._closed:
            raise DisconnectedError(f"{self.name} is closed")
        remaining = bytes(data)
        deadline = time.monotonic() + self._write_timeout
        while remaining:
            try:
                sent = self._ep_out.write(remaining, _ms(deadline - time.monotonic()))
            except usb.core.USBError as exc:
                raise translate_usb_error(exc, f"write to {self.name}") from None
            remaining = remaining[sent:]

    def read(self, size: int, timeout: float) -> bytes:
        if self._closed:
            raise DisconnectedError(f"{self.name} is closed")
        deadline = time.monotonic() + max(timeout, 0.0)
        while not self._pending:
            # A bulk read shorter than a packet can overflow: ask in whole packets.
            length = max(math.ceil(size / self._packet), 1) * self._packet
            try:
                chunk = self._ep_in.read(length, _ms(deadline - time.monotonic()))
            except usb.core.USBError as exc:
                raise translate_usb_error(exc, f"read from {self.name}") from None
            self._pending = chunk.tobytes()
            if not self._pending and time.monotonic() >= deadline:  # zero-length packets only
                raise TransportTimeoutError(f"no data from {self.name} within {timeout:.3f}s")
        out, self._pending = self._pending[:size], self._pending[size:]
        return out

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        number = self._interface.bInterfaceNumber
        try:
            usb.util.release_interface(self._device, number)
            if self._detached is not None:
                self._device.attach_kernel_driver(number)
        except (usb.core.USBError, NotImplementedError):
            pass  # already gone, or the backend has no kernel drivers
        _dispose(self._device)

    def _claim(self) -> None:
        number = self._interface.bInterfaceNumber
        try:
            if self._device.is_kernel_driver_active(number):  # e.g. usblp on a printer
                self._device.detach_kernel_driver(number)
                self._detached = number
        except NotImplementedError:
            pass  # the backend (or the OS) has no kernel drivers to detach
        usb.util.claim_interface(self._device, number)


def _ms(seconds: float) -> int:
    return max(math.ceil(seconds * 1000), _MIN_TIMEOUT_MS)


def _find_device(vid: int, pid: int, serial: str | None, backend: object | None, name: str):
    try:
        found = usb.core.find(find_all=True, idVendor=vid, idProduct=pid, backend=backend)
        devices = list(found)
    except usb.core.NoBackendError:
        raise UnsupportedDeviceError(f"{name}: no USB backend (is libusb installed?)") from None
    chosen = next((d for d in devices if serial is None or _serial_of(d) == serial), None)
    for other in devices:
        if other is not chosen:
            _dispose(other)  # reading a serial number opened it
    if chosen is not None:
        return chosen
    suffix = f" with serial {serial!r}" if serial else ""
    raise DisconnectedError(f"no USB device {vid:04x}:{pid:04x}{suffix} is plugged in")


def _dispose(device) -> None:
    """Release what pyusb holds for ``device`` (claimed interfaces, the open handle)."""
    try:
        usb.util.dispose_resources(device)
    except usb.core.USBError:
        pass


def _serial_of(device) -> str | None:
    try:
        return device.serial_number
    except (usb.core.USBError, ValueError, NotImplementedError):
        return None  # no string descriptors, or no permission to read them


def _choose_interface(device, name: str):
    try:
        config = device.get_active_configuration()
    except usb.core.USBError:
        config = None
    if config is None:
        device.set_configuration()
        config = device.get_active_configuration()
    interfaces = [i for i in config if i.bAlternateSetting == 0]
    printers = [i for i in interfaces if i.bInterfaceClass == PRINTER_CLASS]
    for interface in printers + interfaces:
        if _has_bulk_pair(interface):
            return interface
    raise UnsupportedDeviceError(f"{name}: no interface with bulk IN and OUT endpoints")


def _is_bulk(endpoint, direction: int) -> bool:
    return (
        usb.util.endpoint_type(endpoint.bmAttributes) == usb.util.ENDPOINT_TYPE_BULK
        and usb.util.endpoint_direction(endpoint.bEndpointAddress) == direction
    )


def _has_bulk_pair(interface) -> bool:
    endpoints = list(interface)
    return any(_is_bulk(e, usb.util.ENDPOINT_OUT) for e in endpoints) and any(
        _is_bulk(e, usb.util.ENDPOINT_IN) for e in endpoints
    )


def _bulk_endpoints(interface):
    endpoints = list(interface)
    out = next(e for e in endpoints if _is_bulk(e, usb.util.ENDPOINT_OUT))
    in_ = next(e for e in endpoints if _is_bulk(e, usb.util.ENDPOINT_IN))
    return out, in_
