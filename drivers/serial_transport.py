"""pyserial transport: device paths (/dev/ttyUSB0, a pty slave) and socket:// bridges."""
from __future__ import annotations

import termios

import serial

from .errors import DisconnectedError, TransportError, TransportTimeoutError


class SerialTransport:
    """A transport over a pyserial port; pyserial exceptions stop here."""

    def __init__(self, url: str, baudrate: int = 115200, exclusive: bool = True, **settings: object) -> None:
        """``settings`` are pyserial's port settings (bytesize, parity, stopbits, xonxoff, rtscts, dsrdtr)."""
        try:
            if "://" in url:
                self._port = serial.serial_for_url(url, baudrate=baudrate, timeout=0, **settings)
            else:
                self._port = serial.Serial(url, baudrate=baudrate, timeout=0, exclusive=exclusive, **settings)
        except serial.SerialException as exc:
            raise DisconnectedError(f"cannot open {url}: {exc}") from None
        self.url = url

    def write(self, data: bytes) -> None:
        try:
            self._port.write(data)
            self._port.flush()
        except serial.SerialTimeoutException as exc:
            raise TransportTimeoutError(str(exc)) from None
        except (serial.SerialException, OSError, termios.error) as exc:
            raise DisconnectedError(f"write to {self.url} failed: {exc}") from None

    def read(self, size: int, timeout: float) -> bytes:
        try:
            self._port.timeout = max(timeout, 0.0)
            first = self._port.read(1)
            if not first:
                raise TransportTimeoutError(f"no data from {self.url} within {timeout:.3f}s")
            waiting = self._port.in_waiting
            rest = self._port.read(min(size - 1, waiting)) if size > 1 and waiting else b""
            return first + rest
        except TransportError:
            raise
        except (serial.SerialException, OSError, termios.error) as exc:
            raise DisconnectedError(f"read from {self.url} failed: {exc}") from None

    def close(self) -> None:
        try:
            self._port.close()
        except (serial.SerialException, OSError, termios.error):
            pass
