"""The classification of the machine's own faults: errno and SQLite codes to kinds, lines and exit codes."""
from __future__ import annotations

import errno
import os
import sqlite3

import pytest

from agent.os_faults import ExitCode, OsFaultKind, classify, probe_path


@pytest.mark.parametrize("code, kind, exit_code", [
    (errno.EACCES, OsFaultKind.PERMISSION, ExitCode.NO_PERMISSION),
    (errno.EROFS, OsFaultKind.READ_ONLY, ExitCode.CANT_CREATE),
    (errno.ENOSPC, OsFaultKind.NO_SPACE, ExitCode.TEMP_FAIL),
    (errno.EADDRINUSE, OsFaultKind.ADDRESS_IN_USE, ExitCode.NO_SERVICE),
    (errno.EBUSY, OsFaultKind.DEVICE_BUSY, ExitCode.OS_ERROR),
    (errno.ENODEV, OsFaultKind.DEVICE_MISSING, ExitCode.OS_ERROR),
    (errno.EMFILE, OsFaultKind.TOO_MANY_FILES, ExitCode.OS_ERROR),
])
def test_each_errno_becomes_its_kind_and_exit_code(code, kind, exit_code):
    fault = classify(OSError(code, os.strerror(code)), "/var/lib/ktp-agent")
    assert fault.kind is kind and fault.exit_code is exit_code


@pytest.mark.parametrize("kind", list(OsFaultKind))
def test_every_line_names_where_in_both_languages_on_one_line(kind):
    from agent.os_faults import OsFault

    fault = OsFault(kind, "/var/lib/ktp-agent/journal.sqlite3")
    for lang in ("id", "en"):
        line = fault.line(lang)
        assert "/var/lib/ktp-agent/journal.sqlite3" in line and "\n" not in line
    assert fault.line("id") != fault.line("en")


def test_an_unrelated_error_is_not_called_a_machine_fault():
    assert classify(ValueError("bad"), "x") is None
    assert classify(OSError(errno.EIO, "io"), "x") is None


def test_a_wrapped_oserror_is_found_through_its_cause():
    try:
        try:
            raise OSError(errno.ENOSPC, "full")
        except OSError as inner:
            raise RuntimeError("writing failed") from inner
    except RuntimeError as outer:
        assert classify(outer, "/spool").kind is OsFaultKind.NO_SPACE


def test_sqlite_writes_to_a_read_only_database_are_read_only_not_damage(tmp_path):
    path = tmp_path / "j.sqlite3"
    sqlite3.connect(path).close()
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    with pytest.raises(sqlite3.OperationalError) as caught:
        db.execute("CREATE TABLE t (x)")
    assert classify(caught.value, str(path)).kind is OsFaultKind.READ_ONLY


def test_probe_finds_too_little_free_space_and_nothing_on_a_healthy_folder(tmp_path):
    assert probe_path(tmp_path) is None
    fault = probe_path(tmp_path / "journal.sqlite3", min_free_bytes=1 << 62)
    assert fault.kind is OsFaultKind.NO_SPACE and fault.where == str(tmp_path)
