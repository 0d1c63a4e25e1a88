"""``ktp-agent``: the daemon and the tools around it."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from typing import TYPE_CHECKING, Callable

from .errors import AgentError
from .os_faults import ExitCode

if TYPE_CHECKING:
    from .config import Config
    from .daemon import RunSummary
    from .os_faults import OsFault

#: The embedded default: simulated printer and reader, the built-in demo job server.
DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "config" / "agent.toml"


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        return args.handler(args)
    except AgentError as exc:
        print(f"ktp-agent: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ktp-agent", description="e-KTP print-station agent")
    sub = parser.add_subparsers(metavar="COMMAND")

    run = sub.add_parser("run", help="run the station daemon")
    run.add_argument("--config", type=Path, help="TOML configuration file (without it, in a source checkout: "
                                                "the embedded demo station, config/agent.toml, state in var/station)")
    run.add_argument("--log-level", default="info")
    run.add_argument("--lang", choices=("id", "en"), default="id", help="language of a fault's line (default: id)")
    run.set_defaults(handler=_run)

    demo = sub.add_parser("demo", help="print N cards on the embedded default, then exit")
    demo.add_argument("--cards", type=int, default=5)
    demo.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    demo.add_argument("--log-level", default="warning")
    demo.add_argument("--lang", choices=("id", "en"), default="id", help="language of a fault's line (default: id)")
    demo.set_defaults(handler=_demo)

    keygen = sub.add_parser("keygen", help="write a station key pair (X25519, PEM)")
    keygen.add_argument("--out", type=Path, default=Path("."), help="folder for the two files")
    keygen.add_argument("--name", default="station")
    keygen.set_defaults(handler=_keygen)

    from .technician import add_devices_command, add_jobs_commands, add_journal_commands, add_stock_commands

    add_devices_command(sub)
    add_jobs_commands(sub)
    add_journal_commands(sub)
    add_stock_commands(sub)

    from .technician import add_offline_commands, add_technician_commands

    add_technician_commands(sub)
    add_offline_commands(sub)

    jobs = sub.add_parser("jobserver", help="run the reference job server (stands for the central system)")
    from jobserver.cli import add_arguments

    add_arguments(jobs)
    jobs.set_defaults(handler=_jobserver)

    simulate = sub.add_parser("simulate", help="serve a simulated printer or reader on a pty or TCP port")
    from drivers.simulated.standalone import add_arguments as add_simulate_arguments

    add_simulate_arguments(simulate.add_subparsers(metavar="DEVICE", required=True))
    simulate.set_defaults(handler=_simulate)
    return parser


def _run(args: argparse.Namespace) -> int:
    from . import daemon

    if args.config is None:
        if not DEFAULT_CONFIG.exists():
            print("ktp-agent run: give --config FILE (e.g. /etc/ktp-agent/agent.toml); the embedded demo "
                  "configuration comes only with a source checkout", file=sys.stderr)
            return 2
        args.config = DEFAULT_CONFIG
        return _started(args, lambda config: _run_embedded(config, args.lang))
    return _started(args, lambda config: _exit_code(daemon.run(config, lang=args.lang), args.lang))


def _run_embedded(config: "Config", lang: str) -> int:
    """``run`` without ``--config`` in a source checkout: the demo station, said plainly once."""
    from . import daemon

    daemon.log.warning("config.embedded_default", config=str(config.path), state_dir=str(config.station.state_dir),
                       note="no --config given: the demo station (simulated printer and reader, built-in job "
                            "server); give --config FILE for a real station")
    return _exit_code(daemon.run(config, lang=lang), lang)


def _demo(args: argparse.Namespace) -> int:
    if args.cards <= 0:
        print("ktp-agent demo: --cards must be at least 1", file=sys.stderr)
        return 2
    return _started(args, lambda config: _demo_cards(config, args.cards, args.lang))


def _demo_cards(config: "Config", cards: int, lang: str) -> int:
    from drivers.simulated.factory import printout_folder

    from . import daemon

    summary = daemon.run(config, until_cards=cards, demo_jobs=cards, lang=lang)
    png_dir = printout_folder(config.printer.uri)
    print(f"cards printed: {summary.cards_printed}, spoiled: {summary.cards_spoiled}, "
          f"rejected: {summary.jobs_rejected}")
    print(f"time: {summary.seconds:.1f} s, payload bytes: {summary.payload_bytes}")
    if png_dir:
        print(f"card images: {png_dir}")
    return _exit_code(summary, lang, ok=("cards",))


def _started(args: argparse.Namespace, body: Callable[["Config"], int]) -> int:
    """Load the configuration and run ``body``. A fault at start-up or of the machine is one line on stderr,
    one log line (station.cannot_start) and its exit code (ExitCode); never a traceback, except for a truly
    unforeseen error, and that only after its one line."""
    import sqlite3

    from .config import load_config
    from .errors import ConfigError, JournalError
    from .journal_guard import MARKER
    from .observe import configure_logs
    from .os_faults import OsFaultError, classify

    configure_logs(level=args.log_level)
    state = None
    try:
        config = load_config(args.config)
        state = config.station.state_dir
        return body(config)
    except ConfigError as exc:
        return _cannot_start(str(exc), ExitCode.CONFIG, kind="config", where=str(args.config))
    except OsFaultError as exc:
        return _machine_fault(exc.fault, args.lang)
    except JournalError as exc:
        if state is None or not (state / MARKER).exists():
            raise
        return _cannot_start(str(exc), ExitCode.DATA_ERROR, kind="journal-damaged", where=str(state / MARKER))
    except AgentError:
        raise  # its own one line, from main()
    except (OSError, sqlite3.Error) as exc:
        fault = classify(exc, getattr(exc, "filename", None) or str(state))
        if fault is not None:
            return _machine_fault(fault, args.lang)
        _unforeseen(exc)
        raise
    except Exception as exc:
        _unforeseen(exc)
        raise


def _machine_fault(fault: "OsFault", lang: str) -> int:
    return _cannot_start(fault.line(lang, at_start=True), fault.exit_code, kind=fault.kind.value, where=fault.where)


def _cannot_start(line: str, code: "ExitCode", **fields: str) -> int:
    import structlog

    print(f"ktp-agent: {line}", file=sys.stderr, flush=True)
    structlog.get_logger("ktp.daemon").error("station.cannot_start", exit_code=int(code), **fields)
    return int(code)


def _unforeseen(exc: BaseException) -> None:
    print(f"ktp-agent: the station stopped on an unforeseen error ({type(exc).__name__}: {exc}); "
          "the traceback below is for the help desk", file=sys.stderr, flush=True)


def _exit_code(summary: "RunSummary", lang: str, ok: tuple[str, ...] = ("signal", "cards")) -> int:
    """0 when stopped as asked; the machine's fault's own code (and its line) when one stopped the station."""
    if summary.fault is not None:
        print(f"ktp-agent: {summary.fault.line(lang)}", file=sys.stderr, flush=True)
        return int(summary.fault.exit_code)
    return 0 if summary.stopped_by in ok else int(ExitCode.FAILED)


def _keygen(args: argparse.Namespace) -> int:
    from jobserver.keys import generate_station_keypair

    private = args.out / f"{args.name}-key.pem"
    public = args.out / f"{args.name}-pub.pem"
    if private.exists():
        print(f"ktp-agent keygen: {private} exists; not overwriting", file=sys.stderr)
        return 1
    generate_station_keypair(private, public)
    print(f"private key (keep on the station, mode 0600): {private}")
    print(f"public key (send to the central system): {public}")
    return 0


def _jobserver(args: argparse.Namespace) -> int:
    from jobserver.cli import run

    return run(args)


def _simulate(args: argparse.Namespace) -> int:
    from drivers.simulated.standalone import run

    return run(args)


if __name__ == "__main__":
    sys.exit(main())
