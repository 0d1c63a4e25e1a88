"""The metrics endpoint behind basic auth (bcrypt hashes) and TLS, for real, on loopback."""
from __future__ import annotations

import base64
import os
import shutil
import ssl
from pathlib import Path

import pytest
import urllib3
from prometheus_client import CollectorRegistry, Counter

from agent.config import load_config
from agent.errors import ConfigError, KeyFileError
from agent.observe.endpoint import MetricsServer
from agent.observe.auth import load_basic_auth, server_tls_context

bcrypt = pytest.importorskip("bcrypt", reason="bcrypt is the optional metrics-auth extra")


def _registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    Counter("ktp_test_things", "Things", registry=registry).inc(3)
    return registry


def _auth_file(tmp_path: Path, *lines: str, mode: int = 0o640) -> Path:
    path = tmp_path / "metrics-users"
    path.write_text("# prometheus scrapers\n\n" + "\n".join(lines) + "\n")
    os.chmod(path, mode)
    return path


def _hash(password: str) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()


def _basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.fixture
def served(tmp_path):
    servers = []

    def start(**kwargs) -> str:
        server = MetricsServer(_registry(), "127.0.0.1", 0, routes={"/status": lambda: ("text/plain", b"ok")},
                               **kwargs).start()
        servers.append(server)
        return f"127.0.0.1:{server.address[1]}"

    yield start
    for server in servers:
        server.stop()


def test_scrape_needs_the_right_user_and_password(served, tmp_path):
    auth = load_basic_auth(_auth_file(tmp_path, f"prometheus:{_hash('rahasia-1')}", f"grafana:{_hash('lain')}"))
    where = served(auth=auth)
    http = urllib3.PoolManager(retries=False, timeout=10)
    url = f"http://{where}/metrics"
    missing = http.request("GET", url)
    assert missing.status == 401
    assert missing.headers["WWW-Authenticate"].startswith('Basic realm="ktp-agent"')
    assert b"ktp_test_things" not in missing.data
    for user, password in (("prometheus", "salah"), ("nobody", "rahasia-1"), ("grafana", "rahasia-1"),
                           ("prometheus", "")):
        assert http.request("GET", url, headers=_basic(user, password)).status == 401, (user, password)
    assert http.request("GET", url, headers={"Authorization": "Basic !!not-base64"}).status == 401
    assert http.request("GET", url, headers={"Authorization": "Bearer rahasia-1"}).status == 401
    ok = http.request("GET", url, headers=_basic("prometheus", "rahasia-1"))
    assert ok.status == 200 and b"ktp_test_things_total 3.0" in ok.data
    assert http.request("GET", f"http://{where}/status").status == 401  # every page, not only /metrics
    assert http.request("GET", f"http://{where}/status", headers=_basic("grafana", "lain")).status == 200


def test_scrape_over_tls_with_the_ca(served, tmp_path):
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is not installed")
    from tests.agent.jobs.test_tls import issue, make_ca

    ca = make_ca(tmp_path, "metrics-ca")
    leaf = issue(ca, tmp_path, "station-metrics", server=True)
    auth = load_basic_auth(_auth_file(tmp_path, f"prometheus:{_hash('rahasia-1')}"))
    where = served(tls=server_tls_context(leaf.cert, leaf.key), auth=auth)
    https = urllib3.PoolManager(retries=False, timeout=10, ca_certs=str(ca.cert), cert_reqs="CERT_REQUIRED")
    assert https.request("GET", f"https://{where}/metrics").status == 401
    ok = https.request("GET", f"https://{where}/metrics", headers=_basic("prometheus", "rahasia-1"))
    assert ok.status == 200 and b"ktp_test_things_total 3.0" in ok.data
    stranger = urllib3.PoolManager(retries=False, timeout=10, cert_reqs="CERT_REQUIRED",
                                   ssl_context=ssl.create_default_context())
    with pytest.raises(urllib3.exceptions.SSLError):
        stranger.request("GET", f"https://{where}/metrics")  # not our CA: not trusted
    with pytest.raises(urllib3.exceptions.HTTPError):
        urllib3.PoolManager(retries=False, timeout=5).request("GET", f"http://{where}/metrics")


def test_basic_auth_file_problems_stop_the_station(tmp_path):
    with pytest.raises(KeyFileError, match="metrics basic auth file not found"):
        load_basic_auth(tmp_path / "absent")
    with pytest.raises(KeyFileError, match="line 3: expected user:bcrypt-hash"):
        load_basic_auth(_auth_file(tmp_path, "prometheus:plaintext-password"))
    with pytest.raises(KeyFileError, match="readable by others"):
        load_basic_auth(_auth_file(tmp_path, f"prometheus:{_hash('x')}", mode=0o644))
    with pytest.raises(KeyFileError, match="holds no user"):
        load_basic_auth(_auth_file(tmp_path))
    assert load_basic_auth(None) is None


def test_metrics_tls_and_auth_keys_are_read_from_the_config(tmp_path):
    base = f"""
[station]
id = "3319-05"
state_dir = "state"
[server]
url = "demo"
[printer]
uri = "sim://printer?state=sim"
[reader]
uri = "sim://reader?state=sim"
[metrics]
listen = "0.0.0.0:9464"
"""
    path = tmp_path / "agent.toml"
    path.write_text(base + 'tls_cert = "m.pem"\ntls_key = "m.key"\nbasic_auth_file = "users"\n')
    metrics = load_config(path).metrics
    assert (metrics.tls_cert, metrics.tls_key, metrics.basic_auth_file) == (
        tmp_path / "m.pem", tmp_path / "m.key", tmp_path / "users")
    path.write_text(base + 'tls_cert = "m.pem"\n')
    with pytest.raises(ConfigError, match=r"\[metrics\] tls_key: tls_cert and tls_key go together"):
        load_config(path)
    path.write_text(base)
    assert load_config(path).metrics.basic_auth_file is None and load_config(path).metrics.host == "0.0.0.0"
