"""Printers and readers on USB (``usb://VID:PID[?serial=SN]``), opened with pyusb.

Importing this module imports pyusb: the URI table imports it only for usb://.
"""
from __future__ import annotations

from .interfaces import Printer, Reader
from .line_devices import evolis_printer, open_or_close
from .pn532.acr122u import open_acr122u_reader
from .uri import DeviceUri, DeviceUriError
from .usb_transport import UsbBulkTransport, parse_usb_ids

#: Bytes a second on USB full speed, the printers' link.
USB_FULL_SPEED = 1_000_000.0
#: Which USB ids each USB driver takes: (vendor, product or None for any product).
EVOLIS_IDS = (0x0F49, None)
ACR122U_IDS = (0x072F, 0x2200)


def open_usb_printer(uri: DeviceUri) -> Printer:
    return evolis_printer(usb_transport(uri, EVOLIS_IDS, "an Evolis printer"), uri, USB_FULL_SPEED)


def open_usb_reader(uri: DeviceUri) -> Reader:
    return open_or_close(usb_transport(uri, ACR122U_IDS, "an ACR122U reader"), open_acr122u_reader)


def usb_transport(uri: DeviceUri, ids: tuple[int, int | None], what: str) -> UsbBulkTransport:
    """The UsbBulkTransport a ``usb://VID:PID[?serial=SN]`` URI names, if it is ``what``."""
    try:
        vid, pid = parse_usb_ids(uri.target)
    except ValueError as exc:
        raise DeviceUriError(f"device URI {str(uri)!r}: {exc}") from None
    if vid != ids[0] or ids[1] not in (None, pid):
        wanted = f"{ids[0]:04x}:{'*' if ids[1] is None else format(ids[1], '04x')}"
        raise DeviceUriError(f"device URI {str(uri)!r}: {what} is usb://{wanted}")
    return UsbBulkTransport(vid, pid, serial=uri.option("serial") or None)
