"""A small PKI for serving the reference job server over TLS: a CA the station pins, and a
server certificate for the addresses it listens on. Made with the ``openssl`` command."""
from __future__ import annotations

import ipaddress
import os
import secrets
import shutil
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path


class PkiError(Exception):
    """The openssl command is missing or refused to make a certificate."""


@dataclass(frozen=True)
class ServerPki:
    ca_cert: Path      # what the station pins as [server] ca_file
    server_cert: Path
    server_key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(self.server_cert), str(self.server_key))
        return context


def openssl_missing() -> str | None:
    return None if shutil.which("openssl") else "the openssl command is not installed (apt-get install openssl)"


def make_server_pki(directory: Path, hosts: list[str]) -> ServerPki:
    """A fresh CA and a server certificate naming ``hosts`` (IP addresses or DNS names)."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_cert, ca_key = directory / "ca.pem", directory / "ca.key"
    _openssl(directory, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", str(ca_key), "-out", str(ca_cert), "-days", "30", "-subj", "/CN=ktp bench CA",
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    cert, key, csr, ext = (directory / n for n in ("server.pem", "server.key", "server.csr", "server.ext"))
    names = ",".join(f"IP:{h}" if _is_ip(h) else f"DNS:{h}" for h in hosts)
    ext.write_text("basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                   f"extendedKeyUsage=serverAuth\nsubjectAltName={names}\n")
    _openssl(directory, "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", str(key), "-out", str(csr), "-subj", "/CN=ktp job server")
    _openssl(directory, "x509", "-req", "-in", str(csr), "-CA", str(ca_cert), "-CAkey", str(ca_key),
             "-set_serial", f"0x{secrets.token_hex(8)}", "-days", "30", "-out", str(cert), "-extfile", str(ext))
    for private in (ca_key, key):
        os.chmod(private, 0o600)
    return ServerPki(ca_cert, cert, key)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _openssl(cwd: Path, *args: str) -> None:
    try:
        result = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise PkiError(f"openssl: {exc}") from None
    if result.returncode != 0:
        raise PkiError(f"openssl {args[0]}: {result.stderr.decode(errors='replace').strip()[-500:]}")
