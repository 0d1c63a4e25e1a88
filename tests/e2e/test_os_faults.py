"""The machine's own faults at start-up, against the real daemon and the real job server.

Each fault is real: a port another socket holds, a journal owned by root with
the daemon run as another user, a tmpfs remounted read-only, a tmpfs filled by
a file, a daemon that is not running, a file-descriptor limit lowered under a
running daemon. Each gives one line (no traceback) and its exit code, never a
quarantined journal; once mended, the station prints the rest and the job
server's audit finds every job printed exactly once.
"""
from __future__ import annotations

import json
import os
import pwd
import resource
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import urllib3

from agent.journal_guard import JOURNAL_FILE, MARKER
from testbed.station import STATION, StationHarness

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: mounts a tmpfs, changes owners")
UNPRIVILEGED = "nobody"


def plain_line(stderr: str) -> str:
    """The one line for the technician; every other line on stderr is a JSON log line (no traceback)."""
    assert "Traceback" not in stderr, stderr
    plain = [line for line in stderr.splitlines() if line.startswith("ktp-agent: ")]
    assert len(plain) == 1, stderr
    for line in stderr.splitlines():
        if line not in plain:
            json.loads(line)
    return plain[0]


def cannot_start_logged(stderr: str, kind: str, code: int) -> None:
    events = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    assert [(e["event"], e["kind"], e["exit_code"]) for e in events if e["event"] == "station.cannot_start"] == [
        ("station.cannot_start", kind, code)], stderr


def journal_kept(state: Path) -> None:
    """Nothing moved aside, nothing held, and the journal itself passes its integrity check."""
    assert not list(state.glob("*.damaged-*")) and not (state / MARKER).exists()
    if (state / JOURNAL_FILE).exists():
        db = sqlite3.connect(f"file:{state / JOURNAL_FILE}?mode=ro", uri=True)
        try:
            assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        finally:
            db.close()


def each_job_printed_once(station: StationHarness, jobs: list[str]) -> None:
    """The job server's side: every job reported printed, each blank in one report, one card per job."""
    results = station.wait_reported(jobs, timeout=90)
    assert {r["status"] for r in results.values()} == {"printed"}
    assert set(station.server.store.results()) == set(jobs)
    assert station.server.store.blank_audit(STATION)["each_blank_once"]
    assert all(entry["http_status"] == 200 for entry in station.server.store.report_log())
    counters = station.printout_counters()
    assert len(counters) == len(set(counters)) == len(jobs), counters


@pytest.fixture
def tmpfs(tmp_path):
    """Mount a small tmpfs: ``tmpfs(size)`` returns its folder; unmounted at the end."""
    mounted = []

    def mount(size: str = "64m") -> Path:
        point = tmp_path / f"mnt{len(mounted)}"
        point.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(point)],
                              capture_output=True, text=True, timeout=30)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
        mounted.append(point)
        return point

    yield mount
    for point in mounted:
        subprocess.run(["umount", "-l", str(point)], capture_output=True, timeout=30)


