"""The service unit's sandbox, measured by systemd itself, and the udev rule's shape.

``systemd-analyze security --offline=true`` (systemd >= 252) scores the unit
file without loading it; CI gates on an overall exposure of at most 2.0.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
UNIT = REPO / "systemd" / "ktp-agent.service"
RULES = REPO / "systemd" / "99-ktp-agent.rules"
MAX_EXPOSURE = 2.0

ANALYZE = shutil.which("systemd-analyze")
needs_analyze = pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze is not installed (apt-get install systemd)")


def _systemd_version() -> int:
    out = subprocess.run([ANALYZE, "--version"], capture_output=True, text=True, timeout=30).stdout
    match = re.match(r"systemd (\d+)", out)
    return int(match.group(1)) if match else 0


def _unit() -> dict[str, list[str]]:
    """Directive -> its values, across sections (enough for this unit's assertions)."""
    values: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            values.setdefault(key, []).append(value)
    return values


@needs_analyze
def test_exposure_score_is_at_most_two():
    if _systemd_version() < 252:
        pytest.skip("systemd-analyze security --offline needs systemd >= 252")
    done = subprocess.run([ANALYZE, "security", "--offline=true", "--threshold=20", "--no-pager", str(UNIT)],
                          capture_output=True, text=True, timeout=120)
    match = re.search(r"Overall exposure level for ktp-agent\.service: (\d+\.\d+)", done.stdout)
    assert match, done.stdout + done.stderr
    score = float(match.group(1))
    assert done.returncode == 0, done.stdout  # --threshold=20 (2.0): a higher score fails the command
    assert score <= MAX_EXPOSURE, done.stdout


@needs_analyze
def test_unit_verifies_without_warnings(tmp_path):
    # verify checks that ExecStart exists; the virtualenv is not installed here, so point it at true(1).
    unit = tmp_path / "ktp-agent.service"
    text = UNIT.read_text()
    assert "ExecStart=/opt/ktp-agent/.venv/bin/ktp-agent run --config /etc/ktp-agent/agent.toml\n" in text
    unit.write_text(text.replace("ExecStart=/opt/ktp-agent/.venv/bin/ktp-agent", "ExecStart=/bin/true"))
    done = subprocess.run([ANALYZE, "verify", "--man=no", str(unit)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "" and done.stderr.strip() == "", done.stderr


def test_unit_keeps_the_daemons_contract_with_systemd():
    unit = _unit()
    assert unit["Type"] == ["notify"] and unit["Restart"] == ["always"] and unit["StartLimitIntervalSec"] == ["0"]
    assert unit["WatchdogSec"] and unit["User"] == ["ktp-agent"] and unit["StateDirectory"] == ["ktp-agent"]
    assert unit["CapabilityBoundingSet"] == [""] and unit["DevicePolicy"] == ["closed"]
    assert {"char-usb_device rw", "char-ttyUSB rw", "char-ttyACM rw"} <= set(unit["DeviceAllow"])
    assert unit["IPAddressDeny"] == ["any"] and unit["IPAddressAllow"] == ["localhost"]
    assert unit["UMask"] == ["0077"] and unit["MemoryDenyWriteExecute"] == ["yes"]


def test_udev_rule_gives_the_devices_to_the_service_group_with_stable_names():
    rules = [line for line in RULES.read_text().splitlines() if line.strip() and not line.startswith("#")]
    for line in rules:
        for part in (p.strip() for p in line.split(",")):
            assert re.fullmatch(r'[A-Z]+(\{[^}]+\})?(==|!=|\+=|=|:=)"[^"]*"', part), part
    devices = [line for line in rules if "idVendor" in line]
    printer = [line for line in devices if 'ATTR{idVendor}=="0f49"' in line]
    reader = [line for line in devices if 'ATTR{idVendor}=="072f"' in line and 'ATTR{idProduct}=="2200"' in line]
    assert len(printer) == 1 and 'SYMLINK+="ktp-printer"' in printer[0]
    assert len(reader) == 1 and 'SYMLINK+="ktp-reader"' in reader[0]
    for line in devices:
        assert 'GROUP="ktp-agent"' in line and 'MODE="0660"' in line
    assert re.search(r'^#SUBSYSTEM=="tty".*ATTRS\{serial\}.*SYMLINK\+="ktp-reader"', RULES.read_text(), re.M)
    if shutil.which("udevadm") and subprocess.run(["udevadm", "verify", "--help"], capture_output=True,
                                                  timeout=30).returncode == 0:
        done = subprocess.run(["udevadm", "verify", str(RULES)], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr


def test_the_unit_never_restarts_what_a_restart_cannot_fix_and_restarts_the_rest():
    from agent.os_faults import ExitCode

    prevented = {int(code) for value in _unit()["RestartPreventExitStatus"] for code in value.split()}
    needs_a_person = {ExitCode.DATA_ERROR, ExitCode.NO_SERVICE, ExitCode.CANT_CREATE, ExitCode.NO_PERMISSION,
                      ExitCode.CONFIG}
    assert prevented == {int(code) for code in needs_a_person}
    assert not prevented & {int(ExitCode.OS_ERROR), int(ExitCode.TEMP_FAIL), int(ExitCode.FAILED)}
    comments = UNIT.read_text()
    for code in ExitCode:
        if code not in (ExitCode.OK, ExitCode.FAILED):
            assert re.search(rf"^#.*\b{int(code)} \(EX_", comments, re.M), f"{code!r} is not explained in the unit"


def test_held_journal_exits_with_the_status_the_unit_does_not_restart(tmp_path):
    import sys

    from agent.journal_guard import MARKER
    from agent.os_faults import ExitCode

    state = tmp_path / "state"
    state.mkdir()
    (state / MARKER).write_text("journal.sqlite3: journal failed its integrity check.\n")
    config = tmp_path / "agent.toml"
    config.write_text(f"""
[station]
id = "3319-05"
state_dir = "{state}"
[server]
url = "demo"
demo_jobs = 1
[printer]
uri = "sim://printer?state={tmp_path / 'sim'}"
[reader]
uri = "sim://reader?state={tmp_path / 'sim'}"
[metrics]
listen = "127.0.0.1:0"
""")
    done = subprocess.run([sys.executable, "-m", "agent", "run", "--config", str(config)], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == ExitCode.DATA_ERROR == 65, done.stderr
    plain = [line for line in done.stderr.splitlines() if line.startswith("ktp-agent: ")]
    assert len(plain) == 1 and "ktp-agent journal release" in plain[0], done.stderr
    assert "Traceback" not in done.stderr


_UNDER_MDWE = """
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(65, 1, 0, 0, 0) != 0:  # PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN (Linux >= 6.3)
    sys.exit(77)
os.execv(sys.executable, [sys.executable, "-m", "agent", *sys.argv[1:]])
"""


def test_the_daemon_prints_under_memory_deny_write_execute(tmp_path):
    """MemoryDenyWriteExecute=yes, as the kernel's own MDWE (inherited across exec): CPython copes."""
    import sys

    config = tmp_path / "agent.toml"
    config.write_text(f"""
[station]
id = "3319-05"
state_dir = "{tmp_path / 'state'}"
[server]
url = "demo"
[printer]
uri = "sim://printer?state={tmp_path / 'sim'}"
[reader]
uri = "sim://reader?state={tmp_path / 'sim'}"
[metrics]
listen = "127.0.0.1:0"
""")
    done = subprocess.run([sys.executable, "-c", _UNDER_MDWE, "demo", "--cards", "1", "--config", str(config)],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    if done.returncode == 77:
        pytest.skip("this kernel has no PR_SET_MDWE (Linux >= 6.3)")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "cards printed: 1," in done.stdout
