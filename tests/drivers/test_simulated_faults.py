"""Wire faults (FaultyLink), the printer's own new faults, the control channel
and fault options on sim:// URIs, all in one process."""
from __future__ import annotations

import json
import socket
import time

import pytest

from drivers.interfaces import CardPosition
from PIL import Image

from drivers.errors import DeviceFaultError, DisconnectedError, ProtocolError, TransportTimeoutError
from drivers.evolis.printer import EvolisPrinter
from drivers.evolis.protocol import EvolisReplyError, ReplyParser, encode_reply
from drivers.interfaces import CARD_HEIGHT, CARD_WIDTH, CardFace, ChipTarget
from drivers.pn532 import protocol as p
from drivers.pn532.reader import Pn532Reader
from drivers.registry import open_printer, open_reader
from drivers.simulated.bench import SimBench
from drivers.simulated.control import (
    ControlError, ControlServer, InProcessControl, handle_message, parse_address, send_control,
)
from drivers.simulated.evolis import SimulatedEvolis, blank_chip_uid
from drivers.simulated.faults import FaultyLink, faults_from_options
from drivers.simulated.host import serve_over_pipe
from drivers.simulated.pn532 import SimulatedPn532

REPLY_TIMEOUT = 0.3


def command(text: str) -> bytes:
    return b"\x1b" + text.encode() + b"\r"


def ko_face() -> CardFace:
    color = Image.new("RGB", (CARD_WIDTH, CARD_HEIGHT), (255, 255, 255))
    return CardFace(color=color, black=Image.new("L", (CARD_WIDTH, CARD_HEIGHT), 255))


@pytest.fixture
def printer_link(tmp_path) -> FaultyLink:
    link = FaultyLink(SimulatedEvolis(tmp_path, ribbon_type="KO"), role="printer", seed=1)
    assert link.feed(command("Pem;2")) == encode_reply("OK", link.device.status_words())
    return link


@pytest.fixture
def driven(printer_link, request):
    """An EvolisPrinter over a pipe to ``printer_link``."""
    transport, host = serve_over_pipe(printer_link, "faults")
    request.addfinalizer(host.stop)
    printer = EvolisPrinter(transport, reply_timeout=REPLY_TIMEOUT)
    request.addfinalizer(printer.close)
    return printer, printer_link


# -- FaultyLink -----------------------------------------------------------------


def test_no_reply_swallows_commands_before_the_device_acts(printer_link):
    printer_link.set_fault("no_reply", True)
    assert printer_link.feed(command("Sic")) == b""
    assert printer_link.device.state.cards_inserted == 0
    printer_link.set_fault("no_reply", False)
    assert printer_link.feed(command("Sic")) == encode_reply("OK", printer_link.device.status_words())
    assert printer_link.device.state.cards_inserted == 1


def test_garbage_is_never_an_evolis_reply_nor_a_pn532_frame(printer_link):
    printer_link.set_fault("garbage", True)
    for _ in range(200):
        noise = printer_link.feed(command("Rco;c"))
        assert noise and min(noise) >= 0x80
        with pytest.raises(EvolisReplyError):
            ReplyParser().feed(noise)
        assert p.FrameParser().feed(noise) == []
    assert printer_link.device.state.cards_inserted == 0


def test_slow_replies_are_delayed_but_partial_input_is_not(tmp_path):
    slept: list[float] = []
    link = FaultyLink(SimulatedEvolis(tmp_path), role="printer", sleep=slept.append)
    link.set_fault("slow_seconds", 0.25)
    assert link.feed(b"\x1bRsn") == b""
    assert link.feed(b"\r") == encode_reply("EVSIM0001", link.device.status_words())
    assert slept == [0.25]


def test_device_faults_pass_through_and_every_fault_is_reported(printer_link):
    printer_link.set_fault("jam_at_card", 3)
    printer_link.set_fault("garbage", True)
    assert printer_link.faults == {"no_reply": False, "garbage": True, "slow_seconds": 0.0, "jam_at_card": 3}


@pytest.mark.parametrize("name, value", [
    ("cover_open", "false"), ("jam_at_card", -1), ("jam_at_card", True), ("slow_seconds", -0.5),
    ("no_reply", "yes"), ("chip_absent", True), ("warp_drive", 1),
])
def test_bad_fault_names_and_values_are_refused_not_cast(printer_link, name, value):
    with pytest.raises(ValueError):
        printer_link.set_fault(name, value)


def test_uri_options_name_faults_and_leave_other_options_alone():
    options = {"state": "/tmp/x", "jam_at_card": "3", "garbage": "1", "slow_ms": "250",
               "cover_open": "0", "cards": "5", "feeder_cards": "0"}
    assert faults_from_options("printer", options) == {
        "jam_at_card": 3, "garbage": True, "slow_seconds": 0.25, "cover_open": False}
    assert faults_from_options("reader", {"chip_absent": "1", "jam_at_card": "3"}) == {"chip_absent": True}
    with pytest.raises(ValueError, match="jam_at_card"):
        faults_from_options("printer", {"jam_at_card": "soon"})


