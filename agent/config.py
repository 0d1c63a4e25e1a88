"""The station's configuration: one TOML file, validated at start into a frozen value.

Every problem is one line naming the file and the key. Relative paths are
resolved against the folder that holds the configuration file.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, replace
from enum import Enum
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit

from drivers.loopback import is_loopback
from drivers.uri import DeviceUriError, Role, device_uri, format_uri, parse_uri, share_simulated_station

from .errors import ConfigError

DEMO_SERVER = "demo"


@dataclass(frozen=True)
class StationConfig:
    id: str
    state_dir: Path


@dataclass(frozen=True)
class ServerConfig:
    url: str
    token_file: Path | None
    signing_key: Path | None
    station_key: Path | None
    ca_file: Path | None
    poll_limit: int
    demo_jobs: int
    client_cert: Path | None = None        # PEM certificate (chain) presented to the server
    client_key: Path | None = None         # its private key, mode 0600 (or inside client_cert)
    station_key_passphrase_file: Path | None = None  # for an encrypted PKCS#8 station key

    @property
    def is_demo(self) -> bool:
        return self.url == DEMO_SERVER


@dataclass(frozen=True)
class DeviceConfig:
    uri: str


@dataclass(frozen=True)
class MetricsConfig:
    host: str
    port: int
    tls_cert: Path | None = None
    tls_key: Path | None = None
    basic_auth_file: Path | None = None  # `user:bcrypt-hash` lines


@dataclass(frozen=True)
class SpoolConfig:
    prefetch_jobs: int
    prefetch_bytes: int


@dataclass(frozen=True)
class TransferConfig:
    """Payload download policy: what counts as a dead link, when to give a job up."""

    stall_seconds: int = 60            # no byte for this long: the attempt is dead, resume later
    give_up_days: float = 7            # no progress at all for this long: reject (bad-payload)
    max_corrupt_fetches: int = 3       # whole payloads whose SHA-256 did not match, then reject
    retry_initial_seconds: float = 0.5  # first back-off after a failure that made no progress
    retry_max_seconds: int = 300       # back-off ceiling (also how soon a returning link is noticed)
    fsync_bytes: int = 256 * 1024      # partial bytes are fsynced at least this often
    parallel_downloads: int = 2        # payloads fetched at once (one fills the link while another recovers)

    @property
    def give_up_seconds(self) -> float:
        return self.give_up_days * 86400.0


@dataclass(frozen=True)
class OfflineConfig:
    """Removable media: a folder where sticks are mounted, imported and given receipts by themselves."""

    watch_dir: Path | None = None   # e.g. /media/ktp: bundles found there (or one level down) are imported
    scan_seconds: float = 5.0       # how often the folder is looked at


@dataclass(frozen=True)
class PowerConfig:
    """``[power]``: the UPS, read through NUT's upsd (agent.power); absent means no UPS."""

    ups: str | None = None                 # name@host[:port], as upsc writes it
    min_runtime_s: float | None = None     # None: 2 × the measured card time + a margin (agent.power.policy)


class AtQuota(Enum):
    """What the station does once the month's quota is spent."""

    STOP_DOWNLOADS = "stop-downloads"  # no new payloads, a rare heartbeat poll; printing and reports go on
    CONTINUE = "continue"              # go on as near the quota (long polls, no read-ahead)


@dataclass(frozen=True)
class LinkConfig:
    """``[link]``: long polls, and the metered link's monthly quota (0: unmetered)."""

    long_poll_s: int = 280             # wait_s asked of the server on each poll (0: no long poll; at most 300)
    monthly_quota_mb: int = 0          # megabytes (10^6 bytes) a quota month; 0: unmetered
    quota_reset_day: int = 1           # day of the month (1-28, station local time) a quota month starts
    near_quota_ratio: float = 0.9      # from this share of the quota on, the station saves bytes
    at_quota: AtQuota = AtQuota.STOP_DOWNLOADS

    @property
    def quota_bytes(self) -> int:
        return self.monthly_quota_mb * 1_000_000


@dataclass(frozen=True)
class Config:
    path: Path
    station: StationConfig
    server: ServerConfig
    printer: DeviceConfig
    reader: DeviceConfig
    metrics: MetricsConfig
    spool: SpoolConfig
    transfer: TransferConfig = TransferConfig()
    offline: OfflineConfig = OfflineConfig()
    power: PowerConfig = PowerConfig()
    link: LinkConfig = LinkConfig()


