"""``ktp-agent jobserver``: run the reference job server for a technician or a demo.

Keys, token and job state live in ``--state``. Without ``--station-key`` a
station key pair is generated there too, for a station that has none yet.
"""
from __future__ import annotations

import argparse
import signal
import ssl
import sys
import threading
from pathlib import Path
from typing import Sequence

from .citizens import StationIdError, region_code
from .demo import open_store, provision, provision_server, provision_token
from .keys import KeyFileError, load_station_private_key, load_station_public_key, load_token
from .server import JobServer, JobServerError
from .store import StoreError

DEFAULT_LISTEN = "127.0.0.1:8080"
DEFAULT_STATE = Path("var/jobserver")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--listen", default=DEFAULT_LISTEN, metavar="HOST:PORT",
                        help=f"address to serve on (default {DEFAULT_LISTEN}; [::1]:8080 for IPv6)")
    parser.add_argument("--state", type=Path, default=DEFAULT_STATE, metavar="DIR",
                        help=f"keys, token and job state (default {DEFAULT_STATE})")
    parser.add_argument("--station", default="3319-05", help="station id served (default 3319-05)")
    parser.add_argument("--station-key", type=Path, metavar="PUBLIC_PEM",
                        help="the station's X25519 public key; without it a key pair is made in --state")
    parser.add_argument("--jobs", type=int, default=5, metavar="N",
                        help="jobs the station should find waiting (default 5; held jobs count)")
    parser.add_argument("--poll-after", type=int, default=30, metavar="S",
                        help="poll_after_s told to the station (default 30)")
    parser.add_argument("--tls-cert", type=Path, metavar="PEM",
                        help="serve https with this certificate (chain); needs --tls-key")
    parser.add_argument("--tls-key", type=Path, metavar="PEM", help="the certificate's private key")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    from .offline_cli import add_offline_commands

    add_offline_commands(parser.add_subparsers(dest="offline_action", metavar="ACTION"))


def run(args: argparse.Namespace) -> int:
    if getattr(args, "offline_action", None):
        return args.offline_run(args)
    try:
        host, port = parse_listen(args.listen)
        server, lines = _prepare(args, host, port)
    except (ValueError, KeyFileError, StoreError, JobServerError, OSError) as exc:
        print(f"ktp-agent jobserver: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()
    # Handlers first: whoever reads the url below may stop the server at once.
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    for line in [f"url: {server.url}", *lines]:
        print(line, flush=True)
    try:
        stop.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        server.stop()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ktp-agent jobserver", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` or ``[V6HOST]:PORT`` into its parts."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not host or int(port) > 65535:
        raise ValueError(f"--listen {text!r}: expected HOST:PORT, e.g. 127.0.0.1:8080")
    return host.strip("[]"), int(port)


def _prepare(args: argparse.Namespace, host: str, port: int) -> tuple[JobServer, list[str]]:
    """Provision keys, open the store, issue missing jobs and start serving."""
    try:
        region_code(args.station)
    except StationIdError as exc:
        raise ValueError(f"--station: {exc}") from None
    state: Path = args.state
    lines = [f"station: {args.station}"]
    if args.station_key is None:
        creds = provision(state, args.station)
        station_key = load_station_private_key(creds.station_private_key).public_key()
        server_keys, token_file = provision_server(state), creds.token_file
        lines.append(f"station private key: {creds.station_private_key}")
    else:
        station_key = load_station_public_key(args.station_key)
        server_keys, token_file = provision_server(state), provision_token(state, args.station)
    lines += [f"server public key: {server_keys.public_key}", f"token file: {token_file}"]
    store = open_store(state / "server", server_keys.signing_key, {args.station: station_key})
    missing = args.jobs - len(store.station_jobs(args.station))
    if missing > 0:
        store.add_jobs(args.station, missing)
    server = JobServer(store, host, port, tokens={load_token(token_file): args.station},
                       poll_after_s=args.poll_after, verbose=args.verbose,
                       ssl_context=_tls(args.tls_cert, args.tls_key))
    return server.start(), lines


def _tls(cert: Path | None, key: Path | None) -> ssl.SSLContext | None:
    """A server context for --tls-cert/--tls-key (TLS 1.2 at least; session tickets on, for resumption)."""
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        raise ValueError("--tls-cert and --tls-key go together")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(str(cert), str(key))
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(f"--tls-cert {cert}: cannot load the certificate and key ({exc.__class__.__name__})") \
            from None
    return context


if __name__ == "__main__":
    sys.exit(main())
