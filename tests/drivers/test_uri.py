"""Device URIs: parsing, each scheme's options, relative simulator paths, and a drivers floor without import cycles."""
from __future__ import annotations

import ast
import os
import pty
import socket
import subprocess
import sys
import termios
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.errors import UnsupportedDeviceError
from drivers.line_devices import line_transport
from drivers.registry import open_printer, open_reader
from drivers.simulated.factory import printout_folder
from drivers.uri import (SCHEMES, DeviceUri, DeviceUriError, Role, check_options, device_uri, format_uri,
                         parse_uri, resolve_paths, socket_path)

ROOT = Path(__file__).resolve().parents[2]
#: One URI of each scheme that each role can open, before any option.
BARE = {
    ("serial", Role.PRINTER): "serial:///dev/ttyUSB0", ("serial", Role.READER): "serial:///dev/ttyUSB1",
    ("socket", Role.PRINTER): "socket://127.0.0.1:1", ("socket", Role.READER): "socket://127.0.0.1:1",
    ("usb", Role.PRINTER): "usb://0f49:1001", ("usb", Role.READER): "usb://072f:2200",
    ("sim", Role.PRINTER): "sim://printer", ("sim", Role.READER): "sim://reader",
}


# -- parsing ------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, scheme, target, query", [
    ("serial:///dev/ttyUSB0?baud=115200", "serial", "/dev/ttyUSB0", (("baud", "115200"),)),
    ("serial:///dev/serial/by-id/usb-FTDI_x-if00-port0", "serial", "/dev/serial/by-id/usb-FTDI_x-if00-port0", ()),
    ("socket://127.0.0.1:7000?logging=debug", "socket", "127.0.0.1:7000", (("logging", "debug"),)),
    ("usb://0f49:1001?serial=EV123&generation=rev-e", "usb", "0f49:1001",
     (("serial", "EV123"), ("generation", "rev-e"))),
    ("sim://printer?state=/s&print_ms=0&jam_at_card=", "sim", "printer",
     (("state", "/s"), ("print_ms", "0"), ("jam_at_card", ""))),
    ("SIM://reader?state=/tmp/a%20b", "sim", "reader", (("state", "/tmp/a b"),)),
])
def test_parse_splits_scheme_target_and_options_in_order(text, scheme, target, query):
    uri = parse_uri(text)
    assert (uri.scheme, uri.target, uri.query) == (scheme, target, query)
    assert uri.raw == text and str(uri) == text
    assert dict(uri.options) == dict(query)


@pytest.mark.parametrize("text, named", [
    ("lpt:1", "'lpt:1' is not a device URI"),
    ("/dev/ttyUSB0", "is not a device URI"),
    ("http://printer", "is not a device URI (serial://, socket://, usb://, sim://)"),
    ("sim://printer?print_ms=1&print_ms=2", "option 'print_ms' is given twice"),
    ("sim://printer?state=/a#b", "'#' must be written %23"),
    ("serial://?baud=9600", "names no device after serial://"),
    ("socket://[::1:7000", "Invalid IPv6 URL"),
])
def test_parse_refuses_what_is_not_a_device_uri_and_says_why(text, named):
    with pytest.raises(DeviceUriError, match=named.replace("(", r"\(").replace(")", r"\)")) as caught:
        parse_uri(text)
    assert isinstance(caught.value, UnsupportedDeviceError)


def test_a_device_uri_is_a_frozen_hashable_value():
    uri = parse_uri("sim://printer?print_ms=3")
    with pytest.raises(AttributeError):
        uri.target = "reader"  # type: ignore[misc]
    with pytest.raises(TypeError):
        uri.options["print_ms"] = "4"  # type: ignore[index]
    assert {uri: 1}[parse_uri("sim://printer?print_ms=3")] == 1
    assert uri.replace_options({"print_ms": "9", "cards": "2"}).query == (("print_ms", "9"), ("cards", "2"))


_names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_0123456789", min_size=1, max_size=12)
_values = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=20)
_targets = st.sampled_from(["printer", "reader", "/dev/ttyUSB0", "127.0.0.1:7000", "[::1]:7000", "0f49:1001"]) | \
    st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="[]"),
            min_size=1, max_size=20).filter(str.strip)