# -- the printer's own faults, seen by the real driver ----------------------------


def test_no_reply_times_out_and_the_printer_answers_again_when_cleared(driven):
    printer, link = driven
    link.set_fault("no_reply", True)
    with pytest.raises(TransportTimeoutError):
        printer.cards_inserted()
    link.set_fault("no_reply", False)
    assert printer.cards_inserted() == 0


def test_garbage_is_a_protocol_error_and_the_driver_recovers(driven):
    printer, link = driven
    link.set_fault("garbage", True)
    with pytest.raises(ProtocolError):
        printer.card_position()
    link.set_fault("garbage", False)
    assert printer.cards_inserted() == 0


def test_a_slow_printer_past_the_reply_timeout_times_out(driven):
    printer, link = driven
    link.set_fault("slow_seconds", REPLY_TIMEOUT * 2)
    with pytest.raises(TransportTimeoutError):
        printer.cards_inserted()
    link.set_fault("slow_seconds", 0)
    time.sleep(REPLY_TIMEOUT * 2)  # the late reply arrives; the driver drops it as stale input
    assert printer.cards_inserted() == 0


def test_mechanical_error_stops_card_movement_until_cleared(driven):
    printer, link = driven
    link.set_fault("mechanical_error", True)
    for move in (printer.insert_to_contactless, lambda: printer.print_card(ko_face())):
        with pytest.raises(DeviceFaultError) as caught:
            move()
        assert str(caught.value.reason) == "media-jam-error"
    assert printer.status().cards_inserted == 0  # reads still work
    link.set_fault("mechanical_error", False)
    printer.insert_to_contactless()
    printer.print_card(ko_face())
    assert printer.cards_inserted() == 1


def test_chip_unreadable_puts_a_card_the_reader_cannot_see(tmp_path, request):
    printer = SimulatedEvolis(tmp_path)
    printer.set_fault("chip_unreadable", True)
    assert printer.feed(command("Sic")) == encode_reply("OK", printer.status_words())
    uid = blank_chip_uid(printer.serial, 1)
    assert SimBench(tmp_path).card_at_station() == (uid, False)
    transport, host = serve_over_pipe(FaultyLink(SimulatedPn532(tmp_path), role="reader"), "reader")
    request.addfinalizer(host.stop)
    reader = Pn532Reader.over_hsu(transport, command_timeout=REPLY_TIMEOUT)
    assert reader.find_card(timeout=0.1) is None
    printer.set_fault("chip_unreadable", False)
    assert printer.feed(command("Sic")) == encode_reply("OK", printer.status_words())  # the same card, again
    assert reader.find_card(timeout=0.1) == ChipTarget(uid, "A")


# -- the control channel ----------------------------------------------------------


class _Target:
    def __init__(self) -> None:
        self.faults: dict[str, object] = {}
        self.unplugged = 0

    def set_fault(self, name: str, value: object) -> None:
        if name == "warp_drive":
            raise ValueError("unknown fault 'warp_drive'")
        self.faults[name] = value

    def describe(self) -> dict[str, object]:
        return {"faults": dict(self.faults)}

    def unplug(self) -> None:
        self.unplugged += 1

    def replug(self) -> str:
        return "socket://127.0.0.1:1"


def test_control_messages_are_answered_and_bad_ones_refused():
    target = _Target()
    assert handle_message(target, {"fault": "jam_at_card", "value": 3}) == {"ok": True}
    assert handle_message(target, {"fault": "slow_ms", "value": 250}) == {"ok": True}
    assert target.faults == {"jam_at_card": 3, "slow_seconds": 0.25}
    assert handle_message(target, {"get": "state"}) == {"ok": True, "faults": target.faults}
    assert handle_message(target, {"unplug": True}) == {"ok": True} and target.unplugged == 1
    assert handle_message(target, {"replug": True}) == {"ok": True, "uri": "socket://127.0.0.1:1"}
    for bad in ([1], {"fault": "cover_open"}, {"fault": "warp_drive", "value": 1}, {"launch": True}):
        reply = handle_message(target, bad)
        assert reply["ok"] is False and reply["error"]


def test_control_addresses_are_socket_paths_or_loopback_ports():
    assert parse_address("/tmp/a.sock") == (socket.AF_UNIX, "/tmp/a.sock")
    assert parse_address("unix:///tmp/a.sock") == (socket.AF_UNIX, "/tmp/a.sock")
    assert parse_address("tcp:127.0.0.1:7001") == (socket.AF_INET, ("127.0.0.1", 7001))
    with pytest.raises(ControlError):
        parse_address("192.0.2.1:7001")


