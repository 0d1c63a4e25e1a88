"""A download process killed with SIGKILL mid-body resumes from the bytes it had.

The download runs in its own process (the agent's PayloadDownload, nothing
mocked) against a server that sends part of the body and then stalls; the
test kills it once those bytes are in the spool, starts a new process, and
reads the Range the server saw.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.agent.jobs.test_transfer import STATION, TOKEN, Served

REPO = Path(__file__).resolve().parents[3]

DOWNLOADER = """
import json, sys
from pathlib import Path
from agent.jobs.link import ServerLink
from agent.jobs.manifest import PayloadRef
from agent.jobs.transfer import PayloadDownload
url, station, token, job_id, ref, spool = sys.argv[1:7]
ref = PayloadRef(enc_key=b"", **json.loads(ref))
link = ServerLink(url, station, token)
path = PayloadDownload(link, Path(spool), job_id, ref, stall_seconds=30).run()
print(path)
"""


def start_downloader(served: Served, spool: Path) -> subprocess.Popen:
    ref = served.ref()
    args = [served.server.url, STATION, TOKEN, served.job_ids[0],
            json.dumps({"url": ref.url, "size": ref.size, "sha256": ref.sha256}), str(spool)]
    return subprocess.Popen([sys.executable, "-c", DOWNLOADER, *args], cwd=REPO,
                            env=dict(os.environ, PYTHONPATH=str(REPO)),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def wait_for_bytes(path: Path, n: int, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.stat().st_size >= n:
            return
        time.sleep(0.02)
    raise AssertionError(f"{path} never reached {n} bytes")


def test_sigkill_mid_body_then_restart_resumes_from_the_bytes_on_disk(tmp_path):
    served = Served()
    spool = tmp_path / "spool"
    spool.mkdir()
    half = served.ref().size // 2
    served.server.set_payload_fault("stall", 1, cut_at=half, stall_s=4)
    first = start_downloader(served, spool)
    try:
        try:
            wait_for_bytes(spool / f"{served.job_ids[0]}.part", half)
        except AssertionError:
            first.kill()
            raise AssertionError(f"{first.communicate()} {served.server.payload_requests()}") from None
        first.send_signal(signal.SIGKILL)
        assert first.wait(10) == -signal.SIGKILL
        second = start_downloader(served, spool)
        out, err = second.communicate(timeout=30)
        assert second.returncode == 0, err.decode()
        final = Path(out.decode().strip())
        assert final.read_bytes() == served.payload()
        seen = served.server.payload_requests()
        assert [r["range"] for r in seen] == [None, f"bytes={half}-"]
        assert seen[1]["status"] == 206 and seen[1]["sent"] == served.ref().size - half
    finally:
        for proc in (first,):
            if proc.poll() is None:
                proc.kill()
        served.close()


@pytest.mark.parametrize("signum", [signal.SIGKILL])
def test_killed_before_any_byte_starts_cleanly(tmp_path, signum):
    served = Served()
    spool = tmp_path / "spool"
    spool.mkdir()
    served.server.set_payload_fault("stall", 1, cut_at=0, stall_s=3)
    first = start_downloader(served, spool)
    try:
        deadline = time.monotonic() + 15
        while not served.server.payload_requests() and time.monotonic() < deadline:
            time.sleep(0.02)
        first.send_signal(signum)
        first.wait(10)
        second = start_downloader(served, spool)
        out, err = second.communicate(timeout=30)
        assert second.returncode == 0, err.decode()
        assert Path(out.decode().strip()).read_bytes() == served.payload()
        assert [r["range"] for r in served.server.payload_requests()] == [None, None]
    finally:
        if first.poll() is None:
            first.kill()
        served.close()