@settings(max_examples=300, deadline=None)
@given(scheme=st.sampled_from(sorted(SCHEMES)), target=_targets,
       options=st.dictionaries(_names, _values, max_size=6))
def test_format_then_parse_gives_back_the_same_uri(scheme, target, options):
    uri = DeviceUri(scheme, target.strip(), tuple(options.items()))
    text = format_uri(uri)
    assert parse_uri(text) == uri
    assert format_uri(parse_uri(text)) == text


# -- options ------------------------------------------------------------------------------------

@pytest.mark.parametrize("scheme, role", sorted(BARE, key=lambda k: (k[0], k[1].value)))
def test_every_scheme_refuses_an_unknown_option_naming_it_and_the_uri(scheme, role):
    text = f"{BARE[scheme, role]}?colour=blue"
    open_device = open_printer if role is Role.PRINTER else open_reader
    with pytest.raises(DeviceUriError) as caught:
        open_device(text)
    assert "'colour'" in str(caught.value) and repr(text) in str(caught.value)


@pytest.mark.parametrize("text, named", [
    ("sim://printer?feeder_cards=3", "'feeder_cards'"),  # a supply, stocked with cards=, not a URI option
    ("sim://reader?print_ms=5", "'print_ms'"),          # a printer's option on the reader
    ("serial:///dev/ttyUSB1?generation=primacy", "'generation'"),  # a printer's option on a reader
    ("socket://127.0.0.1:1?baud=9600", "'baud'"),       # a bridge has no baud rate of its own
    ("usb://072f:2200?logging=debug", "'logging'"),
])
def test_options_of_another_scheme_or_role_are_unknown(text, named):
    role = Role.READER if "reader" in text or "ttyUSB1" in text or "072f" in text else Role.PRINTER
    with pytest.raises(DeviceUriError, match=named):
        check_options(parse_uri(text), role)


def test_each_scheme_still_takes_its_own_options():
    for text, role in [
        ("serial:///dev/x?baud=9600&generation=rev-e&bytesize=8&parity=N&stopbits=1&xonxoff=0&rtscts=0&dsrdtr=0",
         Role.PRINTER),
        ("socket://127.0.0.1:1?logging=debug&generation=primacy", Role.PRINTER),
        ("usb://0f49:1001?serial=X&generation=primacy", Role.PRINTER),
        ("sim://printer?state=/s&link=pty&control=/c&print_ms=1&panel_ms=1&png=/p&cards=1&ribbon=1&ribbon_type=KO"
         "&baud=9600&bytes_per_s=1&cleaning_due=1&cleaning_mandatory=2&jam_at_card=1&slow_ms=3&garbage=0", Role.PRINTER),
        ("sim://reader?state=/s&link=usb&control=/c&random_uid=1&chip_absent=1&no_reply=0", Role.READER),
    ]:
        check_options(parse_uri(text), role)


def test_a_scheme_module_that_cannot_be_imported_disables_only_its_scheme(tmp_path):
    script = f"""
import sys
sys.modules["usb"] = None  # pyusb missing
from drivers.errors import UnsupportedDeviceError
from drivers.registry import open_printer
try:
    open_printer("usb://0f49:1001")
except UnsupportedDeviceError as exc:
    print("usb:", exc)
printer = open_printer("sim://printer?state={tmp_path}")
print("sim:", printer.identity().model)
printer.close()
"""
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "usb: device URI 'usb://0f49:1001': usb:// needs pyusb, which is not installed (no module 'usb')" in out.stdout
    assert "sim: Primacy 2" in out.stdout


# -- pyserial's settings reach the port ---------------------------------------------------------

def test_serial_settings_in_the_uri_reach_the_line():
    master, slave = pty.openpty()
    path = os.ttyname(slave)
    # A Linux pty keeps CS8 without parity whatever is asked, so only these three show on it.
    transport = line_transport(parse_uri(f"serial://{path}?baud=9600&bytesize=7&parity=E&stopbits=2&rtscts=1"))
    try:
        attributes = termios.tcgetattr(slave)
        assert attributes[2] & termios.CSTOPB and attributes[2] & termios.CRTSCTS
        assert attributes[4] == attributes[5] == termios.B9600
    finally:
        transport.close()
        os.close(master)
        os.close(slave)


