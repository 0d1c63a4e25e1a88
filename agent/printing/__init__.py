"""Printing: the print worker (the devices' one owner), the card preparer, restart recovery, device requests."""
from .preparer import CardPreparer, PreparedCard
from .printer_state import FaultEvent, FaultHistory, PrinterSnapshot
from .recovery import Resolution, resolve_interrupted
from .requests import DeviceRequest, DeviceRequestError
from .worker import PrintWorker

__all__ = ["CardPreparer", "DeviceRequest", "DeviceRequestError", "FaultEvent", "FaultHistory", "PreparedCard",
           "PrintWorker", "PrinterSnapshot", "Resolution", "resolve_interrupted"]