def remount(point: Path, mode: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{mode}", str(point)], check=True, capture_output=True, timeout=30)


@needs_root
def test_a_taken_metrics_port_stops_the_station_with_69_before_anything_is_created(make_station, tmp_path):
    station = make_station()
    jobs = station.issue(2)
    with socket.socket() as other:
        other.bind(("127.0.0.1", station.metrics_port))
        other.listen()
        done = station.run_daemon()
        demo = tmp_path / "demo.toml"  # the built-in demo server is not provisioned either
        demo.write_text(station.config_path.read_text().replace(f'url = "{station.server.url}"', 'url = "demo"'))
        demo_done = subprocess.run([*station.daemon_command()[:-1], str(demo)], capture_output=True, text=True,
                                   cwd=station.root, timeout=60)
    assert done.returncode == 69 and demo_done.returncode == 69, done.stderr
    line = plain_line(done.stderr)
    assert line == (f"ktp-agent: 127.0.0.1:{station.metrics_port} ([metrics] listen in {station.config_path}) "
                    "sudah dipakai program lain: stasiun tidak dijalankan. Hentikan program itu (`ss -lntxp` "
                    "menunjukkan siapa) atau ubah alamatnya di konfigurasi.")
    cannot_start_logged(done.stderr, "address-in-use", 69)
    plain_line(demo_done.stderr)
    assert not station.state.exists()  # no state folder: no journal, no demo folder, no spool
    assert station.server.payload_requests() == [] and station.server.store.report_log() == []

    station.start_daemon()  # the port is free again
    each_job_printed_once(station, jobs)
    assert station.stop_daemon() == 0
    journal_kept(station.state)


@pytest.fixture
def shared_root():
    """A folder another user can reach (pytest's own temporary folders are root's alone)."""
    root = Path(tempfile.mkdtemp(prefix="ktp-osfault-", dir="/tmp"))
    root.chmod(0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


def chown_tree(path: Path, uid: int, gid: int) -> None:
    os.chown(path, uid, gid)
    for folder, dirs, files in os.walk(path):
        for name in dirs + files:
            os.chown(Path(folder) / name, uid, gid, follow_symlinks=False)


@needs_root
def test_a_journal_owned_by_root_stops_the_service_user_with_77_and_is_never_called_damaged(shared_root):
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is not installed")
    user = pwd.getpwnam(UNPRIVILEGED)
    station = StationHarness(shared_root)
    try:
        first = station.issue(2)
        station.start_daemon()  # as root, as an accidental `sudo ktp-agent run` would
        station.wait_reported(first, timeout=60)
        assert station.stop_daemon() == 0
        chown_tree(shared_root, user.pw_uid, user.pw_gid)  # the station's files belong to the service's user...
        for entry in station.state.iterdir():  # ...except what root left in its state folder
            chown_tree(entry, 0, 0)
        second = station.issue(2)

        done = station.run_daemon(user=UNPRIVILEGED)
        assert done.returncode == 77, done.stderr
        line = plain_line(done.stderr)
        assert line == (f"ktp-agent: izin ditolak untuk {station.state / JOURNAL_FILE}: stasiun tidak menulis apa pun "
                        "di sana dan tidak mencetak. Kembalikan pemiliknya ke pengguna layanan: "
                        f"`chown -R ktp-agent:ktp-agent {station.state}` (biasanya akibat `sudo ktp-agent run`). "
                        "Jurnal TIDAK rusak; jangan jalankan `journal release`.")
        cannot_start_logged(done.stderr, "permission-denied", 77)
        journal_kept(station.state)
        assert (station.state / JOURNAL_FILE).stat().st_uid == 0  # untouched

        chown_tree(station.state, user.pw_uid, user.pw_gid)  # the technician's chown
        station.start_daemon(user=UNPRIVILEGED)
        each_job_printed_once(station, first + second)
        assert station.stop_daemon() == 0
        journal_kept(station.state)
    finally:
        station.close()


@needs_root
def test_a_read_only_state_folder_at_start_exits_73_and_resumes_once_remounted(make_station, tmpfs):
    mount = tmpfs("128m")  # the station needs its spool (64 MiB by default) and 16 MiB free
    station = make_station(state=mount / "station")
    first = station.issue(2)
    station.start_daemon()
    station.wait_reported(first, timeout=60)
    assert station.stop_daemon() == 0
    second = station.issue(2)
    remount(mount, "ro")

    done = station.run_daemon()
    assert done.returncode == 73, done.stderr
    assert plain_line(done.stderr) == (
        f"ktp-agent: sistem berkas untuk {station.state} hanya-baca: stasiun tidak dijalankan dan tidak mengubah "
        "apa pun. Periksa disk (`dmesg`, `mount`), pasang kembali dengan izin tulis, lalu jalankan stasiun "
        "(`systemctl restart ktp-agent`). Jurnal TIDAK rusak.")
    cannot_start_logged(done.stderr, "read-only", 73)
    english = station.run_daemon("run", "--lang", "en")
    assert english.returncode == 73 and "is read-only: the station did not start" in plain_line(english.stderr)

    remount(mount, "rw")
    journal_kept(station.state)
    station.start_daemon()
    each_job_printed_once(station, first + second)
    assert station.stop_daemon() == 0


@needs_root
def test_too_little_free_space_at_start_waits_with_one_line_then_prints_when_space_returns(make_station, tmpfs):
    mount = tmpfs("24m")
    filler = mount / "filler"
    filler.write_bytes(b"\0" * (10 << 20))  # 14 MiB left; the station needs 1 MiB of spool + 16 MiB
    station = make_station(state=mount / "station", extra_config="\n[spool]\nprefetch_bytes = 1048576\n")
    jobs = station.issue(2)
    station.start_daemon(wait=False)
    station.wait_for(lambda: "station.waiting_for_space" in station.log(), "the wait's line", timeout=30)
    time.sleep(2.5)  # at least one more look at the disk: still waiting, still one line
    assert station.process.poll() is None
    log = station.log()
    assert plain_line(log) == (
        f"ktp-agent: disk penuh di {mount}: stasiun berhenti mengambil blanko dan mengunduh, menyimpan semua "
        "yang sudah ada, dan lanjut sendiri bila ruang kembali. Kosongkan ruang di disk itu "
        f"(`df -h {mount}`). (perlu 17 MiB kosong, ada 14 MiB)")
    assert log.count("station.waiting_for_space") == 1
    assert not station.state.exists() and station.server.payload_requests() == []
    with pytest.raises(urllib3.exceptions.HTTPError):
        station.metrics()  # nothing serves yet

    filler.unlink()
    each_job_printed_once(station, jobs)
    assert "station.space_returned" in station.log()
    assert station.stop_daemon() == 0
    journal_kept(station.state)


@needs_root
def test_status_with_the_daemon_down_says_not_printing_and_exits_1_and_nothing_is_lost(make_station):
    station = make_station()
    first = station.issue(2)
    station.start_daemon()
    station.wait_reported(first, timeout=60)
    assert station.stop_daemon() == 0
    second = station.issue(2)

    text = station.run_daemon("status", "--lang", "en")
    assert text.returncode == 1, text.stderr
    assert "NOT PRINTING — the daemon is not running (`systemctl start ktp-agent`)" in text.stdout
    assert "TIDAK MENCETAK" in station.run_daemon("status").stdout
    as_json = station.run_daemon("status", "--json")
    assert as_json.returncode == 1 and json.loads(as_json.stdout)["state"] == "not-running"
    assert set(station.server.store.results()) == set(first)  # nothing more happened while it was down

    station.start_daemon()
    each_job_printed_once(station, first + second)
    assert station.stop_daemon() == 0
    journal_kept(station.state)


@needs_root
def test_too_many_open_files_in_the_running_daemon_exits_71_with_one_line(make_station):
    station = make_station()
    first = station.issue(2)
    station.start_daemon()
    station.wait_reported(first, timeout=60)
    # The daemon's descriptors stay open; no new one can be made (fds 0-7 are all in use already).
    resource.prlimit(station.process.pid, resource.RLIMIT_NOFILE, (8, 8))
    with pytest.raises((urllib3.exceptions.HTTPError, OSError)):
        station.metrics()  # accept() fails with EMFILE inside the daemon
    code = station.process.wait(30)
    station._log.close()
    assert code == 71, station.log()[-3000:]
    log = station.log()
    assert plain_line(log) == (
        f"ktp-agent: terlalu banyak berkas terbuka (metrics 127.0.0.1:{station.metrics_port}): stasiun berhenti "
        "agar layanan menjalankannya ulang. Bila berulang, kirim `ktp-agent diagnose --bundle` ke help desk.")
    died = [json.loads(line) for line in log.splitlines() if '"station.worker_died"' in line]
    assert len(died) == 1 and died[0]["kind"] == "too-many-files" and died[0]["exit_code"] == 71

    second = station.issue(2)
    station.start_daemon()  # the service manager's restart: a new process, a fresh descriptor table
    each_job_printed_once(station, first + second)
    assert station.stop_daemon() == 0
    journal_kept(station.state)
