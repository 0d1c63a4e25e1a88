"""The state folder failing under the real daemon: a disk that fills up while printing, and a file
system the kernel turns read-only while printing. The station holds with one line (no traceback, no
crashed thread, no exit), shows it in its metrics and status, and resumes by itself once it can write
again; from the job server's side every job is printed exactly once and every blank is accounted.

Run as root (they mount file systems); otherwise they skip and say why.
"""
from __future__ import annotations

import errno
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.test_device_faults import value
from tests.e2e.test_random_uid import server_blank_audit
from tests.e2e.test_technician import cli_json

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(os.geteuid() != 0, reason="mounting a file system needs root")]

JOBS = 10
FILLER_CHUNK = 1 << 20


def mount(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["mount", *args], capture_output=True, text=True, timeout=30)


@pytest.fixture
def small_disk(tmp_path):
    """A 24 MB tmpfs; unmounted at the end."""
    disk = tmp_path / "disk"
    disk.mkdir()
    done = mount("-t", "tmpfs", "-o", "size=24m,mode=0755", "tmpfs", str(disk))
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], capture_output=True, timeout=30)


#: The start-up check wants the spool's room plus a margin free; a 4 MiB spool fits the small disk.
SMALL_SPOOL = "\n[spool]\nprefetch_bytes = 4194304\n"


