"""The storage state against a real small tmpfs: the journal refuses a transition on a full disk with an
OsFaultError and keeps its state; the station's storage state holds and ends its hold by itself."""
from __future__ import annotations

import errno
import os
import subprocess
import threading

import pytest

from agent.journal import JobState, Journal
from agent.os_faults import OsFaultError, OsFaultKind
from agent.storage import StorageState

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")


@pytest.fixture
def tiny_disk(tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)], capture_output=True,
                          text=True, timeout=30)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], capture_output=True, timeout=30)


def fill(disk):
    filler = disk / "filler"
    with open(filler, "wb", buffering=0) as fh:
        for size in (1 << 16, 4096, 512):
            for _ in range(4096):
                try:
                    fh.write(b"\0" * size)
                except OSError as exc:
                    assert exc.errno == errno.ENOSPC
                    break
    return filler


def test_a_full_disk_refuses_a_transition_as_no_space_and_the_journal_keeps_its_state(tiny_disk):
    journal = Journal(tiny_disk / "journal.sqlite3")
    journal.receive("job-1", b"{}", b"sig")
    filler = fill(tiny_disk)
    with pytest.raises(OsFaultError) as raised:
        for n in range(2, 200):  # bounded: the WAL's free pages run out within a few commits
            journal.receive(f"job-{n}", b"x" * 4096, b"sig")
    assert raised.value.fault.kind is OsFaultKind.NO_SPACE
    assert journal.get("job-1").state is JobState.RECEIVED
    filler.unlink()
    journal.receive("job-after", b"{}", b"sig")  # the same connection writes again
    assert journal.integrity_ok() and journal.get("job-after") is not None
    journal.close()


def test_the_storage_state_holds_on_a_full_disk_and_resumes_by_itself(tiny_disk):
    journal = Journal(tiny_disk / "journal.sqlite3")
    woken = threading.Event()
    storage = StorageState(tiny_disk, threading.Event(), min_free_bytes=64 * 1024, probes=(journal.touch,))
    storage.on_resume(woken.set)
    storage.look()
    assert not storage.holds and storage.may_take_blank()
    filler = fill(tiny_disk)
    storage.look()
    status = storage.status()
    assert status is not None and status.fault.kind is OsFaultKind.NO_SPACE and not storage.may_take_blank()
    assert status.free_bytes < 64 * 1024 and status.needed_bytes == 128 * 1024
    assert "disk penuh" in status.line("id") and "disk is full" in status.line("en")
    storage.look()  # still full: still held, no second line
    assert storage.holds and not woken.is_set()
    filler.unlink()
    storage.look()
    assert not storage.holds and woken.is_set()
    assert not (tiny_disk / ".storage-probe").exists()
    journal.close()


def test_a_write_failure_of_another_kind_is_not_taken_as_storage(tmp_path):
    storage = StorageState(tmp_path, threading.Event())
    assert not storage.took(OSError(errno.EBADF, "bad file descriptor"))
    assert not storage.took(ValueError("a bug"))
    assert storage.took(OSError(errno.EROFS, "read-only file system"), tmp_path / "spool" / "x.part")
    assert storage.status().fault.kind is OsFaultKind.READ_ONLY
