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
from .texts import t

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
    from ..control import DaemonNotRunningError
    from ..diagnose import client_for
    from ..sync import ProgressBar
    from .importer import bundle_files

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
            summary = _import_via_daemon(client_for(config, timeout=15), path, bar)
        except DaemonNotRunningError:
            summary = _import_directly(config, path, bar)
    finally:
        bar.close()
    from .texts import offline_lines

    print(t("import_done", args.lang, **{k: summary.get(k, 0) for k in (
        "imported", "completed", "waiting", "known", "rejected")}))
    for line in offline_lines({"last_import": summary}, args.lang)[1:]:  # interrupted, refused
        print(line)
    return 0 if not (summary.get("interrupted") or summary.get("refused")) else 1


def _import_via_daemon(client, path: Path, bar) -> dict:
    started = time.time()
    client.request("import", path=str(path))
    last_change, seen = time.monotonic(), None
    while time.monotonic() - last_change < STALL_S:
        view = client.request("status")["status"].get("offline") or {}
        progress, last = view.get("progress"), view.get("last_import")
        if progress:
            bar.update(progress["done"], progress["total"])
        if last and last.get("path") == str(path) and last.get("at", 0) >= started - 1 and not view.get("busy"):
            bar.update(last.get("total", 0), last.get("total", 0))
            return last
        if progress != seen:
            seen, last_change = progress, time.monotonic()
        time.sleep(0.2)
    raise AgentError(f"import: the daemon made no progress on {path} for {STALL_S:.0f} s")


def _import_directly(config, path: Path, bar) -> dict:
    from dataclasses import asdict

    from ..intake import Intake
    from ..journal_guard import open_checked
    from ..keys import load_signing_key
    from ..link import ServerAccess
    from ..manifest import ManifestVerifier
    from ..metrics import StationMetrics
    from ..spool import Spool
    from .importer import BundleImporter
    from .record import OfflineRecord

    access = _access(config, ServerAccess)
    state = config.station.state_dir
    journal = open_checked(state)
    try:
        intake = Intake(journal, ManifestVerifier(load_signing_key(access.signing_key), config.station.id),
                        StationMetrics(config.station.id))
        intake.resume_received(datetime.now(timezone.utc))
        importer = BundleImporter(journal, intake, Spool(state / "spool"), config.station.id,
                                  mark_ready=journal.mark_downloaded)
        summary = importer.import_path(path, progress=bar.update)
        OfflineRecord(state).imported(path, summary, time.time())
        return asdict(summary)
    finally:
        journal.close()


def _export(args: argparse.Namespace) -> int:
    from ..control import DaemonNotRunningError
    from ..diagnose import client_for

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
    from ..link import ServerAccess
    from .receipts import write_receipts
    from .record import OfflineRecord

    token = load_token(_access(config, ServerAccess).token_file)
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
    from .. import logs
    from ..config import load_config

    logs.configure(level="warning")
    return load_config(args.config)


def _access(config, server_access):
    if config.server.is_demo:
        raise AgentError("the built-in demo server's keys live inside the daemon; start it first")
    return server_access.from_config(config)
