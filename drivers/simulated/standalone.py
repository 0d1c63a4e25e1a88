"""Standalone simulators: a simulated printer or reader on a real pty or TCP port.

    ktp-agent simulate printer --state DIR [--link /tmp/ktp-printer | --tcp 127.0.0.1:PORT]
    ktp-agent simulate reader  --state DIR [--link /tmp/ktp-reader  | --tcp 127.0.0.1:PORT]
    ktp-agent simulate control ADDRESS '{"fault": "jam_at_card", "value": 3}'

At start the simulator prints ``uri: <device URI>``, ``control: <address>``
and ``state: <dir>`` (plus ``pty: <slave>`` on a pty), then serves until
SIGINT or SIGTERM. Any program talks to it exactly as to hardware:

* pty (default): the URI is ``serial://<slave path>``. The slave path changes
  when the pty is re-opened (a replug, a restart), so ``--link PATH`` keeps
  a symlink at a stable path pointing at the current slave, and the URI
  names the link. The link is removed on unplug and at exit, as udev removes
  a pulled USB-serial device's node.
* ``--tcp 127.0.0.1:PORT`` (port 0 picks a free one): the URI is
  ``socket://127.0.0.1:PORT``. One client at a time; a further client waits
  in the listen backlog until the first disconnects, and a client
  disconnecting is not a crash.

``--state DIR`` holds what survives a restart: the printer's counters and
supplies, and the contactless station that the printer and the reader of
one station share (give both the same DIR). ``--cards`` and ``--ribbon``
stock a new state folder only; change supplies of a running simulator with
the control faults ``feeder_cards`` and ``ribbon_prints``. Faults given at
start are not persisted. ``--tap FILE`` (reader) appends every PN532 frame
the simulator receives and sends to FILE (see ``pn532_tap``). Unplug (control ``{"unplug": true}``) closes the
pty master or the TCP connection and listener; replug opens them again.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..loopback import is_loopback
from .control import ControlError, ControlServer, describe_simulator, send_control
from .endpoints import PtyEndpoint, TcpEndpoint
from .faults import DEVICE_FAULTS, FaultyLink

ROLES = ("printer", "reader")


@dataclass(frozen=True)
class SimulatorOptions:
    """Everything a standalone simulator is started with."""

    role: str
    state_dir: Path
    tcp: tuple[str, int] | None = None
    link_path: Path | None = None
    control: str | None = None  # None: a unix socket in state_dir
    print_ms: int = 0
    png_dir: Path | None = None
    cards: int | None = None
    ribbon: int | None = None
    ribbon_type: str = "YMCKO"
    faults: dict[str, object] = field(default_factory=dict)
    tap: Path | None = None  # reader: append every PN532 frame in and out to this file
    random_uid: bool = False  # reader: the card answers a fresh random UID at every activation

    @property
    def control_address(self) -> str:
        return self.control or str(self.state_dir / f"{self.role}-control.sock")


# -- links the simulator serves on --------------------------------------------


class StandaloneSimulator:
    """One simulated device, its link and its control channel (a ControlTarget)."""

    def __init__(self, options: SimulatorOptions) -> None:
        if options.role not in ROLES:
            raise ValueError(f"role {options.role!r} is not one of {', '.join(ROLES)}")
        self.options = options
        self.notes: list[str] = []
        self.device = _build_device(options, self.notes)
        if options.tcp is not None:
            self._endpoint: PtyEndpoint | TcpEndpoint = TcpEndpoint(self.device, *options.tcp)
        else:
            self._endpoint = PtyEndpoint(self.device, options.link_path)
        self._control: ControlServer | None = None
        self._plugged = False
        self._lock = threading.Lock()

    @property
    def uri(self) -> str:
        return self._endpoint.uri

    @property
    def control_address(self) -> str:
        assert self._control is not None, "start() first"
        return self._control.address

    @property
    def pty_path(self) -> str | None:
        return self._endpoint.slave_path if isinstance(self._endpoint, PtyEndpoint) else None

    def start(self) -> "StandaloneSimulator":
        self._control = ControlServer(self, self.options.control_address)
        try:
            self.replug()
            self._control.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        self.unplug()
        if self._control is not None:
            self._control.close()
            self._control = None
        tap = getattr(self.device.device, "tap", None)
        if tap is not None:
            tap.close()

    # -- ControlTarget ---------------------------------------------------------

    def set_fault(self, name: str, value: object) -> None:
        self.device.set_fault(name, value)

    def describe(self) -> dict[str, Any]:
        doc = describe_simulator(self.options.role, self.device, self.options.state_dir)
        with self._lock:
            return {**doc, "uri": self.uri, "plugged": self._plugged}

    def unplug(self, seconds: float | None = None) -> None:
        if seconds is not None:
            raise ValueError("a standalone simulator stays unplugged until replug: leave out \"seconds\"")
        with self._lock:
            if self._plugged:
                self._endpoint.unplug()
                self._plugged = False

    def replug(self) -> str:
        with self._lock:
            if not self._plugged:
                self._endpoint.plug()
                self._plugged = True
            return self.uri


def _build_device(options: SimulatorOptions, notes: list[str]) -> FaultyLink:
    options.state_dir.mkdir(parents=True, exist_ok=True)
    if options.role == "printer":
        from .evolis import SimulatedEvolis
        from .evolis_state import EvolisStateFile

        fresh = EvolisStateFile(options.state_dir).load() is None
        if not fresh and (options.cards is not None or options.ribbon is not None):
            notes.append(f"--cards/--ribbon ignored: {options.state_dir} already holds a printer's "
                         "supplies (set feeder_cards / ribbon_prints over the control channel)")
        device: Any = SimulatedEvolis(
            options.state_dir,
            print_seconds=options.print_ms / 1000.0,
            png_dir=options.png_dir,
            feeder_cards=options.cards if fresh else None,
            ribbon_prints=options.ribbon if fresh else None,
            ribbon_type=options.ribbon_type.upper(),
        )
    else:
        from .pn532 import SimulatedPn532
        from .pn532_tap import FrameTap

        device = SimulatedPn532(options.state_dir, tap=FrameTap(options.tap) if options.tap else None,
                                random_uid=options.random_uid)
    link = FaultyLink(device, role=options.role)
    for name, value in options.faults.items():
        link.set_fault(name, value)
    return link


# -- command line -------------------------------------------------------------

#: Faults with a command-line flag of the same name; a wire fault applies to either role.
_FLAG_FAULTS = ("jam_at_card", "cover_open", "mechanical_error", "chip_unreadable", "chip_absent", "no_reply",
                "garbage")


def _fault_role(name: str) -> str | None:
    return next((role for role, faults in DEVICE_FAULTS.items() if name in faults), None)


def add_arguments(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """``simulate printer|reader|control`` under an existing subparsers object."""
    for role in ROLES:
        p = sub.add_parser(role, help=f"serve a simulated {role} on a pty or a loopback TCP port")
        p.add_argument("--state", type=Path, default=_default_state_dir(),
                       help="folder for counters, supplies and the contactless station (share it "
                            "between the printer and the reader of one station)")
        where = p.add_mutually_exclusive_group()
        where.add_argument("--tcp", metavar="127.0.0.1:PORT", help="listen on a loopback TCP port (0: any free)")
        where.add_argument("--link", type=Path, metavar="PATH", help="keep a symlink at PATH to the current pty")
        p.add_argument("--control", metavar="ADDRESS",
                       help=f"control channel: socket path or loopback HOST:PORT (default: STATE/{role}-control.sock)")
        p.add_argument("--no-reply", action="store_true", help="swallow every command")
        p.add_argument("--garbage", action="store_true", help="answer random non-protocol bytes")
        p.add_argument("--slow-ms", type=int, default=0, help="delay every reply")
        if role == "printer":
            p.add_argument("--print-ms", type=int, default=0, help="time to print one card")
            p.add_argument("--png", type=Path, metavar="DIR", help="write each printed card as PNG here")
            p.add_argument("--cards", type=int, help="blanks in the feeder of a new state folder")
            p.add_argument("--ribbon", type=int, help="prints left on the ribbon of a new state folder")
            p.add_argument("--ribbon-type", default="YMCKO", choices=("YMCKO", "KO", "ymcko", "ko"))
            p.add_argument("--jam-at-card", type=int, metavar="N", help="card number N jams while printing")
            p.add_argument("--cover-open", action="store_true")
            p.add_argument("--mechanical-error", action="store_true", help="NACK T on every card movement")
            p.add_argument("--chip-unreadable", action="store_true", help="cards at the contactless station have no readable chip")
        else:
            p.add_argument("--chip-absent", action="store_true", help="never see a card")
            p.add_argument("--tap", type=Path, metavar="FILE",
                           help="append every PN532 frame received and sent to FILE, one line each")
            p.add_argument("--random-uid", action="store_true",
                           help="the card answers a fresh random UID (08 xx xx xx) at every activation")
        p.set_defaults(sim_role=role)
    control = sub.add_parser("control", help="send one JSON message to a running simulator's control channel")
    control.add_argument("address", help="the control address the simulator printed")
    control.add_argument("message", help='e.g. \'{"fault": "jam_at_card", "value": 3}\' or \'{"get": "state"}\'')
    control.set_defaults(sim_role="control")


def options_from_args(args: argparse.Namespace) -> SimulatorOptions:
    role = args.sim_role
    faults: dict[str, object] = {}
    for name in _FLAG_FAULTS:
        value = getattr(args, name, None)
        if _fault_role(name) in (None, role) and value not in (None, False):
            faults[name] = value
    if args.slow_ms:
        faults["slow_seconds"] = args.slow_ms / 1000.0
    return SimulatorOptions(
        role=role, state_dir=args.state, tcp=_parse_tcp(args.tcp) if args.tcp else None,
        link_path=args.link, control=args.control, print_ms=getattr(args, "print_ms", 0),
        png_dir=getattr(args, "png", None), cards=getattr(args, "cards", None),
        ribbon=getattr(args, "ribbon", None), ribbon_type=getattr(args, "ribbon_type", "YMCKO"),
        faults=faults, tap=getattr(args, "tap", None), random_uid=getattr(args, "random_uid", False),
    )


def run(args: argparse.Namespace) -> int:
    """The ``simulate`` command: serve until SIGINT/SIGTERM, or send one control message."""
    if args.sim_role == "control":
        return _run_control(args)
    try:
        simulator = StandaloneSimulator(options_from_args(args)).start()
    except (ValueError, OSError, ControlError) as exc:
        print(f"ktp-agent simulate: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        for note in simulator.notes:
            print(f"ktp-agent simulate: {note}", file=sys.stderr)
        print(f"uri: {simulator.uri}")
        if simulator.pty_path and args.link:
            print(f"pty: {simulator.pty_path}")
        print(f"control: {simulator.control_address}")
        print(f"state: {simulator.options.state_dir}", flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        simulator.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


def _run_control(args: argparse.Namespace) -> int:
    try:
        message = json.loads(args.message)
    except ValueError as exc:
        print(f"ktp-agent simulate control: the message is not JSON: {exc}", file=sys.stderr)
        return 2
    try:
        reply = send_control(args.address, message)
    except ControlError as exc:
        print(f"ktp-agent simulate control: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(reply, indent=1, sort_keys=True))
    return 0 if reply.get("ok") else 1


def _parse_tcp(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    host = host.strip("[]")
    if not port.isdigit() or not is_loopback(host):
        raise ValueError(f"--tcp {text!r}: expected a loopback HOST:PORT such as 127.0.0.1:7000")
    return host, int(port)


def _default_state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "ktp-agent" / "simulator"
