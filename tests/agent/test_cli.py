import json
import stat
import subprocess
import sys
from pathlib import Path

from Crypto.PublicKey import ECC

from agent.cli import main

REPO = Path(__file__).resolve().parents[2]


def test_keygen_writes_a_private_key_only_the_owner_can_read(tmp_path, capsys):
    assert main(["keygen", "--out", str(tmp_path)]) == 0
    private = tmp_path / "station-key.pem"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    key = ECC.import_key(private.read_bytes())
    assert key.curve == "Curve25519" and key.has_private()
    public = ECC.import_key((tmp_path / "station-pub.pem").read_bytes())
    assert public.pointQ == key.public_key().pointQ
    assert main(["keygen", "--out", str(tmp_path)]) == 1  # never overwrites a key


def test_config_mistake_stops_the_daemon_with_one_line(tmp_path):
    config = tmp_path / "agent.toml"
    config.write_text('[station]\nid = "3319-05"\nstate_dir = "s"\ncolour = 1\n')
    result = subprocess.run([sys.executable, "-m", "agent", "run", "--config", str(config)],
                            capture_output=True, text=True, cwd=REPO, timeout=60)
    assert result.returncode == 78  # EX_CONFIG: the unit does not restart it
    lines = result.stderr.strip().splitlines()
    assert lines[0] == f"ktp-agent: {config}: [server]: missing section"
    assert len(lines) == 2 and json.loads(lines[1])["event"] == "station.cannot_start"  # and its log line


def test_missing_key_file_stops_the_daemon_naming_the_file(tmp_path):
    config = tmp_path / "agent.toml"
    config.write_text(f"""
[station]
id = "3319-05"
state_dir = "{tmp_path / 'state'}"
[server]
url = "http://127.0.0.1:9"
token_file = "{tmp_path / 'token'}"
signing_key = "{tmp_path / 'server.pub.pem'}"
station_key = "{tmp_path / 'station.pem'}"
[printer]
uri = "sim://printer?state={tmp_path / 'sim'}"
[reader]
uri = "sim://reader?state={tmp_path / 'sim'}"
[metrics]
listen = "127.0.0.1:0"
""")
    result = subprocess.run([sys.executable, "-m", "agent", "run", "--config", str(config)],
                            capture_output=True, text=True, cwd=REPO, timeout=60)
    assert result.returncode == 1
    assert f"{tmp_path / 'server.pub.pem'}: server signing key not found" in result.stderr
    assert not (tmp_path / "state" / "journal.sqlite3").exists()


def test_the_version_is_one_value_for_the_package_the_user_agent_and_the_metrics():
    from importlib.metadata import version

    import agent
    from agent.jobs.link import USER_AGENT
    from agent.observe.metrics import StationMetrics

    info = StationMetrics("3319-05").registry.get_sample_value("ktp_station_info",
                                                               {"station_id": "3319-05",
                                                                "version": agent.__version__})
    assert info == 1
    assert version("ktp-agent") == agent.__version__ and USER_AGENT == f"ktp-agent/{agent.__version__}"
