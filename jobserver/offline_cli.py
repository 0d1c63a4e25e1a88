"""``ktp-agent jobserver bundle`` and ``import-results``: the central side of a link outage.

Both work on the server's ``--state`` folder while the server is stopped;
with it running, receipts go to ``POST /v1/stations/{id}/receipts`` instead.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .bundles import write_bundle
from .demo import open_store, provision_server
from .keys import KeyFileError, load_token
from .receipts import ReceiptError, apply_receipts
from .store import StoreError


def add_offline_commands(sub: argparse._SubParsersAction) -> None:
    bundle = sub.add_parser("bundle", help="write a .ktpjobs bundle of a station's pending jobs")
    bundle.add_argument("--station", required=True, help="the station id")
    bundle.add_argument("--out", type=Path, required=True, help="the bundle file, or a folder to name it in")
    _state(bundle)
    bundle.set_defaults(offline_run=_bundle)
    results = sub.add_parser("import-results", help="apply a station's .ktpresults receipts file")
    results.add_argument("file", type=Path, help="the .ktpresults file")
    _state(results)
    results.set_defaults(offline_run=_import_results)


def _state(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--state", type=Path, default=Path("var/jobserver"), metavar="DIR",
                        help="the server's keys, tokens and job state (default var/jobserver)")


def _bundle(args: argparse.Namespace) -> int:
    try:
        store = open_store(args.state / "server", provision_server(args.state).signing_key, {})
        written = write_bundle(store, args.station, args.out)
    except (StoreError, KeyFileError, OSError) as exc:
        print(f"ktp-agent jobserver bundle: {exc}", file=sys.stderr)
        return 1
    print(f"{written.path}: {len(written.job_ids)} jobs, {written.payload_bytes} payload bytes")
    return 0


def _import_results(args: argparse.Namespace) -> int:
    station_id = station_of(args.file)
    try:
        token = load_token(args.state / f"station-{station_id}.token")
        store = open_store(args.state / "server", provision_server(args.state).signing_key, {})
        outcome = apply_receipts(store, station_id, args.file.read_bytes(), token)
    except (ReceiptError, StoreError, KeyFileError, OSError) as exc:
        print(f"ktp-agent jobserver import-results: {args.file}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(outcome.as_dict(), indent=1))
    return 0 if not (outcome.conflicts or outcome.refused) else 1


def station_of(path: Path) -> str:
    """``3319-05-20261130T101500Z.ktpresults`` -> ``3319-05``."""
    return Path(path).name.rsplit("-", 1)[0]
