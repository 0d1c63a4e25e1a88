"""TLS to the job server for real, and the station's credentials checked at start.

Certificates are made with the ``openssl`` command (the venv has no X.509
library; pycryptodome makes none). The reference JobServer serves over TLS on
loopback; the station's ServerLink must accept only the pinned CA, and present
its client certificate when the server asks for one.
"""
from __future__ import annotations

import os
import secrets
import shutil
import ssl
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from Crypto.PublicKey import ECC

from agent.config import load_config
from agent.errors import ConfigError, KeyFileError, LinkError
from agent.keys import load_station_key, load_token
from agent.jobs.link import ServerLink, tls_context
from agent.jobs.manifest import parse_manifest
from jobserver.demo import provision
from jobserver.keys import load_station_private_key, load_token as server_token
from jobserver.server import JobServer
from jobserver.store import JobStore
from jobserver.keys import load_signing_key

STATION = "3319-05"

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="the openssl command is not installed")


# -- a small PKI made with the openssl command ------------------------------------
def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@dataclass(frozen=True)
class Issued:
    cert: Path
    key: Path


def make_ca(directory: Path, name: str) -> Issued:
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", f"/CN={name}",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=directory)
    os.chmod(key, 0o600)
    return Issued(cert, key)


def issue(ca: Issued, directory: Path, name: str, *, server: bool) -> Issued:
    """A leaf certificate signed by ``ca``: for localhost/127.0.0.1/::1, or a client."""
    cert, key, csr = directory / f"{name}.pem", directory / f"{name}.key", directory / f"{name}.csr"
    ext = directory / f"{name}.ext"
    usage = "serverAuth" if server else "clientAuth"
    lines = ["basicConstraints=critical,CA:FALSE", "keyUsage=critical,digitalSignature",
             f"extendedKeyUsage={usage}", "subjectKeyIdentifier=hash", "authorityKeyIdentifier=keyid"]
    if server:
        lines.append("subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1")
    ext.write_text("\n".join(lines) + "\n")
    _openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", str(key), "-out", str(csr), "-subj", f"/CN={name}", cwd=directory)
    _openssl("x509", "-req", "-in", str(csr), "-CA", str(ca.cert), "-CAkey", str(ca.key),
             "-set_serial", f"0x{secrets.token_hex(8)}", "-days", "2", "-out", str(cert),
             "-extfile", str(ext), cwd=directory)
    os.chmod(key, 0o600)
    return Issued(cert, key)


@dataclass(frozen=True)
class Pki:
    ca: Issued
    server: Issued
    client: Issued
    other_ca: Issued
    other_server: Issued  # same names, signed by the other CA


def make_pki(directory: Path) -> Pki:
    ca, other = make_ca(directory, "pinned-ca"), make_ca(directory, "other-ca")
    return Pki(ca=ca, server=issue(ca, directory, "server", server=True),
               client=issue(ca, directory, "station-client", server=False),
               other_ca=other, other_server=issue(other, directory, "impostor", server=True))


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def server_context(issued: Issued, client_ca: Path | None = None) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(issued.cert), str(issued.key))
    if client_ca is not None:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(str(client_ca))
    return context


class TlsJobServer:
    """The reference server with one sound job for the station, over TLS."""

    def __init__(self, root: Path, context: ssl.SSLContext) -> None:
        self.creds = provision(root / "keys", STATION)
        station_pub = load_station_private_key(self.creds.station_private_key).public_key()
        store = JobStore(None, load_signing_key(self.creds.server_signing_key), {STATION: station_pub})
        self.job_ids = store.add_jobs(STATION, 1)
        self.server = JobServer(store, "127.0.0.1", 0, tokens={server_token(self.creds.token_file): STATION},
                                ssl_context=context).start()
        self.token = server_token(self.creds.token_file)

    def link(self, ca: Path, **kwargs) -> ServerLink:
        return ServerLink(self.server.url, STATION, self.token, ca, connect_timeout=5, read_timeout=5, **kwargs)

    def stop(self) -> None:
        self.server.stop()


