"""An impaired link in a network namespace: shaped loopback, random drops, TCP resets.

The namespace's ``lo`` is given a small MTU (so a reset rate per packet means
a rate per byte) and a ``tc tbf`` rate; nftables drops one input packet in
``drop_one_in`` at random, and answers one pure ACK in ``reset_one_in`` that
the client sends to ``reset_port`` with a TCP reset: the client's connection
dies at once, mid-body, as when a middlebox resets a flow.

Resets skip the shaper: ``lo``'s root is an htb whose default class holds the
``tbf`` that shapes everything, and a u32 filter sends RST segments to a
second, unshaped class. Were the reset queued behind the data in the tbf, the
client would have received more by the time it arrived, its sequence number
would no longer be exact, and (RFC 5961) the client would only answer with a
challenge ACK. Counters ``acks`` and ``data`` (client pure ACKs, server data
packets) let a caller turn ``reset_one_in`` into resets per payload byte.

Everything runs inside with ``ip netns exec``; the namespace is deleted on
close, whatever happened. Needs root, iproute2 and nftables.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from typing import Sequence


class ImpairedLinkError(Exception):
    """The namespace, shaping or firewall could not be set up (the reason says why)."""


def unavailable_reason() -> str | None:
    """Why an impaired link cannot be built here, or None when it can."""
    if os.geteuid() != 0:
        return "needs root (network namespaces, tc, nftables)"
    for tool in ("ip", "tc", "nft"):
        if shutil.which(tool) is None and not os.path.exists(f"/usr/sbin/{tool}"):
            return f"`{tool}` is not installed (apt-get install iproute2 nftables)"
    name = f"ktpprobe{uuid.uuid4().hex[:6]}"
    try:
        _run(["ip", "netns", "add", name])
    except ImpairedLinkError as exc:
        return f"`ip netns add` failed: {exc}"
    try:
        _run(["ip", "netns", "exec", name, "nft", "list", "ruleset"])
    except ImpairedLinkError as exc:
        return f"nftables does not work in a namespace: {exc}"
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)
    return None


class ImpairedLink:
    def __init__(self, rate_kbit: int, *, drop_one_in: int | None = None, reset_one_in: int | None = None,
                 reset_port: int | None = None, mtu: int = 1500, latency_ms: int = 200) -> None:
        self.name = f"ktplink{uuid.uuid4().hex[:8]}"
        self.rate_kbit, self.mtu, self.latency_ms = rate_kbit, mtu, latency_ms
        self.drop_one_in, self.reset_one_in, self.reset_port = drop_one_in, reset_one_in, reset_port
        self._made = False

    def __enter__(self) -> "ImpairedLink":
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
        self.exec_checked(["ip", "link", "set", "lo", "mtu", str(self.mtu)])
        self.exec_checked(["ip", "link", "set", "lo", "up"])
        self._shape()
        self._impair()

    def set_reset_one_in(self, reset_one_in: int | None) -> None:
        """Change the reset rate (e.g. after calibrating ACKs per payload byte)."""
        self.exec_checked(["nft", "delete", "table", "inet", "impair"])
        self.reset_one_in = reset_one_in
        self._impair()

    def _impair(self) -> None:
        resets, rules = [], []
        if self.reset_one_in:
            if self.reset_port is None:
                raise ImpairedLinkError("reset_one_in needs reset_port")
            # at output, before the shaper's queue: the ACK's number is still the client's latest
            resets.append(f"tcp dport {self.reset_port} tcp flags == ack numgen random mod {self.reset_one_in} == 0"
                          " counter name resets reject with tcp reset")
        if self.reset_port is not None:
            resets.append(f"tcp dport {self.reset_port} tcp flags == ack counter name acks")
            rules.append(f"tcp sport {self.reset_port} ip length > 100 counter name data")
        if self.drop_one_in:
            rules.append(f"numgen random mod {self.drop_one_in} == 0 counter name drops drop")
        ruleset = ("table inet impair {\n counter resets {}\n counter drops {}\n counter acks {}\n"
                   " counter data {}\n"
                   " chain output {\n  type filter hook output priority 0; policy accept;\n  "
                   + "\n  ".join(resets) + "\n }\n"
                   " chain input {\n  type filter hook input priority 0; policy accept;\n  "
                   + "\n  ".join(rules) + "\n }\n}\n")
        self._nft(ruleset)

    def _shape(self) -> None:
        tc = ["tc"]
        burst = max(2 * (self.mtu + 14), 3200)
        for command in (
            ["qdisc", "add", "dev", "lo", "root", "handle", "1:", "htb", "default", "10", "r2q", "1000000"],
            ["class", "add", "dev", "lo", "parent", "1:", "classid", "1:10", "htb", "rate", "10gbit"],
            ["class", "add", "dev", "lo", "parent", "1:", "classid", "1:20", "htb", "rate", "10gbit", "prio", "0"],
            ["qdisc", "add", "dev", "lo", "parent", "1:10", "handle", "10:", "tbf", "rate", f"{self.rate_kbit}kbit",
             "burst", str(burst), "latency", f"{self.latency_ms}ms"],
            # TCP (protocol 6) with RST set (flags byte at 20 + 13, IPv4 without options): unshaped
            ["filter", "add", "dev", "lo", "parent", "1:", "protocol", "ip", "prio", "1", "u32",
             "match", "ip", "protocol", "6", "0xff", "match", "u8", "0x04", "0x04", "at", "33", "flowid", "1:20"],
        ):
            self.exec_checked(tc + command)

    def argv(self, command: Sequence[str]) -> list[str]:
        return ["ip", "netns", "exec", self.name, *command]

    def popen(self, command: Sequence[str], **kwargs) -> subprocess.Popen:
        return subprocess.Popen(self.argv(command), **kwargs)

    def exec_checked(self, command: Sequence[str]) -> str:
        return _run(self.argv(command))

    def counters(self) -> dict[str, int]:
        """Packets counted: resets sent, random drops, client pure ACKs, server data packets."""
        doc = json.loads(self.exec_checked(["nft", "-j", "list", "counters"]))
        out = {}
        for item in doc.get("nftables", []):
            counter = item.get("counter")
            if counter:
                out[counter["name"]] = counter["packets"]
        return out

    def cut(self) -> None:
        """The link goes down: every packet is dropped until ``restore``."""
        self._nft("table inet outage {\n chain input {\n  type filter hook input priority -10; policy drop;\n }\n}\n")

    def restore(self) -> None:
        self.exec_checked(["nft", "delete", "table", "inet", "outage"])

    def _nft(self, ruleset: str) -> None:
        result = subprocess.run(self.argv(["nft", "-f", "-"]), input=ruleset.encode(), capture_output=True)
        if result.returncode != 0:
            raise ImpairedLinkError(f"nft: {result.stderr.decode().strip()}")

    def reset_counters(self) -> None:
        self.exec_checked(["nft", "reset", "counters"])

    def close(self) -> None:
        if self._made:
            subprocess.run(["ip", "netns", "del", self.name], capture_output=True)
            self._made = False


def _run(argv: Sequence[str]) -> str:
    try:
        result = subprocess.run(list(argv), capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ImpairedLinkError(f"{argv[0]}: {exc}") from None
    if result.returncode != 0:
        raise ImpairedLinkError(f"{' '.join(argv)}: {result.stderr.decode().strip()}")
    return result.stdout.decode()