def test_control_server_round_trip_over_a_unix_socket_and_a_stale_socket(tmp_path):
    path = tmp_path / "ctl.sock"
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(path))
    stale.close()  # a dead simulator's socket file
    target = _Target()
    server = ControlServer(target, str(path)).start()
    try:
        assert send_control(str(path), {"fault": "cover_open", "value": True}) == {"ok": True}
        with pytest.raises(ControlError, match="in use"):
            ControlServer(_Target(), str(path))
        with socket.socket(socket.AF_UNIX) as raw:  # several lines on one connection, one bad
            raw.settimeout(2)
            raw.connect(str(path))
            raw.sendall(b'not json\n{"get": "state"}\n')
            replies = raw.makefile("rb")
            first, second = replies.readline(), replies.readline()
        assert json.loads(first)["ok"] is False
        assert json.loads(second)["faults"] == {"cover_open": True}
    finally:
        server.close()
    assert not path.exists()
    with pytest.raises(ControlError):
        send_control(str(path), {"get": "state"}, timeout=1)


def test_control_over_loopback_tcp(tmp_path):
    server = ControlServer(_Target(), "127.0.0.1:0").start()
    try:
        assert server.address.startswith("127.0.0.1:")
        assert send_control(server.address, {"fault": "garbage", "value": True}) == {"ok": True}
    finally:
        server.close()


def test_in_process_control_refuses_replug(tmp_path):
    target = InProcessControl("printer", FaultyLink(SimulatedEvolis(tmp_path)), str(tmp_path), "sim://printer",
                              unplug=lambda: None)
    assert handle_message(target, {"replug": True})["ok"] is False


# -- sim:// URIs with faults and a control channel ----------------------------------


def test_sim_uri_faults_at_start_and_control_reach_the_daemons_simulator(tmp_path):
    ctl = tmp_path / "printer.sock"
    printer = open_printer(f"sim://printer?state={tmp_path}&ribbon_type=KO&jam_at_card=1&control={ctl}")
    try:
        with pytest.raises(DeviceFaultError, match="media-jam"):
            printer.print_card(ko_face())
        assert send_control(str(ctl), {"fault": "jammed", "value": False}) == {"ok": True}  # card taken out
        assert send_control(str(ctl), {"fault": "cover_open", "value": True}) == {"ok": True}
        with pytest.raises(DeviceFaultError, match="cover-open"):
            printer.insert_to_contactless()
        state = send_control(str(ctl), {"get": "state"})
        assert state["faults"]["cover_open"] is True and state["state"]["cards_inserted"] == 1
        assert send_control(str(ctl), {"unplug": True}) == {"ok": True}
        with pytest.raises(DisconnectedError):
            printer.cards_inserted()
    finally:
        printer.close()
    assert not ctl.exists()


def test_a_jam_holds_the_card_until_it_is_taken_out_through_the_control_channel(tmp_path):
    ctl = tmp_path / "printer.sock"
    printer = open_printer(f"sim://printer?state={tmp_path}&ribbon_type=KO&control={ctl}")
    try:
        assert send_control(str(ctl), {"fault": "jammed", "value": True}) == {"ok": True}
        with pytest.raises(DeviceFaultError, match="media-jam"):
            printer.print_card(ko_face())
        for _ in range(2):  # it holds: nothing moves, and the status keeps saying so
            with pytest.raises(DeviceFaultError, match="media-jam"):
                printer.reject_card()
            assert "media-jam-error" in map(str, printer.status().reasons)
        assert send_control(str(ctl), {"get": "state"})["state"]["jammed"] is True
        assert send_control(str(ctl), {"fault": "jammed", "value": False}) == {"ok": True}
        status = printer.status()
        assert status.reasons == () and status.card_position is CardPosition.NONE
        printer.print_card(ko_face())  # the next card prints
        assert printer.cards_inserted() == 2
    finally:
        printer.close()


def test_a_jam_outlives_a_restart_of_the_simulator(tmp_path):
    printer = open_printer(f"sim://printer?state={tmp_path}&ribbon_type=KO&jam_at_card=1")
    with pytest.raises(DeviceFaultError, match="media-jam"):
        printer.print_card(ko_face())
    printer.close()
    printer = open_printer(f"sim://printer?state={tmp_path}&ribbon_type=KO")
    try:
        assert "media-jam-error" in map(str, printer.status().reasons)
        assert printer.status().card_position is CardPosition.IN_PRINTER
    finally:
        printer.close()


def test_a_sim_uri_that_cannot_open_stops_its_simulator_and_control(tmp_path):
    ctl = tmp_path / "printer.sock"
    with pytest.raises(ProtocolError):
        open_printer(f"sim://printer?state={tmp_path}&garbage=1&control={ctl}")
    assert not ctl.exists()


def test_sim_reader_uri_takes_chip_absent(tmp_path):
    SimBench(tmp_path).place_card(bytes.fromhex("04a1b2c3d4e5f6"))
    ctl = tmp_path / "reader.sock"
    reader = open_reader(f"sim://reader?state={tmp_path}&chip_absent=1&control={ctl}")
    try:
        assert reader.find_card(timeout=0.1) is None
        send_control(str(ctl), {"fault": "chip_absent", "value": False})
        assert reader.find_card(timeout=0.1) is not None
    finally:
        reader.close()
