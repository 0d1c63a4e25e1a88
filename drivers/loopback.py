"""Loopback hosts: where a simulator may listen and where the station may speak plain HTTP."""
from __future__ import annotations

import ipaddress


def is_loopback(host: str | None) -> bool:
    """127.0.0.0/8, ::1 or the name localhost (any case, with or without the root's dot)."""
    if host is None:
        return False
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
