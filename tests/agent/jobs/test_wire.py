"""The link counts the bytes its sockets really move, and resumes its TLS session on reconnect.

A counting TCP relay on loopback stands between the link and the reference
server: what the link says it sent and received must equal, byte for byte,
what the relay copied each way (HTTP and TLS included), over plain HTTP and
over TLS, across a poll, a payload download, a report and a reconnect.
"""
from __future__ import annotations

import shutil

import pytest

from agent.jobs.link import ServerLink
from agent.jobs.manifest import parse_manifest
from testbed.counting_proxy import CountingProxy

from tests.agent.jobs.test_tls import STATION, TlsJobServer, pki, server_context  # noqa: F401 (pki: a fixture)
from tests.agent.jobs.test_transfer import TOKEN, Served

REPORT = {"station_id": STATION, "status": "printed", "blank_serial": "04a1b2c3d4e5f6",
          "finished_at": "2026-11-30T08:00:00Z", "attempts": 1, "reason": None}


def exchange(link: ServerLink, store) -> int:
    """A poll, a payload download and a report; returns the payload's size."""
    entries = link.poll(None, 10).entries
    assert len(entries) == 1
    manifest = parse_manifest(entries[0].manifest)
    response = link.request("GET", manifest.payload.url)
    assert response.status == 200 and len(response.data) == manifest.payload.size
    assert link.report(manifest.job_id, REPORT) == "accepted"
    return manifest.payload.size


def assert_counted_as_relayed(link: ServerLink, proxy: CountingProxy) -> tuple[int, int]:
    wire = link.wire_bytes()
    relayed = proxy.settled((wire.sent, wire.received))
    assert (wire.sent, wire.received) == relayed
    return relayed


def test_plain_http_bytes_counted_by_the_link_equal_the_relays_count():
    served = Served(jobs=1)
    proxy = CountingProxy(("127.0.0.1", served.server.port))
    link = ServerLink(proxy.url(), STATION, TOKEN)
    try:
        size = exchange(link, served.store)
        sent, received = assert_counted_as_relayed(link, proxy)
        assert received > size and sent > 0
        link.close()
        link.poll(None, 10)  # a new connection after close is counted too
        assert_counted_as_relayed(link, proxy)
        assert proxy.connections == 2
    finally:
        link.close()
        proxy.stop()
        served.close()


@pytest.mark.skipif(shutil.which("openssl") is None, reason="the openssl command is not installed")
def test_tls_bytes_counted_by_the_link_equal_the_relays_count_handshakes_included(tmp_path, pki):
    srv = TlsJobServer(tmp_path / "srv", server_context(pki.server))
    proxy = CountingProxy(("127.0.0.1", srv.server.port))
    link = ServerLink(proxy.url("https"), STATION, srv.token, pki.ca.cert, connect_timeout=5, read_timeout=5)
    try:
        size = exchange(link, srv.server.store)
        sent, received = assert_counted_as_relayed(link, proxy)
        assert received > size + 400  # the certificate chain came too
        assert link.tls.handshakes == 1 and link.tls.resumed == 0
    finally:
        link.close()
        proxy.stop()
        srv.stop()


@pytest.mark.skipif(shutil.which("openssl") is None, reason="the openssl command is not installed")
def test_a_reconnect_resumes_the_tls_session_and_costs_fewer_bytes(tmp_path, pki):
    srv = TlsJobServer(tmp_path / "srv", server_context(pki.server))
    proxy = CountingProxy(("127.0.0.1", srv.server.port))
    link = ServerLink(proxy.url("https"), STATION, srv.token, pki.ca.cert, connect_timeout=5, read_timeout=5)
    try:
        link.poll(None, 10)
        first = assert_counted_as_relayed(link, proxy)
        link.close()  # the connection is gone; the session is kept
        link.poll(None, 10)
        second = assert_counted_as_relayed(link, proxy)
        assert proxy.connections == 2
        assert link.tls.handshakes == 2 and link.tls.resumed == 1
        assert link._pool.pool.queue[-1].sock.session_reused  # the connection in the pool now
        full, resumed = sum(first), sum(second) - sum(first)
        assert resumed < full - 300  # no certificate chain the second time
    finally:
        link.close()
        proxy.stop()
        srv.stop()
