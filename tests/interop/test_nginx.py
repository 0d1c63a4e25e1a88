"""Interop: PayloadDownload against real nginx serving payload files with ranges.

nginx (the Debian package) is started by the test on a loopback port with a
configuration in tmp_path; its access log shows the Range and If-Range it was
sent and the status and body bytes it answered.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from agent.jobs.link import ServerLink
from agent.jobs.manifest import PayloadRef
from agent.jobs.transfer import PayloadCorruptError, PayloadDownload, TransferBrokenError

from testbed.station import end_process

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
pytestmark = pytest.mark.skipif(NGINX is None, reason="nginx is not installed (apt-get install nginx)")

CONF = """
daemon off;
master_process off;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 64; }}
http {{
    default_type application/octet-stream;
    log_format ranges escape=none '$status $body_bytes_sent "$http_range" "$http_if_range"';
    access_log {root}/access.log ranges;
    client_body_temp_path {root}/tmp; proxy_temp_path {root}/tmp; fastcgi_temp_path {root}/tmp;
    uwsgi_temp_path {root}/tmp; scgi_temp_path {root}/tmp;
    server {{
        listen 127.0.0.1:{port};
        location /v1/payloads/ {{ alias {root}/www/; }}
    }}
}}
"""


class Nginx:
    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "www").mkdir(parents=True)
        (root / "tmp").mkdir()
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        (root / "nginx.conf").write_text(CONF.format(root=root, port=self.port))
        self.process = subprocess.Popen([NGINX, "-c", str(root / "nginx.conf"), "-p", str(root)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                if self.process.poll() is not None:
                    raise RuntimeError(f"nginx exited: {self.process.stderr.read().decode()}")
                time.sleep(0.05)
        raise RuntimeError("nginx did not start listening in 10 s")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def publish(self, data: bytes) -> PayloadRef:
        digest = hashlib.sha256(data).hexdigest()
        (self.root / "www" / digest).write_bytes(data)
        return PayloadRef(url=f"/v1/payloads/{digest}", size=len(data), sha256=digest, enc_key=b"")

    def log(self) -> list[str]:
        path = self.root / "access.log"
        return path.read_text().splitlines() if path.exists() else []

    def stop(self) -> None:
        end_process(self.process)


@pytest.fixture
def nginx(tmp_path):
    server = Nginx(tmp_path / "nginx")
    yield server
    server.stop()


@pytest.fixture
def link(nginx):
    counted = Counter()
    link = ServerLink(nginx.url, "3319-05", "unused")
    link.counted = counted
    link.count = lambda kind, n: counted.update({kind: n})
    yield link
    link.close()


def payload(n: int = 300_000) -> bytes:
    return os.urandom(n)


def interrupted(link, spool: Path, ref: PayloadRef, after: int) -> PayloadDownload:
    """A download stopped (as at agent stop) once ``after`` bytes are on disk."""
    download = PayloadDownload(link, spool, "job-1", ref, count_bytes=link.count,
                               should_stop=lambda: download.part.stat().st_size >= after)
    with pytest.raises(TransferBrokenError, match="stopping"):
        download.run()
    return download


def test_whole_download_from_nginx_is_byte_identical(nginx, link, tmp_path):
    data = payload()
    ref = nginx.publish(data)
    path = PayloadDownload(link, tmp_path, "job-1", ref, count_bytes=link.count).run()
    assert path.read_bytes() == data
    assert nginx.log() == ['200 300000 "" ""']


def test_resume_from_nginx_uses_range_and_if_range_and_gets_206(nginx, link, tmp_path):
    data = payload()
    ref = nginx.publish(data)
    first = interrupted(link, tmp_path, ref, 50_000)
    held = first.part.stat().st_size
    etag = first.etag_file.read_text()
    second = PayloadDownload(link, tmp_path, "job-1", ref, count_bytes=link.count)
    assert second.run().read_bytes() == data
    assert nginx.log()[-1] == f'206 {len(data) - held} "bytes={held}-" "{etag}"'
    assert link.counted["wasted"] == 0


def test_file_changed_on_nginx_gets_whole_body_and_no_splice(nginx, link, tmp_path):
    data = payload()
    ref = nginx.publish(data)
    first = interrupted(link, tmp_path, ref, 50_000)
    held = first.part.stat().st_size
    stored = nginx.root / "www" / ref.sha256
    os.utime(stored, (time.time() + 100, time.time() + 100))  # nginx's ETag is mtime-size: it changes
    assert PayloadDownload(link, tmp_path, "job-1", ref, count_bytes=link.count).run().read_bytes() == data
    assert nginx.log()[-1].startswith(f'200 {len(data)} "bytes={held}-"')
    assert link.counted["wasted"] == held


def test_file_shorter_on_nginx_than_the_manifest_is_never_used(nginx, link, tmp_path):
    data = payload()
    ref = nginx.publish(data)
    first = interrupted(link, tmp_path, ref, 200_000)
    (nginx.root / "www" / ref.sha256).write_bytes(data[:100_000])  # new ETag: If-Range fails
    with pytest.raises(PayloadCorruptError, match="100000 bytes"):
        PayloadDownload(link, tmp_path, "job-1", ref, count_bytes=link.count).run()
    assert nginx.log()[-1].startswith("200 ")  # refused on its headers: the body is not read
    assert link.counted["payload"] <= ref.size
    assert not first.final.exists() and first.held() == 0


def test_range_past_the_end_of_a_shrunken_file_is_416_and_never_used(nginx, link, tmp_path):
    data = payload()
    ref = nginx.publish(data)
    first = interrupted(link, tmp_path, ref, 200_000)
    stored = nginx.root / "www" / ref.sha256
    stat = stored.stat()
    stored.write_bytes(data[:100_000])
    first.etag_file.write_text(f'"{int(stat.st_mtime):x}-{100_000:x}"')  # as if the ETag matched
    os.utime(stored, (stat.st_atime, int(stat.st_mtime)))
    with pytest.raises(PayloadCorruptError, match="100000 bytes"):
        PayloadDownload(link, tmp_path, "job-1", ref, count_bytes=link.count).run()
    assert nginx.log()[-1].startswith("416 ")
    assert not first.final.exists() and first.held() == 0


def test_keep_alive_connection_is_reused_across_payloads(nginx, link, tmp_path):
    refs = [nginx.publish(payload(20_000)) for _ in range(3)]
    for i, ref in enumerate(refs):
        PayloadDownload(link, tmp_path, f"job-{i}", ref).run()
    assert link._pool.num_connections == 1  # the link's one pool, to its one server
