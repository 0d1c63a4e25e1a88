"""``ktp-agent``: the daemon and the tools around it."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .errors import AgentError

#: The embedded default: simulated printer and reader, the built-in demo job server.
DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "config" / "agent.toml"
#: sysexits EX_CONFIG: the journal is held as damaged; only a technician can release it.
EXIT_NEEDS_TECHNICIAN = 78


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
    run.set_defaults(handler=_run)

    demo = sub.add_parser("demo", help="print N cards on the embedded default, then exit")
    demo.add_argument("--cards", type=int, default=5)
    demo.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    demo.add_argument("--log-level", default="warning")
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
    from .observe import configure_logs
    from . import daemon
    from .config import load_config
    from .errors import JournalError
    from .journal_guard import MARKER

    if args.config is None and not DEFAULT_CONFIG.exists():
        print("ktp-agent run: give --config FILE (e.g. /etc/ktp-agent/agent.toml); the embedded demo "
              "configuration comes only with a source checkout", file=sys.stderr)
        return 2
    config = load_config(args.config or DEFAULT_CONFIG)
    configure_logs(level=args.log_level)
    if args.config is None:
        daemon.log.warning("config.embedded_default", config=str(config.path), state_dir=str(config.station.state_dir),
                           note="no --config given: the demo station (simulated printer and reader, built-in job "
                                "server); give --config FILE for a real station")
    try:
        summary = daemon.run(config)
    except JournalError as exc:
        if not (config.station.state_dir / MARKER).exists():
            raise
        print(f"ktp-agent: {exc}", file=sys.stderr)
        return EXIT_NEEDS_TECHNICIAN  # the unit's RestartPreventExitStatus: restarting cannot help
    return 0 if summary.stopped_by in ("signal", "cards") else 1


def _demo(args: argparse.Namespace) -> int:
    from drivers.simulated.factory import printout_folder

    from . import daemon
    from .observe import configure_logs
    from .config import load_config

    if args.cards <= 0:
        print("ktp-agent demo: --cards must be at least 1", file=sys.stderr)
        return 2
    config = load_config(args.config)
    configure_logs(level=args.log_level)
    summary = daemon.run(config, until_cards=args.cards, demo_jobs=args.cards)
    png_dir = printout_folder(config.printer.uri)
    print(f"cards printed: {summary.cards_printed}, spoiled: {summary.cards_spoiled}, "
          f"rejected: {summary.jobs_rejected}")
    print(f"time: {summary.seconds:.1f} s, payload bytes: {summary.payload_bytes}")
    if png_dir:
        print(f"card images: {png_dir}")
    return 0 if summary.stopped_by == "cards" else 1


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
