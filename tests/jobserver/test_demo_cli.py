"""Demo provisioning, key files and the ``jobserver`` command."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import urllib3
from Crypto.PublicKey import ECC

from jobserver import cli
from jobserver.demo import provision
from jobserver.keys import (KeyFileError, generate_station_keypair, load_signing_key, load_station_private_key,
                            load_station_public_key, load_token, load_verify_key)

STATION = "3319-05"
PROJECT = Path(__file__).resolve().parents[2]


def test_provision_creates_loadable_keys_and_token(tmp_path):
    creds = provision(tmp_path, STATION)
    signing = load_signing_key(creds.server_signing_key)
    assert load_verify_key(creds.server_public_key) == signing.public_key()
    station = load_station_private_key(creds.station_private_key)
    assert load_station_public_key(creds.station_public_key) == station.public_key()
    assert creds.station_private_key.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    assert len(load_token(creds.token_file)) >= 32


def test_provision_is_idempotent(tmp_path):
    first = provision(tmp_path, STATION)
    contents = {path: path.read_bytes() for path in vars(first).values() if isinstance(path, Path)}
    assert provision(tmp_path, STATION) == first
    assert all(path.read_bytes() == data for path, data in contents.items())


def test_generate_station_keypair_writes_a_private_key_only_the_owner_reads(tmp_path):
    key = generate_station_keypair(tmp_path / "station.pem", tmp_path / "station.pub.pem")
    assert (tmp_path / "station.pem").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "station.pub.pem").read_text().startswith("-----BEGIN PUBLIC KEY-----")
    assert load_station_public_key(tmp_path / "station.pub.pem") == key.public_key()


def test_key_errors_name_the_file(tmp_path):
    missing = tmp_path / "absent.pem"
    with pytest.raises(KeyFileError, match="absent.pem"):
        load_station_private_key(missing)
    ed_public = tmp_path / "ed.pub.pem"
    ed_public.write_text(ECC.generate(curve="Ed25519").public_key().export_key(format="PEM"))
    with pytest.raises(KeyFileError, match="ed.pub.pem"):
        load_station_public_key(ed_public)
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("hello")
    with pytest.raises(KeyFileError, match="garbage.pem"):
        load_signing_key(garbage)


@pytest.mark.parametrize("text, expected", [("127.0.0.1:8080", ("127.0.0.1", 8080)),
                                            ("[::1]:9000", ("::1", 9000)), ("localhost:0", ("localhost", 0))])
def test_listen_address_is_parsed(text, expected):
    assert cli.parse_listen(text) == expected


@pytest.mark.parametrize("text", ["8080", "host:", "host:http", ":8080", "h:70000"])
def test_bad_listen_address_is_refused(text):
    with pytest.raises(ValueError, match="--listen"):
        cli.parse_listen(text)


def test_bad_arguments_exit_with_2_and_a_message(tmp_path, capsys):
    assert cli.main(["--listen", "nope", "--state", str(tmp_path)]) == 2
    assert cli.main(["--station", "kudus", "--state", str(tmp_path)]) == 2
    assert cli.main(["--station-key", str(tmp_path / "absent.pem"), "--state", str(tmp_path)]) == 2
    assert "absent.pem" in capsys.readouterr().err


def start_cli(*args: str) -> tuple[subprocess.Popen, dict[str, str]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "jobserver.cli", "--listen", "127.0.0.1:0", *args],
        cwd=PROJECT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(PROJECT)})
    printed: dict[str, str] = {}
    while "token file" not in printed:
        line = process.stdout.readline()
        assert line, process.stderr.read()
        name, _, value = line.strip().partition(": ")
        printed[name] = value
    return process, printed


def test_cli_serves_the_station_until_sigterm(tmp_path):
    process, printed = start_cli("--state", str(tmp_path), "--jobs", "2", "--poll-after", "5")
    try:
        assert printed["station"] == STATION and Path(printed["station private key"]).exists()
        load_verify_key(Path(printed["server public key"]))
        token = load_token(Path(printed["token file"]))
        response = urllib3.request("GET", f"{printed['url']}/v1/stations/{STATION}/jobs",
                                   headers={"Authorization": f"Bearer {token}"})
        doc = json.loads(response.data)
        assert len(doc["jobs"]) == 2 and doc["poll_after_s"] == 5
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        process.stdout.close()
        process.stderr.close()


def test_cli_with_a_given_station_key_makes_no_station_key_pair(tmp_path):
    generate_station_keypair(tmp_path / "own.pem", tmp_path / "own.pub.pem")
    state = tmp_path / "state"
    process, printed = start_cli("--state", str(state), "--station", "3320-02",
                                 "--station-key", str(tmp_path / "own.pub.pem"), "--jobs", "1")
    try:
        assert "station private key" not in printed
        assert not list(state.glob("station-*-x25519*"))
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
        process.stdout.close()
        process.stderr.close()


@pytest.mark.skipif(shutil.which("openssl") is None, reason="the openssl command is not installed")
def test_cli_serves_https_with_tls_cert_and_key_and_the_station_resumes_its_session(tmp_path):
    from agent.jobs.link import ServerLink
    from tests.agent.jobs.test_tls import make_pki

    pki = make_pki(tmp_path / "pki")
    process, printed = start_cli("--state", str(tmp_path / "state"), "--jobs", "1",
                                 "--tls-cert", str(pki.server.cert), "--tls-key", str(pki.server.key))
    try:
        assert printed["url"].startswith("https://127.0.0.1:")
        link = ServerLink(printed["url"], STATION, load_token(Path(printed["token file"])), pki.ca.cert,
                          connect_timeout=5, read_timeout=5)
        assert len(link.poll(None, 10).entries) == 1
        link.close()
        assert len(link.poll(None, 10).entries) == 1
        assert (link.tls.handshakes, link.tls.resumed) == (2, 1)
        link.close()
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        process.stdout.close()
        process.stderr.close()


def test_tls_cert_without_key_exits_with_2_naming_both(tmp_path, capsys):
    assert cli.main(["--state", str(tmp_path), "--tls-cert", str(tmp_path / "cert.pem")]) == 2
    assert "--tls-cert and --tls-key go together" in capsys.readouterr().err
