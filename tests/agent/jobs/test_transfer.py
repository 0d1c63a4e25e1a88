"""PayloadDownload against the real reference server, made to misbehave on purpose.

Every test drives a real fault over loopback HTTP (``JobServer.set_payload_fault``
or ``set_throttle``) and ends with the byte-identical payload or a clear error,
never with a corrupt payload in place.
"""
from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path

import pytest
import urllib3
from Crypto.PublicKey import ECC
from hypothesis import given, settings, strategies as st

from agent.errors import LinkError, LinkTimeoutError
from agent.jobs.link import RetryLaterError, ServerLink, link_error
from agent.jobs.manifest import PayloadRef
from agent.jobs.transfer import PayloadCorruptError, PayloadDownload, TransferBrokenError
from jobserver.server import JobServer
from jobserver.store import JobStore

STATION = "3319-05"
TOKEN = "token-a"


class Served:
    """One job on a live reference server, and a link to it."""

    def __init__(self, jobs: int = 1) -> None:
        self.station_key = ECC.generate(curve="X25519")
        self.signing_key = ECC.generate(curve="Ed25519")
        self.store = JobStore(None, self.signing_key, {STATION: self.station_key.public_key()})
        self.job_ids = self.store.add_jobs(STATION, jobs)
        self.server = JobServer(self.store, tokens={TOKEN: STATION}, poll_after_s=1).start()
        self.bytes = Counter()
        self.link = ServerLink(self.server.url, STATION, TOKEN)

    def count(self, kind: str, n: int) -> None:
        self.bytes[kind] += n

    def ref(self, index: int = 0) -> PayloadRef:
        manifest = json.loads(self.store.job(self.job_ids[index]).manifest)
        p = manifest["payload"]
        return PayloadRef(url=p["url"], size=p["size"], sha256=p["sha256"], enc_key=b"")

    def payload(self, index: int = 0) -> bytes:
        return self.store.payload(self.ref(index).sha256)

    def download(self, spool: Path, index: int = 0, **kwargs) -> PayloadDownload:
        spool.mkdir(exist_ok=True)
        return PayloadDownload(self.link, spool, self.job_ids[index], self.ref(index),
                               count_bytes=self.count, **kwargs)

    def close(self) -> None:
        self.link.close()
        self.server.stop()


@pytest.fixture
def served():
    s = Served()
    yield s
    s.close()


def broken_once(served: Served, spool: Path, cut_at: int) -> PayloadDownload:
    """Leave ``cut_at`` bytes in the spool from a connection closed mid-body."""
    served.server.set_payload_fault("truncate", 1, cut_at=cut_at)
    download = served.download(spool)
    with pytest.raises(TransferBrokenError) as info:
        download.run()
    assert info.value.gained == cut_at and download.part.stat().st_size == cut_at
    return download


def assert_whole(served: Served, download: PayloadDownload) -> None:
    path = download.run()
    assert path.read_bytes() == served.payload()
    assert hashlib.sha256(path.read_bytes()).hexdigest() == served.ref().sha256
    assert not download.part.exists() and not download.etag_file.exists() and not download.record.path.exists()


def test_clean_download_is_byte_identical_and_leaves_only_the_payload(served, tmp_path):
    download = served.download(tmp_path / "spool")
    assert_whole(served, download)
    assert served.bytes["payload"] == served.ref().size and served.bytes["wasted"] == 0
    assert [r["range"] for r in served.server.payload_requests()] == [None]


def test_connection_closed_mid_body_resumes_with_range_and_if_range(served, tmp_path):
    download = broken_once(served, tmp_path / "spool", 5000)
    assert_whole(served, download)
    second = served.server.payload_requests()[1]
    assert second["range"] == "bytes=5000-" and second["if_range"] == f'"{served.ref().sha256}"'
    assert second["status"] == 206 and second["sent"] == served.ref().size - 5000
    assert served.bytes["payload"] == served.ref().size and served.bytes["wasted"] == 0


