"""Requests for the devices from other threads, run by their one owner, the print worker, between jobs.

The control socket's handlers (``ktp-agent diagnose``, a test card) hand an
action to ``PrintWorker.on_devices``; the worker runs it on its own thread
and the caller waits, bounded, for the answer.
"""
from __future__ import annotations

import queue
import threading
from typing import Any, Callable

import structlog

from drivers.errors import DriverError, ProtocolError, TransportError

from ..errors import AgentError

log = structlog.get_logger("ktp.printing")


class DeviceRequestError(AgentError):
    """A request for the devices was refused, timed out, or its action failed."""


class DeviceRequest:
    """One action for the print worker to run on the devices, and its answer."""

    def __init__(self, action: Callable[[Any, Any], object]) -> None:
        self._action = action
        self._lock = threading.Lock()
        self._state = "queued"  # -> running -> done; queued -> cancelled | refused
        self._done = threading.Event()
        self._result: object = None
        self._error: Exception | None = None

    def run(self, printer: Any, reader: Any) -> None:
        """Called by the devices' owner thread. Re-raises link failures so the owner goes offline."""
        with self._lock:
            if self._state != "queued":
                return
            self._state = "running"
        try:
            self._result = self._action(printer, reader)
        except (TransportError, ProtocolError) as exc:
            self._error = DeviceRequestError(f"the device stopped answering: {exc}")
            raise
        except DriverError as exc:
            self._error = DeviceRequestError(str(exc))
        except Exception as exc:  # noqa: BLE001 - a technician's request must never stop the devices' owner
            log.error("device_request.failed", error=exc.__class__.__name__)
            self._error = DeviceRequestError(f"internal error: {exc.__class__.__name__}")
        finally:
            self._done.set()

    def refuse(self, why: str) -> None:
        with self._lock:
            if self._state == "queued":
                self._state = "refused"
                self._error = DeviceRequestError(why)
                self._done.set()

    def wait(self, timeout: float) -> object:
        """The action's result; a request not started within ``timeout`` is cancelled, never run later."""
        if not self._done.wait(timeout):
            with self._lock:
                if self._state == "queued":
                    self._state = "cancelled"
                    raise DeviceRequestError(f"the printer did not take the request within {timeout:.0f} s")
            if not self._done.wait(timeout):
                raise DeviceRequestError(f"the printer did not finish the request within {2 * timeout:.0f} s")
        if self._error is not None:
            raise self._error
        return self._result


class DeviceRequests:
    """The bounded queue of requests waiting for the devices' owner."""

    def __init__(self, size: int = 4) -> None:
        self._queue: queue.Queue[DeviceRequest] = queue.Queue(maxsize=size)

    def put(self, request: DeviceRequest) -> None:
        try:
            self._queue.put_nowait(request)
        except queue.Full:
            raise DeviceRequestError("the printer is busy with other requests; try again") from None

    def serve(self, printer: Any, reader: Any) -> None:
        """Run every waiting request (on the owner's thread)."""
        while (request := self._next()) is not None:
            request.run(printer, reader)

    def refuse(self, why: str) -> None:
        while (request := self._next()) is not None:
            request.refuse(why)

    def _next(self) -> DeviceRequest | None:
        try:
            return self._queue.get_nowait()
        except queue.Empty:
            return None