@pytest.fixture
def tls_server(tmp_path, pki):
    servers: list[TlsJobServer] = []

    def start(issued: Issued, client_ca: Path | None = None) -> TlsJobServer:
        server = TlsJobServer(tmp_path / f"srv{len(servers)}", server_context(issued, client_ca))
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


# -- the link -------------------------------------------------------------------
def test_pinned_ca_lets_the_station_poll_and_download(tls_server, pki):
    srv = tls_server(pki.server)
    assert srv.server.url.startswith("https://127.0.0.1:")
    link = srv.link(pki.ca.cert)
    result = link.poll(None, 10)
    assert len(result.entries) == 1
    stored = srv.server.store.job(srv.job_ids[0])
    response = link.request("GET", f"/v1/payloads/{stored.payload_sha256}")
    assert response.status == 200 and response.data == srv.server.store.payload(stored.payload_sha256)
    link.close()


def test_a_stall_over_tls_is_told_by_its_type_and_the_bytes_are_kept(tls_server, pki, tmp_path):
    from agent.jobs.transfer import PayloadDownload, TransferBrokenError

    srv = tls_server(pki.server)
    link = srv.link(pki.ca.cert)
    payload = parse_manifest(srv.server.store.job(srv.job_ids[0]).manifest).payload
    srv.server.set_payload_fault("stall", 1, cut_at=3000, stall_s=3)
    download = PayloadDownload(link, tmp_path, srv.job_ids[0], payload, stall_seconds=0.5)
    with pytest.raises(TransferBrokenError) as info:
        download.run()
    assert info.value.stalled and info.value.gained == 3000 and "(stalled)" in str(info.value)
    assert download.run().read_bytes() == srv.server.store.payload(payload.sha256)
    link.close()


def test_server_certificate_from_another_ca_is_refused(tls_server, pki):
    srv = tls_server(pki.other_server)
    link = srv.link(pki.ca.cert)
    with pytest.raises(LinkError, match="SSLError"):
        link.poll(None, 10)
    assert srv.server.payload_requests() == []


def test_system_trust_store_does_not_stand_in_for_the_pinned_ca(tls_server, pki):
    srv = tls_server(pki.server)
    with pytest.raises(LinkError, match="SSLError"):
        ServerLink(srv.server.url, STATION, srv.token, None, connect_timeout=5, read_timeout=5).poll(None, 1)


def test_server_that_requires_a_client_certificate_gets_the_stations(tls_server, pki):
    srv = tls_server(pki.server, client_ca=pki.ca.cert)
    with pytest.raises(LinkError):
        srv.link(pki.ca.cert).poll(None, 10)  # no client certificate: the handshake fails
    link = srv.link(pki.ca.cert, client_cert=pki.client.cert, client_key=pki.client.key)
    assert len(link.poll(None, 10).entries) == 1


def test_client_certificate_from_another_ca_is_refused_by_the_server(tls_server, pki, tmp_path):
    srv = tls_server(pki.server, client_ca=pki.ca.cert)
    stranger = issue(pki.other_ca, tmp_path, "stranger", server=False)
    with pytest.raises(LinkError):
        srv.link(pki.ca.cert, client_cert=stranger.cert, client_key=stranger.key).poll(None, 10)


def test_client_key_readable_by_others_stops_the_station(pki, tmp_path):
    key = tmp_path / "client.key"
    key.write_bytes(pki.client.key.read_bytes())
    os.chmod(key, 0o644)
    with pytest.raises(KeyFileError, match=f"{key}: TLS client key is readable by others"):
        tls_context(pki.ca.cert, pki.client.cert, key)


def test_missing_pinned_ca_or_client_certificate_stops_the_station(pki, tmp_path):
    with pytest.raises(KeyFileError, match="ca.pem: cannot load the pinned CA"):
        tls_context(tmp_path / "ca.pem")
    with pytest.raises(KeyFileError, match=f"{tmp_path / 'client.pem'}: cannot load"):
        tls_context(pki.ca.cert, tmp_path / "client.pem", pki.client.key)


