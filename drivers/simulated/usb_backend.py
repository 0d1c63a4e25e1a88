"""A pyusb backend whose bus holds simulated devices: USB without a USB bus.

``usb.core.find(backend=SimulatedUsbBackend(...))`` enumerates the devices
given to the backend; the real ``UsbBulkTransport`` and driver code then
run unchanged. Bytes written to a device's bulk OUT endpoint go to its
*front* (anything with ``feed(bytes) -> bytes``) on a worker thread, as a
real device works while the host waits; the reply is queued for bulk IN.

* ``evolis_usb_device(SimulatedEvolis)``: an Evolis printer, 0f49:1001
  (*choice*: the product id is not taken from a real model; the drivers
  accept any 0f49 product), one printer-class interface (7/1/2,
  bidirectional), bulk OUT 0x01, bulk IN 0x82. As a Primacy does, every
  bulk read returns one reply frame: the last reply with the current
  status, repeated until the next command. A read waits (up to its
  timeout) until every command written so far has been answered.
* ``acr122u_usb_device(SimulatedPn532)``: an ACR122U, 072f:2200, one CCID
  interface (0x0B), bulk OUT 0x02, bulk IN 0x82, interrupt IN 0x81. Its
  front, ``SimulatedCcidFront``, unwraps each XfrBlock's pseudo-APDU,
  frames the PN532 command for the simulated chip and turns the chip's
  answer back into a DataBlock (``63 00`` when the chip answered with the
  error frame or garbage; no DataBlock at all when it stayed silent).

``unplug()`` pulls every device (or one): from then on every call on it
raises ``USBError`` with errno ENODEV, and it is no longer enumerated. An
empty bulk IN raises ``USBTimeoutError`` after the timeout.
"""
from __future__ import annotations

import array
import errno
import queue
import threading
from dataclasses import dataclass, field
from types import SimpleNamespace

import usb.backend
from usb.core import USBError, USBTimeoutError

from ..pn532 import acr122u as ccid
from ..pn532 import protocol as p
from ..pn532.commands import WAKEUP_PREAMBLE
from ..usb_transport import usb_uri
from .evolis import SimulatedEvolis
from .host import SimulatedDevice
from .pn532 import SimulatedPn532

EVOLIS_VID, EVOLIS_SIM_PID = 0x0F49, 0x1001
ACR122U_VID, ACR122U_PID = 0x072F, 0x2200
#: PC/SC's ATR for a contactless ISO 14443-4 card without historical bytes.
ACR122U_ATR = bytes.fromhex("3b80800101")
_GET_DESCRIPTOR = 0x06
_STRING = 0x03
_LANGID_EN_US = 0x0409
_BULK, _INTERRUPT = 0x02, 0x03


def _gone() -> USBError:
    return USBError("No such device (it may have been disconnected)", None, errno.ENODEV)


@dataclass(frozen=True)
class EndpointSpec:
    address: int
    attributes: int = _BULK
    max_packet: int = 64
    interval: int = 0