def test_stall_ends_the_attempt_and_the_bytes_are_kept(served, tmp_path):
    served.server.set_payload_fault("stall", 1, cut_at=3000, stall_s=3)
    download = served.download(tmp_path / "spool", stall_seconds=0.5)
    with pytest.raises(TransferBrokenError) as info:
        download.run()
    assert info.value.stalled and info.value.gained == 3000
    assert_whole(served, download)
    assert served.server.payload_requests()[1]["range"] == "bytes=3000-"


def _raised(outer: BaseException, cause: BaseException) -> BaseException:
    """``outer`` as a library raises it: ``raise outer from cause``."""
    try:
        raise outer from cause
    except BaseException as exc:
        return exc


E = urllib3.exceptions


@pytest.mark.parametrize("raised, timeout", [
    (E.ReadTimeoutError(None, "/v1/payloads/x", "Read timed out."), True),
    (E.ConnectTimeoutError("connecting"), True),
    (TimeoutError("timed out"), True),
    (_raised(E.ProtocolError("Connection broken"), TimeoutError()), True),
    (E.MaxRetryError(None, "/v1/payloads/x", reason=E.ConnectTimeoutError("connecting")), True),
    (_raised(E.ProtocolError("Connection broken: the peer timed out"), ConnectionResetError()), False),
    (E.SSLError("The read operation timed out"), False),
    (_raised(E.ProtocolError("Connection broken"), ConnectionResetError()), False),
], ids=["read-timeout", "connect-timeout", "socket-timeout", "socket-timeout-inside-a-protocol-error",
        "retries-of-a-timeout", "reset-whose-text-says-timed-out", "ssl-error-whose-text-says-timed-out",
        "reset"])
def test_link_failures_are_told_apart_by_type_not_by_text(raised, timeout):
    error = link_error(raised, "GET /v1/payloads/x")
    assert isinstance(error, LinkError) and isinstance(error, LinkTimeoutError) is timeout
    assert str(error) == f"GET /v1/payloads/x: {raised.__class__.__name__}"


def test_slow_link_that_keeps_moving_is_not_taken_for_a_dead_one(served, tmp_path):
    served.server.set_payload_fault("stall", 1, cut_at=3000, stall_s=0.4)
    download = served.download(tmp_path / "spool", stall_seconds=1)
    assert_whole(served, download)
    assert len(served.server.payload_requests()) == 1


def test_whole_body_for_a_ranged_request_restarts_from_zero_and_counts_the_waste(served, tmp_path):
    download = broken_once(served, tmp_path / "spool", 5000)
    served.server.set_payload_fault("ignore-range", 1)
    assert_whole(served, download)
    assert served.server.payload_requests()[1]["status"] == 200
    assert served.bytes["wasted"] == 5000
    assert served.bytes["payload"] == 5000 + served.ref().size


def test_changed_etag_gets_the_whole_body_and_nothing_is_spliced(served, tmp_path):
    download = broken_once(served, tmp_path / "spool", 5000)
    served.server.set_payload_fault("new-etag", 1)
    assert_whole(served, download)
    assert served.server.payload_requests()[1]["status"] == 200
    assert served.bytes["wasted"] == 5000


def test_range_of_another_etag_is_never_spliced(served, tmp_path):
    download = broken_once(served, tmp_path / "spool", 5000)
    served.server.set_payload_fault("range-other-etag", 1)
    with pytest.raises(TransferBrokenError) as info:
        download.run()
    assert info.value.retry_now and "another ETag" in str(info.value)
    assert download.part.stat().st_size == 0 and not download.etag_file.exists()
    assert_whole(served, download)
    assert served.server.payload_requests()[2]["range"] is None


def test_content_range_that_does_not_continue_our_bytes_is_refused(served, tmp_path):
    download = broken_once(served, tmp_path / "spool", 5000)
    served.server.set_payload_fault("bad-range", 1, cut_at=100)
    with pytest.raises(TransferBrokenError, match="does not continue"):
        download.run()
    assert download.part.stat().st_size == 0
    assert_whole(served, download)
    assert served.bytes["wasted"] == 5000


def test_416_drops_the_partial_and_starts_over(served, tmp_path):
    download = broken_once(served, tmp_path / "spool", 5000)
    served.server.set_payload_fault("unsatisfiable", 1)
    with pytest.raises(TransferBrokenError, match="not satisfiable") as info:
        download.run()
    assert info.value.retry_now
    assert_whole(served, download)


