"""The removable-medium unit and udev rule: a USB stick mounted where the daemon watches for bundles."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MEDIA = REPO / "systemd" / "ktp-agent-media@.service"
RULES = REPO / "systemd" / "99-ktp-agent.rules"
SERVICE = REPO / "systemd" / "ktp-agent.service"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                    reason="systemd-analyze is not installed (apt-get install systemd)")
def test_the_media_unit_verifies_for_a_stick_instance(tmp_path):
    unit = tmp_path / "ktp-agent-media@sdb1.service"
    unit.write_text(MEDIA.read_text())
    done = subprocess.run(["systemd-analyze", "verify", "--man=no", str(unit)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0 and done.stderr.strip() == "", done.stderr


def test_a_stick_is_mounted_where_the_daemon_watches_and_the_daemon_may_write_its_receipts_there():
    text = MEDIA.read_text()
    assert "/media/ktp/%I" in text and "uid=ktp-agent" in text and "noexec" in text
    [rule] = [line for line in RULES.read_text().splitlines() if "ktp-agent-media@" in line and line[0] != "#"]
    assert 'SUBSYSTEM=="block"' in rule and 'ENV{ID_BUS}=="usb"' in rule
    assert 'ENV{SYSTEMD_WANTS}+="ktp-agent-media@%k.service"' in rule
    assert "ReadWritePaths=-/media/ktp\n" in SERVICE.read_text()
