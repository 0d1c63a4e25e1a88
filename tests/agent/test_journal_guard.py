"""The journal is called damaged only on proof; a journal the machine will not let the station write is an
OsFaultError with its line, and nothing is moved or marked."""
from __future__ import annotations

import os
import pwd
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from agent.errors import JournalError
from agent.journal_guard import JOURNAL_FILE, MARKER, open_checked
from agent.os_faults import OsFaultError, OsFaultKind

REPO = Path(__file__).resolve().parents[2]
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: mounts a tmpfs, runs as another user")


def nothing_moved(state: Path) -> None:
    assert not list(state.glob("*.damaged-*")) and not (state / MARKER).exists()


def a_journal_with_one_job(state: Path) -> None:
    journal = open_checked(state)
    journal.receive("j", b"{}", b"s")
    journal.close()


def damage(state: Path) -> None:
    path = state / JOURNAL_FILE
    data = bytearray(path.read_bytes())
    data[100:4096] = b"\x00garbage" * ((4096 - 100) // 8) + b"\x00" * ((4096 - 100) % 8)
    path.write_bytes(bytes(data))


@pytest.fixture
def mounted(tmp_path):
    point = tmp_path / "mnt"
    point.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(point)], capture_output=True,
                          text=True, timeout=30)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    yield point
    subprocess.run(["umount", "-l", str(point)], capture_output=True, timeout=30)


def test_a_journal_from_a_newer_agent_is_refused_but_never_moved_aside(tmp_path):
    a_journal_with_one_job(tmp_path)
    db = sqlite3.connect(tmp_path / JOURNAL_FILE)
    db.execute("UPDATE meta SET value='999' WHERE key='schema_version'")
    db.commit()
    db.close()
    with pytest.raises(JournalError, match="newer than this agent"):
        open_checked(tmp_path)
    nothing_moved(tmp_path)


@needs_root
def test_a_healthy_journal_on_a_read_only_file_system_is_a_read_only_fault_not_damage(mounted):
    state = mounted / "state"
    a_journal_with_one_job(state)
    subprocess.run(["mount", "-o", "remount,ro", str(mounted)], check=True, timeout=30)
    with pytest.raises(OsFaultError) as caught:
        open_checked(state)
    assert caught.value.fault.kind is OsFaultKind.READ_ONLY and caught.value.fault.where == str(state)
    nothing_moved(state)


@needs_root
def test_a_damaged_journal_on_a_read_only_file_system_says_read_only_without_a_traceback(mounted):
    state = mounted / "state"
    a_journal_with_one_job(state)
    damage(state)
    subprocess.run(["mount", "-o", "remount,ro", str(mounted)], check=True, timeout=30)
    with pytest.raises(OsFaultError) as caught:  # nothing can be moved there: the probe says so first
        open_checked(state)
    assert caught.value.fault.kind is OsFaultKind.READ_ONLY
    nothing_moved(state)


@needs_root
def test_a_full_disk_while_opening_is_no_space_not_damage(mounted):
    state = mounted / "state"
    state.mkdir()
    with open(mounted / "filler", "wb") as filler:
        try:
            while True:
                filler.write(b"\0" * 65536)
                filler.flush()
        except OSError:
            pass
    with pytest.raises(OsFaultError) as caught:
        open_checked(state)
    assert caught.value.fault.kind is OsFaultKind.NO_SPACE
    nothing_moved(state)


_OPEN_AS_USER = """
import sys
from pathlib import Path
from agent.journal_guard import JOURNAL_FILE, MARKER, open_checked
from agent.os_faults import OsFaultError
try:
    open_checked(Path(sys.argv[1]))
except OsFaultError as exc:
    print(exc.fault.kind.value, exc.fault.where, exc.fault.folder)
"""


@needs_root
@pytest.mark.parametrize("owned_by_root", ["", "-wal", "-shm"])
def test_any_journal_file_left_to_root_is_a_permission_fault_naming_that_file(owned_by_root):
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is not installed")
    nobody = pwd.getpwnam("nobody")
    root = Path(tempfile.mkdtemp(prefix="ktp-guard-", dir="/tmp"))
    try:
        root.chmod(0o755)
        state = root / "state"
        a_journal_with_one_job(state)
        for suffix in ("-wal", "-shm"):
            Path(f"{state / JOURNAL_FILE}{suffix}").write_bytes(b"")
        for path in (state, *state.iterdir()):
            os.chown(path, nobody.pw_uid, nobody.pw_gid)
        os.chown(f"{state / JOURNAL_FILE}{owned_by_root}", 0, 0)
        done = subprocess.run(["setpriv", f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}", "--clear-groups",
                               sys.executable, "-c", _OPEN_AS_USER, str(state)], capture_output=True, text=True,
                              cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)), timeout=60)
        said = done.stdout.splitlines()[-1].split()
        assert said == ["permission-denied", f"{state / JOURNAL_FILE}{owned_by_root}", str(state)], done.stderr
        nothing_moved(state)
    finally:
        shutil.rmtree(root, ignore_errors=True)