@dataclass(eq=False)
class SimulatedUsbDevice:
    """One device on the simulated bus: descriptors, strings and its front."""

    front: SimulatedDevice
    vid: int
    pid: int
    interface_class: int
    endpoints: tuple[EndpointSpec, ...]
    manufacturer: str
    product: str
    serial: str | None = None
    interface_subclass: int = 0
    interface_protocol: int = 0
    address: int = 1
    unplugged: bool = False
    _outbox: "queue.Queue[bytes | None]" = field(default_factory=queue.Queue, init=False, repr=False)
    _inbox: bytearray = field(default_factory=bytearray, init=False, repr=False)
    _arrived: threading.Condition = field(default_factory=threading.Condition, init=False, repr=False)
    _handles: set = field(default_factory=set, init=False, repr=False)
    _worker: threading.Thread | None = field(default=None, init=False, repr=False)
    _unanswered: int = field(default=0, init=False, repr=False)

    @property
    def uri(self) -> str:
        return usb_uri(self.vid, self.pid, self.serial)

    @property
    def strings(self) -> tuple[str | None, ...]:
        """String descriptors by index (index 0 is the LANGID list)."""
        return (None, self.manufacturer, self.product, self.serial)

    # -- the device at work ------------------------------------------------

    def attach(self, handle: object) -> None:
        self._handles.add(handle)
        if self._worker is None or not self._worker.is_alive():
            self._outbox = queue.Queue()
            self._worker = threading.Thread(target=self._work, name=f"usb-sim-{self.vid:04x}", daemon=True)
            self._worker.start()

    def detach(self, handle: object) -> None:
        self._handles.discard(handle)
        if not self._handles and self._worker is not None:
            self._outbox.put(None)
            self._worker.join(timeout=2)
            self._worker = None
            with self._arrived:
                self._inbox.clear()
                self._unanswered = 0

    @property
    def frame_per_read(self) -> bool:
        """Whether every bulk read returns the front's current frame (an Evolis Primacy)."""
        return hasattr(self.front, "current_frame")

    def receive(self, data: bytes) -> None:
        with self._arrived:
            self._unanswered += 1
        self._outbox.put(data)

    def send(self, buff: array.array, timeout_ms: int) -> int:
        with self._arrived:
            wait = None if timeout_ms == 0 else timeout_ms / 1000.0  # libusb: 0 waits forever
            if self.frame_per_read:
                self._arrived.wait_for(lambda: not self._unanswered or self.unplugged, timeout=wait)
                ready = not self._unanswered
            else:
                self._arrived.wait_for(lambda: self._inbox or self.unplugged, timeout=wait)
                ready = bool(self._inbox)
            if self.unplugged:
                raise _gone()
            if not ready:
                raise USBTimeoutError("Operation timed out", None, errno.ETIMEDOUT)
            if self.frame_per_read:
                self._inbox[:] = self.front.current_frame()  # type: ignore[attr-defined]
            n = min(len(buff), len(self._inbox))
            buff[:n] = array.array("B", self._inbox[:n])
            del self._inbox[:n]
            return n

    def unplug(self) -> None:
        self.unplugged = True
        self._outbox.put(None)
        with self._arrived:
            self._arrived.notify_all()

    def _work(self) -> None:
        outbox = self._outbox
        while True:
            data = outbox.get()
            if data is None or self.unplugged:
                return
            reply = self.front.feed(data)
            with self._arrived:
                self._unanswered -= 1
                if reply and not self.frame_per_read:
                    self._inbox += reply
                self._arrived.notify_all()


def evolis_usb_device(
    printer: SimulatedEvolis, *, pid: int = EVOLIS_SIM_PID, address: int = 1
) -> SimulatedUsbDevice:
    return SimulatedUsbDevice(
        printer, EVOLIS_VID, pid, 0x07, (EndpointSpec(0x01), EndpointSpec(0x82)),
        manufacturer="Evolis", product=f"Evolis {printer.model}", serial=printer.serial,
        interface_subclass=0x01, interface_protocol=0x02, address=address,
    )


def acr122u_usb_device(pn532: SimulatedPn532, *, address: int = 2) -> SimulatedUsbDevice:
    endpoints = (EndpointSpec(0x81, _INTERRUPT, 16, 10), EndpointSpec(0x02), EndpointSpec(0x82))
    return SimulatedUsbDevice(
        SimulatedCcidFront(pn532), ACR122U_VID, ACR122U_PID, 0x0B, endpoints,
        manufacturer="ACS", product="ACR122U PICC Interface (simulated)", address=address,
    )


class SimulatedCcidFront:
    """The ACR122U's CCID side in front of a simulated PN532 (a SimulatedDevice)."""

    def __init__(self, pn532: SimulatedPn532) -> None:
        self._pn532 = pn532
        self._parser = ccid.CcidParser()

    def feed(self, data: bytes) -> bytes:
        return b"".join(self._answer(message) for message in self._parser.feed(data))

    def _answer(self, message: ccid.CcidMessage) -> bytes:
        seq = message.seq
        if message.kind == ccid.PC_TO_RDR_ICC_POWER_ON:
            return ccid.encode_data_block(seq, ACR122U_ATR)
        if message.kind in (ccid.PC_TO_RDR_ICC_POWER_OFF, ccid.PC_TO_RDR_GET_SLOT_STATUS):
            return ccid.encode_slot_status(seq)
        if message.kind != ccid.PC_TO_RDR_XFR_BLOCK:
            return ccid.encode_slot_status(seq, status=ccid.COMMAND_FAILED << 6, error=0x00)
        command = ccid.unwrap_pn532_command(message.data)
        if command is None:
            return ccid.encode_data_block(seq, b"\x6a\x81")  # function not supported
        answer = self._run_pn532(command)
        return b"" if answer is None else ccid.encode_data_block(seq, answer)

    def _run_pn532(self, command: bytes) -> bytes | None:
        """The APDU answer to one PN532 command; None when the chip stays silent."""
        # The reader's own firmware owns the PN532's serial line: it wakes the chip before each command.
        reply = self._pn532.feed(WAKEUP_PREAMBLE + p.build_frame(p.HOST_TO_CHIP, command))
        if not reply:
            return None
        try:
            frames = p.FrameParser().feed(reply)
        except p.ProtocolError:
            frames = []
        for frame in frames:
            if isinstance(frame, p.InformationFrame) and frame.tfi == p.CHIP_TO_HOST:
                return bytes([p.CHIP_TO_HOST]) + frame.data + ccid.SW_SUCCESS
        return b"\x63\x00"  # the reader's "operation failed"


