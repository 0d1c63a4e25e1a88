"""Demo provisioning: keys and token for one station, and a server already holding jobs.

File layout under the demo directory (reused when present)::

    server-ed25519.pem              server signing key (0600)
    server-ed25519.pub.pem          server public key, to pin on the station
    station-<id>-x25519.pem         station private key (0600)
    station-<id>-x25519.pub.pem     station public key
    station-<id>.token              bearer token (0600)
    server/                         the job store's state
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from Crypto.PublicKey import ECC

from .citizens import region_code
from .keys import (generate_signing_keypair, generate_station_keypair, generate_token, load_signing_key,
                   load_station_private_key, load_token, write_public_key)
from .server import JobServer
from .store import JobStore


@dataclass(frozen=True)
class ServerCredentials:
    """The server's signing key pair."""

    signing_key: Path
    public_key: Path


@dataclass(frozen=True)
class DemoCredentials:
    """Paths of everything a demo station and its server need."""

    server_signing_key: Path
    server_public_key: Path
    station_private_key: Path
    station_public_key: Path
    token_file: Path
    station_id: str


def provision_server(directory: Path) -> ServerCredentials:
    """The server's Ed25519 key pair in ``directory``; created once, then reused."""
    directory = Path(directory)
    creds = ServerCredentials(signing_key=directory / "server-ed25519.pem",
                              public_key=directory / "server-ed25519.pub.pem")
    if not creds.signing_key.exists():
        generate_signing_keypair(creds.signing_key, creds.public_key)
    elif not creds.public_key.exists():
        write_public_key(load_signing_key(creds.signing_key), creds.public_key)
    return creds


def provision_token(directory: Path, station_id: str) -> Path:
    """The station's bearer token file in ``directory``; created once, then reused."""
    region_code(station_id)  # refuse ids that cannot name a file or a NIK region
    path = Path(directory) / f"station-{station_id}.token"
    if not path.exists():
        generate_token(path)
    return path


def provision(directory: Path, station_id: str) -> DemoCredentials:
    """Server keys, station keys and a token under ``directory`` (idempotent)."""
    directory = Path(directory)
    server = provision_server(directory)
    token_file = provision_token(directory, station_id)
    private = directory / f"station-{station_id}-x25519.pem"
    public = directory / f"station-{station_id}-x25519.pub.pem"
    if not private.exists():
        generate_station_keypair(private, public)
    elif not public.exists():
        write_public_key(load_station_private_key(private), public)
    return DemoCredentials(server_signing_key=server.signing_key, server_public_key=server.public_key,
                           station_private_key=private, station_public_key=public,
                           token_file=token_file, station_id=station_id)


def open_store(state_dir: Path | None, signing_key_path: Path,
               station_keys: dict[str, ECC.EccKey], *, seed: int = 0) -> JobStore:
    """A job store signing with the key in ``signing_key_path``."""
    return JobStore(state_dir, load_signing_key(signing_key_path), station_keys, seed=seed)


def start_demo_server(directory: Path, station_id: str, jobs: int, host: str = "127.0.0.1",
                      port: int = 0, poll_after_s: int = 2, verbose: bool = False) -> JobServer:
    """A started server for one station, holding at least ``jobs`` jobs.

    State is kept in ``directory/server``; on a restart the jobs already held
    count towards ``jobs``, so only the missing ones are issued.
    """
    directory = Path(directory)
    creds = provision(directory, station_id)
    station_key = load_station_private_key(creds.station_private_key).public_key()
    store = open_store(directory / "server", creds.server_signing_key, {station_id: station_key})
    missing = jobs - len(store.station_jobs(station_id))
    if missing > 0:
        store.add_jobs(station_id, missing)
    server = JobServer(store, host, port, tokens={load_token(creds.token_file): station_id},
                       poll_after_s=poll_after_s, verbose=verbose)
    return server.start()
