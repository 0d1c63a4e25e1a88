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


def test_stock_jobs_and_journal_answer_in_bahasa_indonesia_english_and_json(tmp_path, capsys):
    import json as jsonlib

    from agent.cli import main as cli_main
    from agent.journal import Journal

    from .station_config import write_station_config

    config = str(write_station_config(tmp_path, state_dir=str(tmp_path / "state")))
    Journal(tmp_path / "state" / "journal.sqlite3").close()
    assert cli_main(["stock", "show", "--config", config]) == 1
    assert "Stok blanko belum pernah dihitung" in capsys.readouterr().out
    assert cli_main(["stock", "load", "50", "--config", config]) == 0
    assert capsys.readouterr().out.strip() == "Tercatat +50 blanko; sisa 50"
    assert cli_main(["stock", "load", "5", "--config", config, "--lang", "en"]) == 0
    assert capsys.readouterr().out.strip() == "Recorded +5 blanks; 55 left"
    assert cli_main(["stock", "show", "--config", config, "--json"]) == 0
    assert jsonlib.loads(capsys.readouterr().out)["blanks_left"] == 55
    assert cli_main(["stock", "show", "--config", config]) == 0
    assert capsys.readouterr().out.startswith("Sisa 55 blanko; tidak ada kartu")
    assert cli_main(["jobs", "list", "--config", config]) == 0
    assert capsys.readouterr().out.strip() == "(tidak ada pekerjaan)"
    assert cli_main(["jobs", "list", "--config", config, "--json"]) == 0
    assert jsonlib.loads(capsys.readouterr().out) == []
    assert cli_main(["journal", "release", "--config", config]) == 1
    assert capsys.readouterr().out.strip() == "Tidak ada jurnal rusak yang menahan stasiun ini"
    assert cli_main(["journal", "release", "--config", config, "--lang", "en", "--json"]) == 1
    assert jsonlib.loads(capsys.readouterr().out) == {"released": False}


def test_run_without_config_outside_a_source_checkout_is_refused_in_one_line(monkeypatch, capsys, tmp_path):
    import agent.cli as cli

    monkeypatch.setattr(cli, "DEFAULT_CONFIG", tmp_path / "absent" / "agent.toml")
    assert cli.main(["run"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "give --config FILE" in err