class _Section:
    """Reads typed keys from one table and remembers which ones were used."""

    def __init__(self, file: Path, name: str, table: dict[str, Any]) -> None:
        self.file, self.name, self.table = file, name, table
        self.used: set[str] = set()

    def where(self, key: str) -> str:
        return f"{self.file}: [{self.name}] {key}"

    def get(self, key: str, kind: type, default: Any = ..., check: Callable[[Any], str | None] | None = None) -> Any:
        self.used.add(key)
        if key not in self.table:
            if default is ...:
                raise ConfigError(f"{self.where(key)}: missing (required)")
            return default
        value = self.table[key]
        if kind is int and isinstance(value, bool) or not isinstance(value, kind):
            raise ConfigError(
                f"{self.where(key)}: expected {_type_name(kind)}, got {_type_name(type(value))}"
            )
        problem = check(value) if check else None
        if problem:
            raise ConfigError(f"{self.where(key)}: {problem}")
        return value

    def path(self, key: str, required: bool = True) -> Path | None:
        raw = self.get(key, str, ... if required else None, _non_empty)
        if raw is None:
            return None
        p = Path(raw).expanduser()
        return p if p.is_absolute() else (self.file.parent / p).resolve()

    def reject_unknown(self) -> None:
        for key in self.table:
            if key not in self.used:
                raise ConfigError(f"{self.where(key)}: unknown key")


def _type_name(kind: type) -> str:
    return {str: "a string", int: "an integer", bool: "true or false", dict: "a table",
            float: "a number", list: "an array"}.get(kind, kind.__name__)


def _non_empty(value: str) -> str | None:
    return None if value.strip() else "must not be empty"


def _station_id(value: str) -> str | None:
    parts = value.split("-")
    ok = len(parts) == 2 and len(parts[0]) == 4 and len(parts[1]) == 2 and all(p.isdigit() for p in parts)
    return None if ok else f"'{value}' is not a station id like 3319-05 (kabupaten code, kecamatan number)"


def _server_url(value: str) -> str | None:
    if value == DEMO_SERVER:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"'{value}' is neither \"demo\" nor an http(s) URL"
    return None


def _positive(value: int) -> str | None:
    return None if value > 0 else "must be greater than zero"


def _one_to_eight(value: int) -> str | None:
    return None if 1 <= value <= 8 else "must be from 1 to 8"


def _listen(value: str) -> str | None:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
        return f"'{value}' is not host:port"
    return None


def load_config(path: str | Path) -> Config:
    """Read and validate the configuration file at ``path``."""
    file = Path(path).resolve()
    try:
        raw = file.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{file}: configuration file not found") from None
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read: {exc.strerror}") from None
    try:
        doc = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{file}: not valid TOML: {exc}") from None
    return _build(file, doc)


def _build(file: Path, doc: dict[str, Any]) -> Config:
    known = ("station", "server", "printer", "reader", "metrics", "spool", "transfer", "offline", "power", "link")
    for name in doc:
        if name not in known:
            raise ConfigError(f"{file}: [{name}]: unknown section")
        if not isinstance(doc[name], dict):
            raise ConfigError(f"{file}: {name}: expected a table")
    sections = {name: _Section(file, name, doc.get(name, {})) for name in known}
    for name in ("station", "server", "printer", "reader"):
        if name not in doc:
            raise ConfigError(f"{file}: [{name}]: missing section")
    config = Config(
        path=file,
        station=_station(sections["station"]),
        server=_server(sections["server"]),
        printer=_device(sections["printer"], Role.PRINTER),
        reader=_device(sections["reader"], Role.READER),
        metrics=_metrics(sections["metrics"]),
        spool=_spool(sections["spool"]),
        transfer=_transfer(sections["transfer"]),
        offline=OfflineConfig(watch_dir=sections["offline"].path("watch_dir", required=False),
                              scan_seconds=_number(sections["offline"], "scan_seconds", 5.0)),
        power=_power(sections["power"]) if "power" in doc else PowerConfig(),
        link=_link(sections["link"]),
    )
    for section in sections.values():
        section.reject_unknown()
    return _one_simulated_station(config)


#: Where simulated devices without ``state=`` keep their shared state, inside the station's state folder.
SIMULATOR_STATE = "sim"


def _one_simulated_station(config: Config) -> Config:
    """Simulated printer and reader share one simulated station (``drivers.uri.share_simulated_station``)."""
    try:
        printer, reader = share_simulated_station(parse_uri(config.printer.uri), parse_uri(config.reader.uri),
                                                  config.station.state_dir / SIMULATOR_STATE)
    except DeviceUriError as exc:
        raise ConfigError(f"{config.path}: [printer] uri and [reader] uri: {exc}") from None
    return replace(config, printer=DeviceConfig(format_uri(printer)), reader=DeviceConfig(format_uri(reader)))


def _station(s: _Section) -> StationConfig:
    return StationConfig(id=s.get("id", str, check=_station_id), state_dir=s.path("state_dir"))


