from pathlib import Path

import pytest

from agent.config import load_config
from agent.errors import ConfigError

from .station_config import write_station_config

GOOD = """
[station]
id = "3319-05"
state_dir = "state"

[server]
url = "https://jobs.example.go.id"
token_file = "token"
signing_key = "server.pub.pem"
station_key = "station.pem"

[printer]
uri = "serial:///dev/ttyUSB0?baud=115200"

[reader]
uri = "sim://reader?state=sim"

[metrics]
listen = "0.0.0.0:9464"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "agent.toml"
    path.write_text(text)
    return path


def test_valid_file_becomes_a_frozen_typed_value(tmp_path):
    config = load_config(write(tmp_path, GOOD))
    assert config.station.id == "3319-05"
    assert config.station.state_dir == tmp_path / "state"
    assert config.server.token_file == tmp_path / "token"
    assert config.metrics.host == "0.0.0.0" and config.metrics.port == 9464
    assert config.spool.prefetch_jobs == 8
    assert f"state={tmp_path / 'sim'}" in config.reader.uri
    with pytest.raises(AttributeError):
        config.station.id = "0000-00"  # type: ignore[misc]


def test_embedded_default_loads():
    config = load_config(Path(__file__).parents[2] / "config" / "agent.toml")
    assert config.server.is_demo
    assert config.printer.uri.startswith("sim://printer")


def test_example_file_loads():
    config = load_config(Path(__file__).parents[2] / "config" / "agent.example.toml")
    assert config.server.ca_file is not None


@pytest.mark.parametrize(
    "change, message",
    [
        (('url = "https://jobs.example.go.id"', 'url = 7'), "[server] url: expected a string, got an integer"),
        (('id = "3319-05"', 'id = "3319-05"\ncolour = "blue"'), "[station] colour: unknown key"),
        (('id = "3319-05"', 'id = "33-5"'), "[station] id: '33-5' is not a station id"),
        (('token_file = "token"\n', ''), "[server] token_file: missing (required)"),
        (('listen = "0.0.0.0:9464"', 'listen = "nowhere"'), "[metrics] listen: 'nowhere' is not host:port"),
        (('uri = "serial:///dev/ttyUSB0?baud=115200"', 'uri = "lpt:1"'), "[printer] uri: 'lpt:1' is not a device URI"),
        (('[reader]', '[reeder]'), "[reeder]: unknown section"),
        (('uri = "sim://reader?state=sim"', 'uri = "sim://reader?state=sim&cardz=3"'),
         "[reader] uri: device URI 'sim://reader?state=sim&cardz=3': unknown option 'cardz'"),
        (('baud=115200"', 'baud=115200&party=E"'), "[printer] uri: device URI 'serial:///dev/ttyUSB0?baud=115200&party=E': "
                                                   "unknown option 'party'"),
        (('url = "https://jobs.example.go.id"', 'url = "http://10.1.2.3/"'), "plain http is allowed only to loopback"),
        (('[reader]', '[transfer]\nparallel_downloads = 12\n[reader]'),
         "[transfer] parallel_downloads: must be from 1 to 8"),
        (('[reader]', '[power]\nmin_runtime_s = 90\n[reader]'), "[power] ups: missing (required)"),
        (('[reader]', '[power]\nups = "localhost"\n[reader]'), "[power] ups: 'localhost' is not name@host[:port]"),
        (('[reader]', '[power]\nups = "ups@localhost:3493"\nmin_runtime = 90\n[reader]'),
         "[power] min_runtime: unknown key"),
        (('[reader]', '[power]\nups = "ups@localhost"\nmin_runtime_s = 0\n[reader]'),
         "[power] min_runtime_s: must be greater than zero"),
        (('[reader]', '[link]\nlong_poll_s = 301\n[reader]'), "[link] long_poll_s: must be from 0 to 300"),
        (('[reader]', '[link]\nmonthly_quota_mb = -5\n[reader]'), "[link] monthly_quota_mb: must be from 0"),
        (('[reader]', '[link]\nmonthly_quota_mb = "2GB"\n[reader]'),
         "[link] monthly_quota_mb: expected an integer, got a string"),
        (('[reader]', '[link]\nquota_reset_day = 31\n[reader]'), "[link] quota_reset_day: must be from 1 to 28"),
        (('[reader]', '[link]\nnear_quota_ratio = 1.5\n[reader]'), "[link] near_quota_ratio: must be less than 1"),
        (('[reader]', '[link]\nat_quota = "stop"\n[reader]'),
         "[link] at_quota: 'stop' is neither \"stop-downloads\" nor \"continue\""),
        (('[reader]', '[link]\nquota_mb = 100\n[reader]'), "[link] quota_mb: unknown key"),
    ],
)
def test_each_mistake_is_one_line_naming_file_and_key(tmp_path, change, message):
    old, new = change
    assert old in GOOD
    path = write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    text = str(err.value)
    assert "\n" not in text
    assert str(path) in text
    assert message in text


def test_no_power_section_means_no_ups(tmp_path):
    assert load_config(write(tmp_path, GOOD)).power.ups is None


def test_power_section_names_the_ups_and_an_optional_minimum_runtime(tmp_path):
    power = load_config(write(tmp_path, GOOD + '[power]\nups = "eaton@10.0.0.2:3493"\nmin_runtime_s = 120\n')).power
    assert (power.ups, power.min_runtime_s) == ("eaton@10.0.0.2:3493", 120.0)
    assert load_config(write(tmp_path, GOOD + '[power]\nups = "ups@localhost"\n')).power.min_runtime_s is None


def test_missing_file_names_the_file(tmp_path):
    with pytest.raises(ConfigError, match="configuration file not found"):
        load_config(tmp_path / "nope.toml")


def test_broken_toml_names_the_file(tmp_path):
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "[station\nid=1"))


def test_demo_server_needs_no_key_files(tmp_path):
    text = GOOD.replace('url = "https://jobs.example.go.id"', 'url = "demo"')
    for line in ('token_file = "token"\n', 'signing_key = "server.pub.pem"\n', 'station_key = "station.pem"\n'):
        text = text.replace(line, "")
    config = load_config(write(tmp_path, text))
    assert config.server.is_demo and config.server.token_file is None


def test_simulated_printer_and_reader_without_state_share_one_station_in_the_state_folder(tmp_path):
    from agent.config import load_config
    from drivers.uri import parse_uri

    path = write_station_config(tmp_path, state_dir=str(tmp_path / "state"), printer="sim://printer?print_ms=0",
                                reader="sim://reader")
    config = load_config(path)
    states = {parse_uri(config.printer.uri).option("state"), parse_uri(config.reader.uri).option("state")}
    assert states == {str(tmp_path / "state" / "sim")}


def test_a_simulator_without_state_takes_its_partners(tmp_path):
    from agent.config import load_config
    from drivers.uri import parse_uri

    config = load_config(write_station_config(tmp_path, state_dir=tmp_path / "state",
                                              printer=f"sim://printer?state={tmp_path / 'bench'}",
                                              reader="sim://reader"))
    assert parse_uri(config.reader.uri).option("state") == str(tmp_path / "bench")


def test_simulators_with_different_states_are_refused_naming_both_and_the_fix(tmp_path):
    from agent.config import load_config
    from agent.errors import ConfigError

    path = write_station_config(tmp_path, state_dir=str(tmp_path / "state"), printer=f"sim://printer?state={tmp_path}/a",
                                reader=f"sim://reader?state={tmp_path}/b")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert "\n" not in message
    assert f"sim://printer?state={tmp_path}/a" in message and f"sim://reader?state={tmp_path}/b" in message
    assert "give both the same state=" in message and str(path) in message


def test_no_link_section_means_unmetered_with_long_polls(tmp_path):
    link = load_config(write(tmp_path, GOOD)).link
    assert (link.monthly_quota_mb, link.quota_bytes, link.long_poll_s) == (0, 0, 280)


def test_link_section_sets_the_quota_and_what_happens_at_it(tmp_path):
    from agent.config import AtQuota

    link = load_config(write(tmp_path, GOOD + '[link]\nmonthly_quota_mb = 2048\nquota_reset_day = 15\n'
                                             'near_quota_ratio = 0.8\nat_quota = "continue"\nlong_poll_s = 0\n')).link
    assert link.quota_bytes == 2_048_000_000 and link.quota_reset_day == 15 and link.near_quota_ratio == 0.8
    assert link.at_quota is AtQuota.CONTINUE and link.long_poll_s == 0