class _Handle:
    def __init__(self, device: SimulatedUsbDevice) -> None:
        self.device = device
        self.configuration = 1


class SimulatedUsbBackend(usb.backend.IBackend):
    """The pyusb backend interface over a list of simulated devices."""

    def __init__(self, *devices: SimulatedUsbDevice) -> None:
        super().__init__()
        self.devices = list(devices)

    def unplug(self, device: SimulatedUsbDevice | None = None) -> None:
        """Pull ``device`` (default: every device) out of the bus."""
        for each in [device] if device is not None else self.devices:
            each.unplug()

    stop = unplug  # the SimulatorHost spelling, so sim:// links stop the same way

    # -- enumeration and descriptors ---------------------------------------

    def enumerate_devices(self):
        return [d for d in self.devices if not d.unplugged]

    def get_device_descriptor(self, dev: SimulatedUsbDevice):
        _alive(dev)
        return SimpleNamespace(
            bLength=18, bDescriptorType=0x01, bcdUSB=0x0200, bDeviceClass=0, bDeviceSubClass=0,
            bDeviceProtocol=0, bMaxPacketSize0=64, idVendor=dev.vid, idProduct=dev.pid, bcdDevice=0x0100,
            iManufacturer=1, iProduct=2, iSerialNumber=3 if dev.serial else 0, bNumConfigurations=1,
            address=dev.address, bus=1, port_number=dev.address, port_numbers=(dev.address,), speed=3,
        )

    def get_configuration_descriptor(self, dev: SimulatedUsbDevice, config: int):
        _alive(dev)
        if config != 0:
            raise IndexError(f"configuration index {config}")
        return SimpleNamespace(
            bLength=9, bDescriptorType=0x02, wTotalLength=9 + 9 + 7 * len(dev.endpoints), bNumInterfaces=1,
            bConfigurationValue=1, iConfiguration=0, bmAttributes=0x80, bMaxPower=50, extra_descriptors=[],
        )

    def get_interface_descriptor(self, dev: SimulatedUsbDevice, intf: int, alt: int, config: int):
        _alive(dev)
        if (intf, alt, config) != (0, 0, 0):
            raise IndexError(f"interface {intf} alternate {alt}")
        return SimpleNamespace(
            bLength=9, bDescriptorType=0x04, bInterfaceNumber=0, bAlternateSetting=0,
            bNumEndpoints=len(dev.endpoints), bInterfaceClass=dev.interface_class,
            bInterfaceSubClass=dev.interface_subclass, bInterfaceProtocol=dev.interface_protocol,
            iInterface=0, extra_descriptors=[],
        )

    def get_endpoint_descriptor(self, dev: SimulatedUsbDevice, ep: int, intf: int, alt: int, config: int):
        _alive(dev)
        if (intf, alt, config) != (0, 0, 0) or not 0 <= ep < len(dev.endpoints):
            raise IndexError(f"endpoint {ep}")
        spec = dev.endpoints[ep]
        return SimpleNamespace(
            bLength=7, bDescriptorType=0x05, bEndpointAddress=spec.address, bmAttributes=spec.attributes,
            wMaxPacketSize=spec.max_packet, bInterval=spec.interval, bRefresh=0, bSynchAddress=0,
            extra_descriptors=[],
        )

    # -- handles -----------------------------------------------------------

    def open_device(self, dev: SimulatedUsbDevice) -> _Handle:
        _alive(dev)
        handle = _Handle(dev)
        dev.attach(handle)
        return handle

    def close_device(self, dev_handle: _Handle) -> None:
        dev_handle.device.detach(dev_handle)  # closing never fails, not even after an unplug

    def set_configuration(self, dev_handle: _Handle, config_value: int) -> None:
        _alive(dev_handle.device)
        if config_value not in (0, 1):
            raise USBError("Invalid parameter", None, errno.EINVAL)
        dev_handle.configuration = config_value

    def get_configuration(self, dev_handle: _Handle) -> int:
        _alive(dev_handle.device)
        return dev_handle.configuration

    def set_interface_altsetting(self, dev_handle: _Handle, intf: int, altsetting: int) -> None:
        _alive(dev_handle.device)

    def claim_interface(self, dev_handle: _Handle, intf: int) -> None:
        _alive(dev_handle.device)
        if intf != 0:
            raise USBError("Entity not found", None, errno.ENOENT)

    def release_interface(self, dev_handle: _Handle, intf: int) -> None:
        _alive(dev_handle.device)

    def is_kernel_driver_active(self, dev_handle: _Handle, intf: int) -> bool:
        _alive(dev_handle.device)
        return False

    def clear_halt(self, dev_handle: _Handle, ep: int) -> None:
        _alive(dev_handle.device)

    def reset_device(self, dev_handle: _Handle) -> None:
        _alive(dev_handle.device)

    # -- transfers ---------------------------------------------------------

    def bulk_write(self, dev_handle: _Handle, ep: int, intf: int, data: array.array, timeout: int) -> int:
        dev = _alive(dev_handle.device)
        _endpoint(dev, ep, out=True)
        dev.receive(data.tobytes())
        return len(data)

    def bulk_read(self, dev_handle: _Handle, ep: int, intf: int, buff: array.array, timeout: int) -> int:
        dev = _alive(dev_handle.device)
        _endpoint(dev, ep, out=False)
        return dev.send(buff, timeout)

    def ctrl_transfer(self, dev_handle: _Handle, bmRequestType: int, bRequest: int, wValue: int,
                      wIndex: int, data: array.array, timeout: int) -> int:
        dev = _alive(dev_handle.device)
        if bmRequestType != 0x80 or bRequest != _GET_DESCRIPTOR or wValue >> 8 != _STRING:
            raise USBError("Pipe error", None, errno.EPIPE)  # a stall: only strings are spoken here
        index = wValue & 0xFF
        if index == 0:
            body = _LANGID_EN_US.to_bytes(2, "little")
        elif index < len(dev.strings) and dev.strings[index] is not None:
            body = str(dev.strings[index]).encode("utf-16-le")
        else:
            raise USBError("Pipe error", None, errno.EPIPE)
        descriptor = bytes([2 + len(body), _STRING]) + body
        n = min(len(data), len(descriptor))
        data[:n] = array.array("B", descriptor[:n])
        return n


def _alive(dev: SimulatedUsbDevice) -> SimulatedUsbDevice:
    if dev.unplugged:
        raise _gone()
    return dev


def _endpoint(dev: SimulatedUsbDevice, address: int, *, out: bool) -> None:
    bulk = any(e.address == address and e.attributes == _BULK for e in dev.endpoints)
    if not bulk or bool(address & 0x80) == out:
        raise USBError("Invalid parameter", None, errno.EINVAL)


def serve_over_usb(device: SimulatedEvolis | SimulatedPn532):
    """Plug ``device`` into a bus of its own; returns (UsbBulkTransport, backend).

    The printer appears as an Evolis USB printer, the PN532 as an ACR122U.
    ``backend.stop()`` (or ``unplug()``) pulls it out.
    """
    from ..usb_transport import UsbBulkTransport

    if isinstance(device, SimulatedEvolis):
        usb_device = evolis_usb_device(device)
    elif isinstance(device, SimulatedPn532):
        usb_device = acr122u_usb_device(device)
    else:
        raise TypeError(f"no USB front for {type(device).__name__}")
    backend = SimulatedUsbBackend(usb_device)
    return UsbBulkTransport(usb_device.vid, usb_device.pid, backend=backend), backend
