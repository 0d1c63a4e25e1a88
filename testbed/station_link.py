"""The station's own network namespace, joined to this one by a point-to-point link: a veth pair.

The job server listens in this (the test's or bench's) namespace on the link's
near address; the daemon runs inside the station namespace (``argv``) and
reaches the server only over the link. The link has a real Ethernet MTU
(1,500 by default) and, unlike ``lo``, no segmentation offload: both ends
have ``gso_max_segs 1``, so every packet nftables sees is one packet on the
wire (the ``oversize`` counter, packets longer than the MTU, proves it stays
0). IPv6 is off on both ends, so nothing but the station's own traffic
crosses. An optional ``tc tbf`` rate shapes both directions.

nftables in the station namespace counts every IPv4 packet out of the link
(``up``: station to server) and into it (``down``), IP and TCP headers and TLS
included. ``down()`` takes the link down (the station's route to the server
is gone: connecting fails at once, as in an office without network) and
``up()`` brings it back. Needs root, iproute2 and nftables.
"""
from __future__ import annotations

import json
import random
import subprocess
import uuid
from dataclasses import dataclass
from typing import Sequence

from .impaired_link import ImpairedLinkError, unavailable_reason

__all__ = ["StationLink", "WireCount", "unavailable_reason", "ImpairedLinkError"]


@dataclass(frozen=True)
class WireCount:
    """Packets and bytes (IP packets, headers included) each way over the link."""

    up_bytes: int
    up_packets: int
    down_bytes: int
    down_packets: int
    oversize: int  # packets longer than the MTU: segmentation offload leaking into the count

    @property
    def total_bytes(self) -> int:
        return self.up_bytes + self.down_bytes

    @property
    def packets(self) -> int:
        return self.up_packets + self.down_packets

    def minus(self, earlier: "WireCount") -> "WireCount":
        return WireCount(self.up_bytes - earlier.up_bytes, self.up_packets - earlier.up_packets,
                         self.down_bytes - earlier.down_bytes, self.down_packets - earlier.down_packets,
                         self.oversize - earlier.oversize)


class StationLink:
    def __init__(self, *, mtu: int = 1500, rate_kbit: int | None = None) -> None:
        tag = uuid.uuid4().hex[:8]
        self.name = f"ktpstation{tag}"
        self.near_dev, self.far_dev = f"kw{tag}n", f"kw{tag}f"
        subnet = (random.randrange(100, 250), random.randrange(256), 4 * random.randrange(64))
        self.server_address = "10.{}.{}.{}".format(subnet[0], subnet[1], subnet[2] + 1)
        self.station_address = "10.{}.{}.{}".format(subnet[0], subnet[1], subnet[2] + 2)
        self.mtu, self.rate_kbit = mtu, rate_kbit
        self._made = False

    def __enter__(self) -> "StationLink":
        try:
            self._make()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _make(self) -> None:
        _run(["ip", "netns", "add", self.name])
        self._made = True
        _run(["ip", "link", "add", self.near_dev, "type", "veth", "peer", "name", self.far_dev, "netns", self.name])
        for dev, address, inside in ((self.near_dev, self.server_address, False),
                                     (self.far_dev, self.station_address, True)):
            run = self.exec_checked if inside else _run
            run(["sysctl", "-q", "-w", f"net.ipv6.conf.{dev}.disable_ipv6=1"])
            run(["ip", "link", "set", "dev", dev, "mtu", str(self.mtu), "gso_max_segs", "1"])
            run(["ip", "addr", "add", f"{address}/30", "dev", dev])
            if self.rate_kbit:
                run(["tc", "qdisc", "add", "dev", dev, "root", "tbf", "rate", f"{self.rate_kbit}kbit",
                     "burst", str(max(2 * (self.mtu + 14), 3200)), "latency", "400ms"])
            run(["ip", "link", "set", "dev", dev, "up"])
        self.exec_checked(["ip", "link", "set", "dev", "lo", "up"])
        self._nft("table inet wire {\n counter up {}\n counter down {}\n counter oversize {}\n"
                  f" chain output {{\n  type filter hook output priority 0; policy accept;\n"
                  f"  oifname \"{self.far_dev}\" ip length > {self.mtu} counter name oversize\n"
                  f"  oifname \"{self.far_dev}\" counter name up\n }}\n"
                  f" chain input {{\n  type filter hook input priority 0; policy accept;\n"
                  f"  iifname \"{self.far_dev}\" ip length > {self.mtu} counter name oversize\n"
                  f"  iifname \"{self.far_dev}\" counter name down\n }}\n}}\n")

    def argv(self, command: Sequence[str]) -> list[str]:
        """``command`` run inside the station namespace."""
        return ["ip", "netns", "exec", self.name, *command]

    def exec_checked(self, command: Sequence[str]) -> str:
        return _run(self.argv(command))

    def count(self) -> WireCount:
        doc = json.loads(self.exec_checked(["nft", "-j", "list", "counters", "table", "inet", "wire"]))
        seen = {item["counter"]["name"]: item["counter"] for item in doc.get("nftables", []) if "counter" in item}
        return WireCount(seen["up"]["bytes"], seen["up"]["packets"], seen["down"]["bytes"], seen["down"]["packets"],
                         seen["oversize"]["packets"])

    def down(self) -> None:
        """The station's link goes down: no route to the server until ``up``."""
        self.exec_checked(["ip", "link", "set", "dev", self.far_dev, "down"])

    def up(self) -> None:
        self.exec_checked(["ip", "link", "set", "dev", self.far_dev, "up"])

    def is_up(self) -> bool:
        doc = json.loads(self.exec_checked(["ip", "-j", "link", "show", "dev", self.far_dev]))
        return "UP" in doc[0].get("flags", [])

    def _nft(self, ruleset: str) -> None:
        result = subprocess.run(self.argv(["nft", "-f", "-"]), input=ruleset.encode(), capture_output=True)
        if result.returncode != 0:
            raise ImpairedLinkError(f"nft: {result.stderr.decode().strip()}")

    def close(self) -> None:
        if self._made:
            subprocess.run(["ip", "netns", "del", self.name], capture_output=True)  # takes the veth pair along
            subprocess.run(["ip", "link", "del", self.near_dev], capture_output=True)
            self._made = False


def _run(argv: Sequence[str]) -> str:
    try:
        result = subprocess.run(list(argv), capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ImpairedLinkError(f"{argv[0]}: {exc}") from None
    if result.returncode != 0:
        raise ImpairedLinkError(f"{' '.join(argv)}: {result.stderr.decode().strip()}")
    return result.stdout.decode()