# -- configuration --------------------------------------------------------------
def _config(tmp_path: Path, server_lines: str) -> Path:
    path = tmp_path / "agent.toml"
    path.write_text(f"""
[station]
id = "{STATION}"
state_dir = "state"
[server]
token_file = "token"
signing_key = "server.pub.pem"
station_key = "station.pem"
{server_lines}
[printer]
uri = "sim://printer?state=sim"
[reader]
uri = "sim://reader?state=sim"
""")
    return path


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080", "http://127.3.4.5:8080", "http://[::1]:8080",
                                 "http://localhost:8080", "http://LOCALHOST.:8080"])
def test_plain_http_is_accepted_to_loopback(tmp_path, url):
    assert load_config(_config(tmp_path, f'url = "{url}"')).server.url == url


@pytest.mark.parametrize("url", ["http://10.0.0.1", "http://ktp-jobs.example.go.id", "http://localhost.example.com",
                                 "http://127.0.0.1.nip.io", "http://[::2]", "http://0.0.0.0:80",
                                 "http://127.0.0.1@198.51.100.7/"])
def test_plain_http_is_refused_beyond_loopback(tmp_path, url):
    with pytest.raises(ConfigError, match="plain http is allowed only to loopback"):
        load_config(_config(tmp_path, f'url = "{url}"'))


def test_client_certificate_keys_are_read_from_the_config(tmp_path):
    config = load_config(_config(tmp_path, 'url = "https://jobs.example"\nca_file = "ca.pem"\n'
                                           'client_cert = "client.pem"\nclient_key = "client.key"\n'
                                           'station_key_passphrase_file = "pass"'))
    assert config.server.client_cert == tmp_path / "client.pem"
    assert config.server.client_key == tmp_path / "client.key"
    assert config.server.station_key_passphrase_file == tmp_path / "pass"
    with pytest.raises(ConfigError, match=r"\[server\] client_key: given without client_cert"):
        load_config(_config(tmp_path, 'url = "https://jobs.example"\nclient_key = "client.key"'))


# -- the token and the station key ------------------------------------------------
def test_token_file_must_be_0600(tmp_path):
    token = tmp_path / "token"
    token.write_text("abc123\n")
    os.chmod(token, 0o600)
    assert load_token(token) == "abc123"
    for mode in (0o640, 0o604, 0o644):
        os.chmod(token, mode)
        with pytest.raises(KeyFileError, match=f"{token}: station token is readable by others"):
            load_token(token)


def _encrypted_station_key(tmp_path: Path, passphrase: str) -> tuple[Path, ECC.EccKey]:
    key = ECC.generate(curve="X25519")
    path = tmp_path / "station-key.pem"
    path.write_text(key.export_key(format="PEM", passphrase=passphrase,
                                   protection="PBKDF2WithHMAC-SHA256AndAES256-CBC",
                                   prot_params={"iteration_count": 1000}))
    return path, key


def test_encrypted_station_key_opens_with_its_passphrase_file(tmp_path):
    path, key = _encrypted_station_key(tmp_path, "kunci rahasia")
    os.chmod(path, 0o640)  # encrypted: its group may read it (e.g. root:ktp-agent)
    secret = tmp_path / "passphrase"
    secret.write_text("kunci rahasia\n")
    os.chmod(secret, 0o600)
    assert load_station_key(path, secret).pointQ == key.pointQ


def test_encrypted_station_key_without_or_with_a_wrong_passphrase_stops_the_station(tmp_path):
    path, _ = _encrypted_station_key(tmp_path, "right")
    with pytest.raises(KeyFileError, match="encrypted; set \\[server\\] station_key_passphrase_file"):
        load_station_key(path)
    wrong = tmp_path / "wrong"
    wrong.write_text("wrong\n")
    os.chmod(wrong, 0o600)
    with pytest.raises(KeyFileError, match=f"{path}: cannot decrypt it with the passphrase given"):
        load_station_key(path, wrong)
    os.chmod(wrong, 0o644)
    with pytest.raises(KeyFileError, match=f"{wrong}: station key passphrase is readable by others"):
        load_station_key(path, wrong)


def test_plain_station_key_must_be_0600(tmp_path):
    key = ECC.generate(curve="X25519")
    path = tmp_path / "station-key.pem"
    path.write_text(key.export_key(format="PEM"))
    os.chmod(path, 0o640)
    with pytest.raises(KeyFileError, match=f"{path}: station key is readable by others"):
        load_station_key(path)
    os.chmod(path, 0o600)
    assert load_station_key(path).pointQ == key.pointQ


