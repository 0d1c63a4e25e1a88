"""The station's counted link (testbed/station_link.py): every byte on it counted once per wire
packet, headers included, and nothing crossing it while it is down.

Skipped, with the reason, when not root or when namespaces or nftables do not work here.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading

import pytest

from testbed.station_link import StationLink, unavailable_reason

REASON = unavailable_reason()
pytestmark = pytest.mark.skipif(REASON is not None, reason=f"station link unavailable: {REASON}")
SIZE = 300_000
CLIENT = """
import socket, sys
with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10) as s:
    got = 0
    while chunk := s.recv(65536):
        got += len(chunk)
print(got)
"""


def _serve_once(address: str, data: bytes) -> int:
    listener = socket.create_server((address, 0))

    def send() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.sendall(data)
        listener.close()

    threading.Thread(target=send, daemon=True).start()
    return listener.getsockname()[1]


def test_bytes_from_the_server_are_counted_per_wire_packet_with_their_headers():
    with StationLink(mtu=1500) as link:
        port = _serve_once(link.server_address, os.urandom(SIZE))
        got = subprocess.run(link.argv([sys.executable, "-c", CLIENT, link.server_address, str(port)]),
                             capture_output=True, text=True, timeout=30)
        count = link.count()
    assert got.returncode == 0 and int(got.stdout) == SIZE, got.stderr
    assert count.oversize == 0                                    # no offloaded super-packet was counted
    assert count.down_packets >= SIZE / 1460                      # at most an MSS of data in each packet
    # each data packet carries at least 40 bytes of IPv4 and TCP headers on top of its data
    assert count.down_bytes >= SIZE + 40 * (SIZE // 1460)
    assert count.up_packets > 0 and count.up_bytes >= 40 * count.up_packets   # the client's SYN and ACKs


def test_nothing_crosses_a_link_that_is_down_and_it_works_again_once_up():
    with StationLink() as link:
        port = _serve_once(link.server_address, b"back")
        link.down()
        probe = [sys.executable, "-c", CLIENT, link.server_address, str(port)]
        refused = subprocess.run(link.argv(probe), capture_output=True, text=True, timeout=30)
        before = link.count()
        link.up()
        fetched = subprocess.run(link.argv(probe), capture_output=True, text=True, timeout=30)
    assert refused.returncode != 0 and "unreachable" in refused.stderr.lower()
    assert before.up_packets == 0 and before.down_packets == 0
    assert fetched.returncode == 0 and fetched.stdout.strip() == "4"