def fill(disk: Path) -> Path:
    """Write a filler file until the disk refuses (ENOSPC); bounded by the disk's size."""
    filler = disk / "filler"
    chunk = b"\xa5" * FILLER_CHUNK
    with open(filler, "wb", buffering=0) as fh:
        for _ in range(64):
            try:
                fh.write(chunk)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
                break
        for size in (65536, 4096, 512):  # the last scraps, so the disk is full to the byte
            for _ in range(FILLER_CHUNK // size):
                try:
                    fh.write(chunk[:size])
                except OSError:
                    break
    assert shutil.disk_usage(disk).free < 64 * 1024, "the filler did not fill the disk"
    return filler


def printed(station) -> int:
    return sum(1 for r in station.server.store.results().values() if r["status"] == "printed")


def storage_fault(station, kind: str) -> float | None:
    return value(station.metrics(), "ktp_storage_fault", f'kind="{kind}"')


def assert_held(station, kind: str) -> None:
    """Held: the metric, the status, nothing crashed and no new card for a while."""
    station.wait_for(lambda: storage_fault(station, kind) == 1, f"ktp_storage_fault{{kind={kind}}} 1", timeout=30)
    status = cli_json(station, "status")
    assert status["state"] == "held-for-storage" and status["storage"]["kind"] == kind, status
    assert status["storage"]["needed_bytes"] > 0
    before = printed(station)
    time.sleep(4)  # the card in progress (if any) may still finish; no new blank is taken
    assert printed(station) <= before + 1
    assert station.process.poll() is None, "the daemon exited"


def assert_every_job_once(station, jobs: list[str]) -> None:
    results = station.wait_reported(jobs, timeout=120)
    assert all(r["status"] == "printed" for r in results.values()), results
    assert all(entry["http_status"] == 200 for entry in station.server.store.report_log())
    counters = sorted(r["blank_counter"] for r in results.values())
    assert counters == list(range(1, JOBS + 1)), "each blank in exactly one report"
    assert station.printer_state()["cards_inserted"] == JOBS, "no blank taken twice"
    audit = server_blank_audit(station)
    assert audit["each_blank_once"] and audit["counted"] == JOBS and audit["repeated"] == {}, audit


def assert_clean_log(station) -> None:
    log = station.log()
    assert "thread.crashed" not in log and "Traceback" not in log and "worker_died" not in log, log[-4000:]
    assert log.count("storage.fault") == 1 and log.count("storage.resumed") == 1, log[-4000:]
    assert not list(station.state.glob("*.damaged-*")) and not (station.state / "JOURNAL-DAMAGED").exists()


def test_a_disk_that_fills_up_while_printing_holds_the_station_and_resumes_when_space_returns(
        small_disk, make_station):
    station = make_station(print_ms=400, extra_config=SMALL_SPOOL)
    # The state folder and the simulated printer's pictures share the small disk.
    (small_disk / "station").mkdir()
    (small_disk / "cards").mkdir()
    station.state.symlink_to(small_disk / "station")
    station.cards_dir.symlink_to(small_disk / "cards")
    station.start_daemon()
    jobs = station.issue(JOBS)
    station.wait_for(lambda: printed(station) >= 2, "two cards printed", timeout=60)

    filler = fill(small_disk)
    assert_held(station, "no-space")
    assert value(station.metrics(), "ktp_state_free_bytes") < 1 << 20
    held_at = printed(station)

    filler.unlink()
    freed = time.monotonic()
    station.wait_for(lambda: printed(station) > held_at, "the next card after space returned", timeout=60)
    print(f"space returned -> next card reported: {time.monotonic() - freed:.2f} s")
    assert_every_job_once(station, jobs)
    assert storage_fault(station, "no-space") == 0
    started = time.monotonic()
    assert station.stop_daemon() == 0
    assert time.monotonic() - started < 10, "stopping took too long"
    assert_clean_log(station)


@pytest.fixture
def ext4_disk(tmp_path):
    """A 48 MB ext4 (errors=remount-ro) on a loop device: the kernel turns it read-only on an error."""
    image, disk = tmp_path / "ext4.img", tmp_path / "disk"
    disk.mkdir()
    with open(image, "wb") as fh:
        fh.truncate(48 << 20)
    made = subprocess.run(["mkfs.ext4", "-q", "-O", "^has_journal", str(image)], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"mkfs.ext4 is not usable here: {made.stderr.strip() or made.returncode}")
    done = mount("-o", "loop,errors=remount-ro", str(image), str(disk))
    if done.returncode != 0:
        pytest.skip(f"cannot mount a loop device here: {done.stderr.strip()}")
    yield image, disk
    subprocess.run(["umount", str(disk)], capture_output=True, timeout=30)


def read_only(disk: Path) -> bool:
    """Whether a new file is refused as on a read-only file system (the mount may still say rw)."""
    try:
        (disk / "probe").touch()
    except OSError as exc:
        return exc.errno == errno.EROFS
    (disk / "probe").unlink()
    return False


def turn_read_only(disk: Path) -> None:
    """What a disk error does to the state folder while the daemon runs: the kernel remounts it
    read-only. (``mount -o remount,ro`` is refused with EBUSY while the journal is open for writing.)"""
    device = Path(subprocess.run(["findmnt", "-n", "-o", "SOURCE", str(disk)], capture_output=True,
                                 text=True, check=True).stdout.strip()).name
    (Path("/sys/fs/ext4") / device / "trigger_fs_error").write_text("test: state folder read-only\n")
    assert read_only(disk)


def test_a_state_folder_turned_read_only_while_printing_holds_and_is_never_called_damaged(
        ext4_disk, make_station):
    image, disk = ext4_disk
    station = make_station(print_ms=400, extra_config=SMALL_SPOOL)
    (disk / "station").mkdir()
    station.state.symlink_to(disk / "station")
    station.start_daemon()
    jobs = station.issue(JOBS)
    station.wait_for(lambda: printed(station) >= 2, "two cards printed", timeout=60)

    turn_read_only(disk)
    assert_held(station, "read-only")
    held_at = printed(station)

    if mount("-o", "remount,rw", str(disk)).returncode == 0 and not read_only(disk):
        station.wait_for(lambda: printed(station) > held_at, "the next card after remount rw", timeout=60)
        assert_every_job_once(station, jobs)
        assert station.stop_daemon() == 0
        assert_clean_log(station)
        return
    # This kernel keeps an ext4 turned read-only by an error read-only until it is unmounted (the
    # mount shows ``emergency_ro``): the technician stops the service, checks the disk and mounts it
    # again; the restarted daemon carries on with the same journal.
    started = time.monotonic()
    assert station.stop_daemon() == 0
    assert time.monotonic() - started < 10, "stopping took too long"
    assert_clean_log_until_stop(station)
    assert subprocess.run(["umount", str(disk)], capture_output=True, timeout=30).returncode == 0
    subprocess.run(["e2fsck", "-p", str(image)], capture_output=True, timeout=60)
    assert mount("-o", "loop,errors=remount-ro", str(image), str(disk)).returncode == 0
    station.start_daemon()
    assert_every_job_once(station, jobs)
    assert station.stop_daemon() == 0
    log = station.log()
    assert "thread.crashed" not in log and "Traceback" not in log, log[-4000:]
    assert not list(station.state.glob("*.damaged-*")) and not (station.state / "JOURNAL-DAMAGED").exists()


def assert_clean_log_until_stop(station) -> None:
    log = station.log()
    assert "thread.crashed" not in log and "Traceback" not in log and "worker_died" not in log, log[-4000:]
    assert log.count("storage.fault") == 1, log[-4000:]
