"""``ktp-agent import PATH`` and ``ktp-agent export-results PATH``: bundles in, receipts out.

With the daemon running both ask it over the control socket (ops ``import``,
``export-results``), so the journal keeps its one writer, and ``import``
draws its progress from the daemon's status. With the daemon down they open
the journal here. Bahasa Indonesia by default, English with ``--lang en``.
"""
from __future__ import annotations

import argparse
import time
from datetime import datetime, timezone
from pathlib import Path

from ..errors import AgentError
from ..offline import LastImport, bundle_files, import_trouble_lines
from .control import ControlClient, DaemonNotRunningError
from .diagnose import client_for
from .station_status import StationStatus
from .sync import ProgressBar

_T = {
    "import_label": ("Mengimpor pekerjaan", "Importing jobs"),
    "import_done": ("Selesai: {imported} pekerjaan baru siap dicetak tanpa jaringan; {completed} dilengkapi; "
                    "{waiting} menunggu jaringan; {known} sudah ada; {rejected} ditolak.",
                    "Done: {imported} new jobs ready to print offline; {completed} completed; "
                    "{waiting} waiting for the network; {known} already here; {rejected} rejected."),
    "import_none": ("Tidak ada berkas .ktpjobs di {path}.", "No .ktpjobs file in {path}."),
    "exported": ("Tanda terima ditulis: {path} ({count} laporan). Bawa ke kantor pusat; laporan tetap antre "
                 "sampai server mengonfirmasi.",
                 "Receipts written: {path} ({count} reports). Take it to the central office; the reports "
                 "stay queued until the server confirms them."),
}


def t(key: str, lang: str, **values: object) -> str:
    return _T[key][1 if lang == "en" else 0].format(**values)


#: An import asked of the daemon gives up watching after this long without progress.
STALL_S = 120.0


def add_offline_commands(sub: argparse._SubParsersAction) -> None:
    imp = sub.add_parser("import", help="import jobs from a .ktpjobs bundle (or a folder of them), e.g. a USB stick")
    imp.add_argument("path", type=Path, help="a .ktpjobs file or a folder holding them")
    _common(imp)
    imp.set_defaults(handler=_import)
    export = sub.add_parser("export-results", help="write the queued reports as a .ktpresults file for the "
                                                   "central office")
    export.add_argument("path", type=Path, help="the folder to write in (e.g. the mounted stick)")
    _common(export)
    export.set_defaults(handler=_export)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="the station's TOML configuration file")
    parser.add_argument("--lang", choices=("id", "en"), default="id", help="message language (default: id)")


def _import(args: argparse.Namespace) -> int:
    config = _config(args)
    path = args.path.resolve()
    if not path.exists():
        raise AgentError(f"import: {path}: not there")
    if not bundle_files(path):
        print(t("import_none", args.lang, path=path))
        return 1
    bar = ProgressBar(t("import_label", args.lang))
    try:
        try:
            last = _import_via_daemon(client_for(config, timeout=15), path, bar)
        except DaemonNotRunningError:
            last = _import_directly(config, path, bar)
    finally:
        bar.close()
    print(t("import_done", args.lang, **last.counts()))
    for line in import_trouble_lines(last, args.lang):
        print(line)
    return 0 if not (last.interrupted or last.refused) else 1


def _import_via_daemon(client: ControlClient, path: Path, bar: ProgressBar) -> LastImport:
    started = time.time()
    client.request("import", path=str(path))
    last_change, seen = time.monotonic(), None
    while time.monotonic() - last_change < STALL_S:
        view = StationStatus.from_json(client.request("status")["status"]).offline
        progress, last = (view.progress, view.last_import) if view else (None, None)
        if progress:
            bar.update(progress.done, progress.total)
        if last and last.path == str(path) and (last.at or 0) >= started - 1 and not view.busy:
            bar.update(last.total, last.total)
            return last
        if progress != seen:
            seen, last_change = progress, time.monotonic()
        time.sleep(0.2)
    raise AgentError(f"import: the daemon made no progress on {path} for {STALL_S:.0f} s")


def _import_directly(config, path: Path, bar: ProgressBar) -> LastImport:
    from ..jobs import Intake, ManifestVerifier, Spool
    from ..journal_guard import open_checked
    from ..keys import load_signing_key
    from ..observe import StationMetrics
    from ..offline import BundleImporter, OfflineRecord

    access = _access(config)
    state = config.station.state_dir
    journal = open_checked(state)
    try:
        intake = Intake(journal, ManifestVerifier(load_signing_key(access.signing_key), config.station.id),
                        StationMetrics(config.station.id))
        intake.resume_received(datetime.now(timezone.utc))
        importer = BundleImporter(journal, intake, Spool(state / "spool"), config.station.id,
                                  mark_ready=journal.mark_downloaded)
        summary = importer.import_path(path, progress=bar.update)
        record = OfflineRecord(state)
        record.imported(path, summary, time.time())
        return LastImport.from_json(record.doc["last_import"])
    finally:
        journal.close()


def _export(args: argparse.Namespace) -> int:
    config = _config(args)
    folder = args.path.resolve()
    if not folder.is_dir():
        raise AgentError(f"export-results: {folder}: not a folder")
    try:
        written = client_for(config, timeout=30).request("export-results", folder=str(folder))
    except DaemonNotRunningError:
        written = _export_directly(config, folder)
    print(t("exported", args.lang, path=written["path"], count=written["count"]))
    return 0


def _export_directly(config, folder: Path) -> dict:
    from ..journal_guard import open_checked
    from ..keys import load_token
    from ..offline import OfflineRecord, write_receipts

    token = load_token(_access(config).token_file)
    journal = open_checked(config.station.state_dir)
    try:
        try:
            written = write_receipts(journal, config.station.id, token, folder)
        except OSError as exc:
            raise AgentError(f"export-results: {folder}: {exc.strerror or exc}") from None
        OfflineRecord(config.station.state_dir).exported(written, time.time())
        return {"path": str(written.path), "count": written.count}
    finally:
        journal.close()


def _config(args: argparse.Namespace):
    from ..config import load_config
    from ..observe import configure_logs

    configure_logs(level="warning")
    return load_config(args.config)


def _access(config):
    from ..jobs import ServerAccess

    if config.server.is_demo:
        raise AgentError("the built-in demo server's keys live inside the daemon; start it first")
    return ServerAccess.from_config(config)