# -- the real daemon over TLS ----------------------------------------------------
def _station_over_tls(tmp_path: Path, pki: Pki, served: Issued, *, client_ca: Path | None = None,
                      client: Issued | None = None):
    from testbed.station import StationHarness

    station = StationHarness(tmp_path)
    tls = JobServer(station.server.store, "127.0.0.1", 0, tokens={server_token(station.creds.token_file): STATION},
                    poll_after_s=1, ssl_context=server_context(served, client_ca)).start()
    lines = f'url = "{tls.url}"\nca_file = "{pki.ca.cert}"\n'
    if client is not None:
        lines += f'client_cert = "{client.cert}"\nclient_key = "{client.key}"\n'
    text = station.config_path.read_text()
    assert f'url = "{station.server.url}"\n' in text
    station.config_path.write_text(text.replace(f'url = "{station.server.url}"\n', lines))
    return station, tls


def _metric(text: str, line_start: str) -> float:
    values = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(line_start + " ")]
    return values[0] if values else 0.0


@pytest.mark.e2e
def test_daemon_refuses_a_server_certificate_from_another_ca(tmp_path, pki):
    station, tls = _station_over_tls(tmp_path, pki, pki.other_server)
    try:
        job = station.issue(1)
        station.start_daemon()
        station.wait_for(lambda: _metric(station.metrics(), "ktp_link_errors_total") >= 2, "link errors")
        text = station.metrics()
        assert _metric(text, 'ktp_jobs{state="received"}') == 0 and _metric(text, 'ktp_jobs{state="verified"}') == 0
        assert _metric(text, 'ktp_link_bytes_total{kind="payload"}') == 0
        assert station.stop_daemon() == 0
        assert tls.payload_requests() == [] and station.server.store.results() == {}
        assert "SSLError" in station.log() and job[0] not in station.log()
    finally:
        tls.stop()
        station.close()


@pytest.mark.e2e
def test_daemon_prints_over_tls_with_the_pinned_ca_and_its_client_certificate(tmp_path, pki):
    station, tls = _station_over_tls(tmp_path, pki, pki.server, client_ca=pki.ca.cert, client=pki.client)
    try:
        jobs = station.issue(1)
        station.start_daemon()
        assert station.wait_reported(jobs)[jobs[0]]["status"] == "printed"
        assert _metric(station.metrics(), "ktp_link_errors_total") == 0
        assert station.stop_daemon() == 0
        assert len(tls.payload_requests()) == 1
    finally:
        tls.stop()
        station.close()


# -- `ktp-agent sync` with the daemon down, over mutual TLS --------------------------
def _sync(station, config: Path) -> subprocess.CompletedProcess:
    from testbed.station import REPO

    return subprocess.run([sys.executable, "-m", "agent", "sync", "--jobs", "2", "--timeout", "30", "--lang", "en",
                           "--config", str(config)], capture_output=True, text=True, timeout=90, cwd=REPO)


def test_sync_with_the_daemon_down_presents_the_client_certificate(tmp_path, pki):
    station, tls = _station_over_tls(tmp_path, pki, pki.server, client_ca=pki.ca.cert, client=pki.client)
    try:
        station.issue(2)
        text = station.config_path.read_text()
        without = tmp_path / "without-client-cert.toml"
        without.write_text(text.replace(f'client_cert = "{pki.client.cert}"\n', "")
                           .replace(f'client_key = "{pki.client.key}"\n', ""))
        refused = _sync(station, without)  # the server really requires a client certificate
        assert refused.returncode != 0 and "could not be reached" in refused.stderr, refused.stderr
        assert tls.payload_requests() == []

        done = _sync(station, station.config_path)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "Done: 2 new jobs downloaded; 2 ready to print offline." in done.stdout
        assert len(tls.payload_requests()) == 2
        assert station.server.store.results() == {}  # downloaded ahead, nothing printed or reported
    finally:
        tls.stop()
        station.close()