def test_body_shorter_than_announced_is_kept_and_resumed(served, tmp_path):
    download = broken_once(served, tmp_path / "spool", 1)
    served.server.set_payload_fault("truncate", 1, cut_at=9000)
    with pytest.raises(TransferBrokenError, match="broke at 9001"):
        download.run()
    assert_whole(served, download)
    assert served.bytes["payload"] == served.ref().size


def test_body_longer_than_the_payload_is_never_taken(served, tmp_path):
    served.server.set_payload_fault("overlong", 1, cut_at=4096)
    download = served.download(tmp_path / "spool")
    with pytest.raises(PayloadCorruptError, match="manifest says") as info:
        download.run()
    assert info.value.fetches == 1
    assert download.held() == 0 and served.bytes["payload"] == 0
    assert_whole(served, download)


def test_resumed_range_longer_than_announced_is_refused(served, tmp_path):
    download = broken_once(served, tmp_path / "spool", 5000)
    served.server.set_payload_fault("overlong", 1, cut_at=4096)
    with pytest.raises(TransferBrokenError, match="Content-Length does not match"):
        download.run()
    assert download.held() <= served.ref().size
    assert_whole(served, download)


def test_payload_of_another_size_is_a_corrupt_fetch(served, tmp_path):
    served.server.set_payload_fault("other-size", 1, cut_at=10)
    download = served.download(tmp_path / "spool")
    with pytest.raises(PayloadCorruptError):
        download.run()
    assert not download.final.exists()
    assert_whole(served, download)


def test_corrupt_byte_is_caught_by_sha256_and_the_count_survives_a_restart(served, tmp_path):
    served.server.set_payload_fault("corrupt", 2, cut_at=777)
    spool = tmp_path / "spool"
    for expected in (1, 2):
        download = served.download(spool)  # a new object each time, as after a restart
        with pytest.raises(PayloadCorruptError) as info:
            download.run()
        assert info.value.fetches == expected
        assert not download.final.exists() and download.held() == 0
    assert served.download(spool).record.corrupt == 2
    assert served.bytes["wasted"] == 2 * served.ref().size
    assert_whole(served, served.download(spool))


def test_partial_bytes_of_unknown_version_are_not_spliced(served, tmp_path):
    spool = tmp_path / "spool"
    spool.mkdir()
    (spool / f"{served.job_ids[0]}.part").write_bytes(served.payload()[:2000])  # no .etag beside it
    assert_whole(served, served.download(spool))
    assert served.server.payload_requests()[0]["range"] is None
    assert served.bytes["wasted"] == 2000


def test_partial_longer_than_the_payload_is_discarded(served, tmp_path):
    spool = tmp_path / "spool"
    spool.mkdir()
    (spool / f"{served.job_ids[0]}.part").write_bytes(bytes(served.ref().size + 10))
    assert_whole(served, served.download(spool))


@pytest.mark.parametrize("status", [429, 503])
def test_throttle_raises_retry_later_with_the_servers_delay(served, tmp_path, status):
    served.server.set_throttle(status, 7, 1)
    download = served.download(tmp_path / "spool")
    with pytest.raises(RetryLaterError) as info:
        download.run()
    assert info.value.status == status and info.value.retry_after == 7
    assert download.held() == 0
    assert_whole(served, download)


@settings(max_examples=15, deadline=None)
@given(cuts=st.lists(st.integers(min_value=1, max_value=20_000), min_size=1, max_size=4))
def test_any_sequence_of_broken_connections_ends_byte_identical(tmp_path_factory, cuts):
    s = Served()
    try:
        download = s.download(tmp_path_factory.mktemp("spool"))
        for cut in cuts:
            s.server.set_payload_fault("truncate", 1, cut_at=cut)
            try:
                download.run()
                break
            except TransferBrokenError:
                assert download.held() <= s.ref().size
        assert download.run().read_bytes() == s.payload()
        assert s.bytes["payload"] == s.ref().size and s.bytes["wasted"] == 0
    finally:
        s.close()
