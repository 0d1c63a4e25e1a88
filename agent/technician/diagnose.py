"""``ktp-agent diagnose``: device identity and counters, active reasons, fault history, a test card,
and the help-desk bundle.

With the daemon running, the daemon answers over the control socket and its
print worker touches the devices (``control_handlers`` is what it serves).
With the daemon down, the CLI opens the devices itself, by the same URIs.
Nothing here reads or writes citizen data: the bundle holds counters, reason
keywords, job ids, redacted log lines and the configuration with its secrets
masked.
"""
from __future__ import annotations

import io
import json
import os
import platform
import re
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from drivers.errors import DeviceFaultError, DriverError

from .. import __version__
from ..config import Config
from ..errors import AgentError
from ..journal import Journal
from ..journal_guard import JOURNAL_FILE, MARKER
from ..observe import recent_lines, redact
from ..offline import offline_at_rest
from ..power import read_power_once
from ..printing import DeviceRequestError
from .control import ControlClient, DaemonNotRunningError, Handler, socket_path
from .station_status import PrinterView, QuotaView, StationStatus
from .status import gather, journal_statistics, printer_view, quota_view

#: How long a request waits for the print worker to finish its current card and take it.
DEVICE_WAIT_S = 60.0


# -- the device checks (run on the devices' owner thread, or by the CLI with the daemon down) --

def probe_printer(printer: Any, test_card: bool = False) -> dict:
    """Identity, counters and reasons; with ``test_card``, print the printer's own test card."""
    ident = printer.identity()
    status = printer.status()
    out: dict = {"online": True,
                 "identity": {"model": ident.model, "serial": ident.serial, "firmware": ident.firmware,
                              "head_kit": ident.head_kit},
                 "status": printer_view(True, status.reasons, status).to_json()}
    if test_card:
        out["test_card"] = _test_card(printer, status.cards_inserted)
        if out["test_card"]["done"]:
            after = printer.status()
            out["status"] = printer_view(True, after.reasons, after).to_json()
    return out


def _test_card(printer: Any, cards_before: int) -> dict:
    run = getattr(printer, "test_card", None)
    if run is None:
        return {"done": False, "error": "this printer driver has no test card"}
    try:
        run()
    except DeviceFaultError as fault:
        return {"done": False, "reason": fault.reason.keyword, "error": str(fault)}
    return {"done": True, "cards_before": cards_before, "cards_after": printer.cards_inserted()}


def probe_reader(reader: Any) -> dict:
    return {"online": True, "firmware": reader.firmware()}


def probe(printer: Any, reader: Any, test_card: bool = False) -> dict:
    return {"printer": probe_printer(printer, test_card), "reader": probe_reader(reader)}


def probe_directly(config: Config, test_card: bool = False) -> dict:
    """The daemon is down: open each device by its URI, check it, close it."""
    from drivers.registry import open_printer, open_reader

    return {"printer": _with_device(open_printer, config.printer.uri, lambda p: probe_printer(p, test_card)),
            "reader": _with_device(open_reader, config.reader.uri, probe_reader)}


def _with_device(opener: Callable[[str], Any], uri: str, check: Callable[[Any], dict]) -> dict:
    try:
        device = opener(uri)
    except DriverError as exc:
        return {"online": False, "error": str(exc)}
    try:
        return check(device)
    except DriverError as exc:
        return {"online": False, "error": str(exc)}
    finally:
        try:
            device.close()
        except DriverError:
            pass


def _printer_seen(devices: dict) -> PrinterView:
    """The printer as a device check just saw it (``probe_printer``'s answer, or why it failed)."""
    printer = devices["printer"]
    if printer.get("online"):
        return PrinterView.from_json(printer["status"])
    return printer_view(False, (), None, error=printer.get("error"))


# -- the daemon's side: what it answers on the control socket ------------------------