def _server(s: _Section) -> ServerConfig:
    url = s.get("url", str, check=_server_url)
    demo = url == DEMO_SERVER
    server = ServerConfig(
        url=url,
        token_file=s.path("token_file", required=not demo),
        signing_key=s.path("signing_key", required=not demo),
        station_key=s.path("station_key", required=not demo),
        ca_file=s.path("ca_file", required=False),
        poll_limit=s.get("poll_limit", int, 10, _positive),
        demo_jobs=s.get("demo_jobs", int, 20, _positive),
        client_cert=s.path("client_cert", required=False),
        client_key=s.path("client_key", required=False),
        station_key_passphrase_file=s.path("station_key_passphrase_file", required=False),
    )
    if not demo and urlsplit(url).scheme == "http" and not is_loopback(urlsplit(url).hostname):
        raise ConfigError(f"{s.where('url')}: plain http is allowed only to loopback; use https")
    if server.client_key is not None and server.client_cert is None:
        raise ConfigError(f"{s.where('client_key')}: given without client_cert")
    return server


def _device(s: _Section, role: Role) -> DeviceConfig:
    """A device URI, its options checked; relative paths in it are taken from the config's folder."""
    try:
        return DeviceConfig(format_uri(device_uri(s.get("uri", str, check=_non_empty), role, s.file.parent)))
    except DeviceUriError as exc:
        raise ConfigError(f"{s.where('uri')}: {exc}") from None


def _metrics(s: _Section) -> MetricsConfig:
    listen = s.get("listen", str, "127.0.0.1:9464", _listen)
    host, _, port = listen.rpartition(":")
    tls_cert, tls_key = s.path("tls_cert", required=False), s.path("tls_key", required=False)
    if (tls_cert is None) != (tls_key is None):
        raise ConfigError(f"{s.where('tls_cert' if tls_cert is None else 'tls_key')}: "
                          "tls_cert and tls_key go together")
    return MetricsConfig(host=host.strip("[]"), port=int(port), tls_cert=tls_cert, tls_key=tls_key,
                         basic_auth_file=s.path("basic_auth_file", required=False))


def _spool(s: _Section) -> SpoolConfig:
    return SpoolConfig(
        prefetch_jobs=s.get("prefetch_jobs", int, 8, _positive),
        prefetch_bytes=s.get("prefetch_bytes", int, 64 * 1024 * 1024, _positive),
    )


def _number(s: _Section, key: str, default: float) -> float:
    """A positive number; TOML integers are accepted where a number is asked for."""
    s.used.add(key)
    value = s.table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{s.where(key)}: expected a number, got {_type_name(type(value))}")
    if not value > 0:
        raise ConfigError(f"{s.where(key)}: must be greater than zero")
    return float(value)


def _transfer(s: _Section) -> TransferConfig:
    d = TransferConfig()
    return TransferConfig(
        stall_seconds=s.get("stall_seconds", int, d.stall_seconds, _positive),
        give_up_days=_number(s, "give_up_days", d.give_up_days),
        max_corrupt_fetches=s.get("max_corrupt_fetches", int, d.max_corrupt_fetches, _positive),
        retry_initial_seconds=_number(s, "retry_initial_seconds", d.retry_initial_seconds),
        retry_max_seconds=s.get("retry_max_seconds", int, d.retry_max_seconds, _positive),
        fsync_bytes=s.get("fsync_bytes", int, d.fsync_bytes, _positive),
        parallel_downloads=s.get("parallel_downloads", int, d.parallel_downloads, _one_to_eight),
    )


def _ups(value: str) -> str | None:
    from .power import UpsAddress  # lazily: the configuration is read below every room

    try:
        UpsAddress.parse(value)
    except ValueError as exc:
        return str(exc)
    return None


def _power(s: _Section) -> PowerConfig:
    ups = s.get("ups", str, check=_ups)
    return PowerConfig(ups=ups, min_runtime_s=_number(s, "min_runtime_s", 0) if "min_runtime_s" in s.table
                       else None)


def _between(low: float, high: float, what: str = "") -> Callable[[Any], str | None]:
    return lambda value: None if low <= value <= high else f"must be from {low} to {high}{what}"


def _link(s: _Section) -> LinkConfig:
    d = LinkConfig()
    at_quota = s.get("at_quota", str, d.at_quota.value,
                     lambda v: None if v in {a.value for a in AtQuota} else
                     f"'{v}' is neither \"stop-downloads\" nor \"continue\"")
    ratio = _number(s, "near_quota_ratio", d.near_quota_ratio)
    if not ratio < 1:
        raise ConfigError(f"{s.where('near_quota_ratio')}: must be less than 1")
    return LinkConfig(
        long_poll_s=s.get("long_poll_s", int, d.long_poll_s, _between(0, 300, " (the protocol's cap)")),
        monthly_quota_mb=s.get("monthly_quota_mb", int, d.monthly_quota_mb, _between(0, 10**9)),
        quota_reset_day=s.get("quota_reset_day", int, d.quota_reset_day, _between(1, 28)),
        near_quota_ratio=ratio,
        at_quota=AtQuota(at_quota),
    )
