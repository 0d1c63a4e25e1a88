"""The agent's downloads over an impaired link: a namespace whose loopback is
shaped with tc tbf, with random drops and TCP resets from nftables, and an
outage in the middle. Server and client both run inside the namespace.

Skipped, with the reason, when not root or when namespaces, tc or nftables
do not work here. Every run is bounded in time and the namespace is deleted.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from testbed.impaired_link import ImpairedLink, unavailable_reason

REPO = Path(__file__).resolve().parents[2]
REASON = unavailable_reason()
pytestmark = pytest.mark.skipif(REASON is not None, reason=f"impaired link unavailable: {REASON}")
PORT = 18080


def run_batch(link: ImpairedLink, tmp_path: Path, jobs: int, during=None, stall_seconds: int = 3) -> dict:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    refs = tmp_path / "refs.json"
    server = link.popen([sys.executable, "-m", "testbed.batch_transfer", "serve", "--port", str(PORT),
                         "--jobs", str(jobs), "--out", str(refs)], cwd=REPO, env=env,
                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while not refs.exists():
            assert server.poll() is None, server.stderr.read().decode()
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.05)
        client = link.popen([sys.executable, "-m", "testbed.batch_transfer", "fetch", "--refs", str(refs),
                             "--spool", str(tmp_path / "spool"), "--stall-seconds", str(stall_seconds),
                             "--deadline", "35"], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            if during:
                during()
            out, err = client.communicate(timeout=45)
        finally:
            if client.poll() is None:
                client.kill()
                client.wait(5)
        assert client.returncode == 0, err.decode()[-3000:]
        summary = json.loads(out)
        summary["files"] = {p.name: p.read_bytes() for p in (tmp_path / "spool").glob("*.payload")}
        summary["refs"] = json.loads(refs.read_text())["refs"]
        return summary
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()


def assert_all_whole(summary: dict) -> None:
    import hashlib

    assert summary["verified"] == summary["payloads"]
    digests = sorted(hashlib.sha256(b).hexdigest() for b in summary["files"].values())
    assert digests == sorted(r["sha256"] for r in summary["refs"])
    assert summary["bytes"].get("payload", 0) - summary["bytes"].get("wasted", 0) == summary["payload_bytes"]


def test_downloads_survive_drops_and_tcp_resets_byte_identical(tmp_path):
    with ImpairedLink(4000, drop_one_in=50, reset_one_in=10, reset_port=PORT) as link:
        summary = run_batch(link, tmp_path, jobs=6)
        counters = link.counters()
    assert_all_whole(summary)
    assert counters["resets"] > 0 and counters["drops"] > 0  # the link really was impaired
    assert summary["broken"] > 0 and summary["resumes"] > 0  # and the agent resumed through it


def test_downloads_continue_after_the_link_goes_down_and_returns(tmp_path):
    with ImpairedLink(1000) as link:
        def outage():
            time.sleep(0.5)
            link.cut()
            time.sleep(3)
            link.restore()

        summary = run_batch(link, tmp_path, jobs=6, during=outage, stall_seconds=1)
    assert_all_whole(summary)
    assert summary["stalls"] + summary["backoffs"] > 0  # the outage was seen, and survived