def control_handlers(station: Any) -> dict[str, Handler]:
    """The control-socket operations of a running ``Station``."""

    def devices(test_card: bool) -> dict:
        online, _, _ = station.printing.printer_state.read()
        if not online:
            return {"printer": {"online": False, "error": "the printer is offline"},
                    "reader": {"online": station.printing.reader_online}}
        try:
            found = station.printing.on_devices(lambda p, r: probe(p, r, test_card), DEVICE_WAIT_S)
        except DeviceRequestError as exc:
            return {"printer": {"online": online, "error": str(exc)}, "reader": {"online": None}}
        if found["printer"].get("test_card", {}).get("done"):
            _count_test_card(station.journal)
        return found

    def diagnose(request: dict) -> dict:
        found = devices(bool(request.get("test_card")))
        status = station.status()
        if found["printer"].get("status"):  # fresher than the worker's last look (e.g. after a test card)
            status = status.with_printer(_printer_seen(found))
        return {"diagnose": {"devices": found, "status": status.to_json()}}

    def bundle(request: dict) -> dict:
        ring = recent_lines()
        return {**diagnose({}), "journal": journal_statistics(station.journal),
                "logs": ring.lines() if ring else []}

    def sync(request: dict) -> dict:
        station.poll_now()
        return {"status": station.status().to_json()}

    def import_bundle(request: dict) -> dict:
        path = request.get("path")
        if not isinstance(path, str) or not os.path.isabs(path):
            raise AgentError('import: give "path", an absolute path')
        station.offline.request_import(Path(path))
        return {"queued": path}

    def export_results(request: dict) -> dict:
        folder = request.get("folder")
        if not isinstance(folder, str) or not os.path.isabs(folder):
            raise AgentError('export-results: give "folder", an absolute path')
        try:
            written = station.offline.export(Path(folder))
        except OSError as exc:
            raise AgentError(f"export-results: {folder}: {exc.strerror or exc}") from None
        return {"path": str(written.path), "count": written.count}

    return {
        "ping": lambda request: {"station_id": station.config.station.id, "pid": os.getpid()},
        "status": lambda request: {"status": station.status().to_json()},
        "diagnose": diagnose,
        "bundle": bundle,
        "sync": sync,
        "import": import_bundle,
        "export-results": export_results,
    }


def _count_test_card(journal: Journal) -> None:
    """A test card takes a blank: take it off the counted stock, when stock is counted."""
    if journal.blank_stock()[0] is not None:
        journal.load_blanks(-1, "test card")


# -- the technician's side ----------------------------------------------------------

@dataclass(frozen=True)
class Diagnosis:
    devices: dict           # what each device check found (``probe``)
    status: StationStatus

    def to_json(self) -> dict:
        return {"devices": self.devices, "status": self.status.to_json()}


def client_for(config: Config, timeout: float = DEVICE_WAIT_S * 2 + 10) -> ControlClient:
    return ControlClient(socket_path(config.station.state_dir), timeout=timeout)


def _journal(config: Config) -> Journal:
    """The journal, with the daemon down; never creates one (a missing journal is news)."""
    state = config.station.state_dir
    if (state / MARKER).exists():
        raise AgentError(f"{state / MARKER}: the journal is held as damaged; "
                         "see `ktp-agent journal release --config FILE`")
    path = state / JOURNAL_FILE
    if not path.exists():
        raise AgentError(f"{path}: no journal; has this station ever run?")
    return Journal(path)


def collect_status(config: Config) -> StationStatus:
    """The status, from the daemon, or with the daemon down from the journal and the devices."""
    try:
        return StationStatus.from_json(client_for(config, timeout=15).request("status")["status"])
    except DaemonNotRunningError:
        pass
    return _status_directly(config, probe_directly(config))


def collect_diagnose(config: Config, test_card: bool = False) -> Diagnosis:
    try:
        found = client_for(config).request("diagnose", test_card=test_card)["diagnose"]
        return Diagnosis(found["devices"], StationStatus.from_json(found["status"]))
    except DaemonNotRunningError:
        pass
    devices = probe_directly(config, test_card)
    return Diagnosis(devices, _status_directly(config, devices))