@pytest.mark.parametrize("query, named", [
    ("parity=X", "parity='X'"), ("bytesize=9", "bytesize='9'"), ("stopbits=3", "stopbits='3'"),
    ("rtscts=maybe", "rtscts='maybe'"), ("baud=fast", "baud='fast'"),
])
def test_a_serial_setting_out_of_range_is_named(query, named):
    with pytest.raises(DeviceUriError, match=named):
        line_transport(parse_uri(f"serial:///dev/null?{query}"))


def test_socket_uri_passes_pyserials_own_options_to_its_handler():
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        transport = line_transport(parse_uri(f"socket://127.0.0.1:{port}?logging=debug&generation=primacy"))
        peer, _ = server.accept()
        try:
            transport.write(b"\x1bRfv\r")
            peer.settimeout(5)
            assert peer.recv(16) == b"\x1bRfv\r"
        finally:
            transport.close()
            peer.close()


# -- relative simulator paths -------------------------------------------------------------------

def test_relative_simulator_folders_and_socket_paths_are_taken_from_the_base(tmp_path):
    uri = device_uri("sim://printer?state=sim&png=../cards&print_ms=3&control=run/ctl.sock", Role.PRINTER, tmp_path)
    assert uri.option("state") == str(tmp_path / "sim")
    assert uri.option("png") == str((tmp_path / ".." / "cards").resolve())
    assert uri.option("control") == str(tmp_path / "run" / "ctl.sock")
    assert uri.option("print_ms") == "3"
    assert parse_uri(format_uri(uri)) == uri


@pytest.mark.parametrize("control, expected", [
    ("ctl.sock", "{base}/ctl.sock"), ("unix:ctl.sock", "unix:{base}/ctl.sock"),
    ("/run/ctl.sock", "/run/ctl.sock"), ("127.0.0.1:7000", "127.0.0.1:7000"), ("tcp:[::1]:7000", "tcp:[::1]:7000"),
])
def test_control_addresses_resolve_only_when_they_are_relative_socket_paths(tmp_path, control, expected):
    uri = resolve_paths(parse_uri(f"sim://reader?control={control}"), tmp_path)
    assert uri.option("control") == expected.format(base=tmp_path)


def test_absolute_paths_and_other_schemes_are_left_alone(tmp_path):
    uri = parse_uri("sim://reader?state=/var/sim")
    assert resolve_paths(uri, tmp_path) is uri
    serial = parse_uri("serial://ttyS0?baud=9600")
    assert resolve_paths(serial, tmp_path) == serial


def test_socket_path_tells_a_control_path_from_a_tcp_address():
    assert [socket_path(a) for a in ("a.sock", "x/y", "unix://p", "127.0.0.1:9", "tcp:h:1")] == \
        ["a.sock", "x/y", "p", None, None]


def test_printout_folder_is_the_simulated_printers_png_option():
    assert printout_folder("sim://printer?png=/tmp/cards&print_ms=3") == "/tmp/cards"
    assert printout_folder("sim://printer?print_ms=3") is None
    assert printout_folder("sim://reader?state=/tmp") is None
    assert printout_folder("serial:///dev/ttyUSB0?baud=115200") is None


# -- no import cycle ----------------------------------------------------------------------------

def _module_of(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every drivers module ``path`` imports, at module level or inside a function."""
    module, found = _module_of(path), set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
    return {name for name in found if name.startswith("drivers")}


def test_the_drivers_floor_has_no_import_cycle():
    modules = {_module_of(p): p for p in (ROOT / "drivers").rglob("*.py")}
    graph = {name: sorted(_imports(path) & set(modules)) for name, path in modules.items()}
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for child in graph[name]:
            assert state.get(child) != 1, f"import cycle: {' -> '.join(path + [name, child])}"
            if child not in state:
                visit(child, path + [name])
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [])
    assert graph["drivers.simulated.factory"] and "drivers.simulated.factory" not in graph["drivers.registry"]


def test_the_registry_imports_without_the_simulator_factory():
    script = """
import sys
sys.modules["drivers.simulated.factory"] = None
import drivers.registry, drivers.uri
from drivers.errors import UnsupportedDeviceError
try:
    drivers.registry.open_printer("sim://printer")
except (ImportError, UnsupportedDeviceError) as exc:
    print("sim refused:", type(exc).__name__)
"""
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "sim refused" in out.stdout
