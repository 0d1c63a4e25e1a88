"""A small station configuration for tests that build the station's parts themselves."""
from __future__ import annotations

from pathlib import Path

STATION = "3319-05"


def station_toml(state_dir: str | Path = "state", *, url: str = "http://127.0.0.1:9",
                 printer: str = "sim://printer", reader: str = "sim://reader", extra: str = "") -> str:
    """The TOML text: this station, a job server at ``url`` (nothing listens at the default), the devices."""
    return f"""
[station]
id = "{STATION}"
state_dir = "{state_dir}"
[server]
url = "{url}"
token_file = "token"
signing_key = "server.pub.pem"
station_key = "station.pem"
[printer]
uri = "{printer}"
[reader]
uri = "{reader}"
{extra}"""


def write_station_config(folder: Path, **options) -> Path:
    """``folder/agent.toml`` holding ``station_toml(**options)``."""
    path = folder / "agent.toml"
    path.write_text(station_toml(**options))
    return path