def _status_directly(config: Config, devices: dict) -> StationStatus:
    """The daemon is down: the journal, the devices as ``probe_directly`` just found them, and the last
    import and receipts the state folder keeps."""
    journal = _journal(config)
    try:
        if devices["printer"].get("test_card", {}).get("done"):
            _count_test_card(journal)
        return gather(config.station.id, journal, _printer_seen(devices),
                      reader_online=devices["reader"].get("online"), last_contact=None, daemon=False,
                      offline=offline_at_rest(config.station.state_dir, config.offline.watch_dir),
                      power=read_power_once(config.power.ups, config.power.min_runtime_s),
                      quota=_quota_at_rest(config, journal))
    finally:
        journal.close()


def _quota_at_rest(config: Config, journal) -> QuotaView | None:
    """The quota month as the journal holds it (the daemon, down, moves no bytes)."""
    from ..config import AtQuota
    from ..jobs import LinkQuota, WireCounter

    reading = LinkQuota(config.link, journal, WireCounter()).reading()
    return quota_view(reading, config.link.at_quota is AtQuota.STOP_DOWNLOADS)


def collect_bundle(config: Config) -> dict:
    try:
        return client_for(config).request("bundle")
    except DaemonNotRunningError:
        pass
    found = collect_diagnose(config).to_json()
    journal = _journal(config)
    try:
        stats = journal_statistics(journal)
    finally:
        journal.close()
    return {"diagnose": found, "journal": stats, "logs": []}


# -- the bundle ---------------------------------------------------------------------

_SECRET_KEY = re.compile(r"^(\s*)([A-Za-z0-9_.-]*(?:token|key|secret|password|passwd)[A-Za-z0-9_.-]*)(\s*=).*$",
                         re.I | re.M)
_URL_USERINFO = re.compile(r"(://)[^/@\s\"']+@")


def mask_config(text: str) -> str:
    """The configuration file with secret-looking values and URL credentials replaced by ``***``."""
    text = _SECRET_KEY.sub(r'\1\2\3 "***"', text)
    return _URL_USERINFO.sub(r"\1***@", text)


def write_bundle(config: Config, parts: dict, out_dir: Path, now: float | None = None) -> Path:
    """A ``.tar.gz`` for the help desk; every member passes the NIK redaction."""
    now = time.time() if now is None else now
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    name = f"ktp-diagnose-{config.station.id}-{stamp}"
    logs = parts.get("logs") or []
    members = {
        "README.txt": _readme(config, parts, logs),
        "diagnose.json": json.dumps(parts.get("diagnose"), indent=2, default=str),
        "journal.json": json.dumps(parts.get("journal"), indent=2, default=str),
        "logs.jsonl": "\n".join(logs) + ("\n" if logs else ""),
        "config.toml": mask_config(config.path.read_text(errors="replace")),
        "versions.json": json.dumps({"ktp_agent": __version__, "python": platform.python_version(),
                                     "platform": platform.platform()}, indent=2),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    final = out_dir / f"{name}.tar.gz"
    temporary = out_dir / f".{name}.tar.gz.part"
    with tarfile.open(temporary, "w:gz") as tar:
        for member, text in members.items():
            data = redact(text).encode("utf-8")
            info = tarfile.TarInfo(f"{name}/{member}")
            info.size, info.mtime, info.mode = len(data), int(now), 0o644
            tar.addfile(info, io.BytesIO(data))
    with open(temporary, "rb") as f:
        os.fsync(f.fileno())
    os.replace(temporary, final)
    return final


def _readme(config: Config, parts: dict, logs: list[str]) -> str:
    daemon = (parts.get("diagnose") or {}).get("status", {}).get("daemon")
    return (f"ktp-agent diagnostic bundle, station {config.station.id}\n"
            f"made {time.strftime('%Y-%m-%d %H:%M:%S %Z')} with the daemon "
            f"{'running' if daemon else 'not running'}\n\n"
            "diagnose.json  printer identity, counters, active reasons, fault history, queue\n"
            "journal.json   job counts by state, outcomes, outbox, blank stock, integrity\n"
            f"logs.jsonl     the daemon's last {len(logs)} log lines (redacted; empty when the daemon is down:\n"
            "               see `journalctl -u ktp-agent`)\n"
            "config.toml    the configuration, secrets masked\n"
            "No citizen data: job ids, counters and reason keywords only.\n")


