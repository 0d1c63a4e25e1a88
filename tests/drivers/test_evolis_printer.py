"""EvolisPrinter against the simulated printer, over an in-process pipe and a pty."""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from drivers.errors import (
    DeviceFaultError,
    DisconnectedError,
    ProtocolError,
    Severity,
    StateReason,
    TransportTimeoutError,
)
from drivers.evolis.printer import EvolisPrinter, Generation
from drivers.evolis.protocol import CommandParser, encode_reply
from drivers.evolis.status import ErrorFlag, StatusWords, WarningFlag
from drivers.interfaces import CARD_HEIGHT, CARD_WIDTH, CardFace, CardPosition
from drivers.serial_transport import SerialTransport
from drivers.simulated.bench import SimBench
from drivers.simulated.evolis import SimulatedEvolis
from drivers.simulated.host import SimulatorHost, serve_over_pipe, serve_over_pty


def card_face() -> CardFace:
    color = Image.new("RGB", (CARD_WIDTH, CARD_HEIGHT), (200, 230, 255))
    ImageDraw.Draw(color).rectangle((720, 100, 880, 300), fill=(255, 0, 0))
    black = Image.new("L", (CARD_WIDTH, CARD_HEIGHT), 255)
    ImageDraw.Draw(black).rectangle((60, 80, 420, 120), fill=0)
    return CardFace(color=color, black=black)


@dataclass
class Station:
    printer: EvolisPrinter
    simulator: SimulatedEvolis
    host: SimulatorHost
    bench: SimBench
    png_dir: Path


def _connect(link: str, simulator: SimulatedEvolis) -> tuple[EvolisPrinter, SimulatorHost]:
    if link == "pipe":
        transport, host = serve_over_pipe(simulator, "evolis")
        return EvolisPrinter(transport, reply_timeout=2.0, print_timeout=10.0), host
    path, host = serve_over_pty(simulator, "evolis")
    transport = SerialTransport(path)
    return EvolisPrinter(transport, reply_timeout=2.0, print_timeout=10.0), host


@pytest.fixture(params=["pipe", "pty"])
def open_station(request, tmp_path) -> Iterator[Callable[..., Station]]:
    opened: list[Station] = []

    def open_(**options) -> Station:
        png_dir = tmp_path / "png"
        simulator = SimulatedEvolis(tmp_path / "state", png_dir=png_dir, **options)
        printer, host = _connect(request.param, simulator)
        station = Station(printer, simulator, host, SimBench(tmp_path / "state"), png_dir)
        opened.append(station)
        return station

    yield open_
    for station in opened:
        station.printer.close()
        station.host.stop()


def test_identity_reports_the_simulated_printer(open_station):
    identity = open_station(serial="EVSIM4242").printer.identity()
    assert identity.serial == "EVSIM4242"
    assert identity.model == "Primacy 2"
    assert identity.firmware and identity.head_kit


def test_status_of_a_fresh_printer_is_ready(open_station):
    status = open_station(ribbon_prints=50).printer.status()
    assert status.ready and status.reasons == ()
    assert status.card_position is CardPosition.NONE
    assert (status.cards_inserted, status.panels_printed) == (0, 0)
    assert (status.ribbon_type, status.ribbon_remaining) == ("YMCKO", 50)


def test_insert_puts_a_card_with_a_7_byte_uid_on_the_bench(open_station):
    station = open_station()
    station.printer.insert_to_contactless()
    uid, _ = station.bench.card_at_station()
    assert len(uid) == 7 and uid[0] == 0x04
    assert station.printer.card_position() is CardPosition.CONTACTLESS
    assert station.printer.cards_inserted() == 1


def test_print_writes_the_printout_and_bumps_counters(open_station):
    station = open_station()
    station.printer.insert_to_contactless()
    uid, _ = station.bench.card_at_station()
    station.printer.print_card(card_face())
    status = station.printer.status()
    assert (status.cards_inserted, status.panels_printed, status.ribbon_remaining) == (1, 5, 199)
    assert status.card_position is CardPosition.NONE
    assert station.bench.card_at_station() is None
    png = station.png_dir / f"card-000001-{uid.hex()}.png"
    with Image.open(png) as printout:
        assert printout.size == (CARD_WIDTH, CARD_HEIGHT)
        assert printout.getpixel((200, 100)) == (0, 0, 0)
        red = printout.getpixel((800, 200))  # through the vendor's ink curve and back
        assert max(abs(a - b) for a, b in zip(red, (255, 0, 0))) <= 25


def test_counters_survive_a_new_simulator_on_the_same_state(open_station):
    first = open_station()
    first.printer.insert_to_contactless()
    first.printer.print_card(card_face())
    second = open_station()
    assert second.printer.cards_inserted() == 1
    assert second.printer.status().panels_printed == 5


def test_empty_feeder_raises_media_empty_until_a_card_moves(open_station):
    station = open_station(feeder_cards=0)
    with pytest.raises(DeviceFaultError) as caught:
        station.printer.insert_to_contactless()
    media_empty = StateReason("media-empty", Severity.ERROR)
    assert caught.value.reason == media_empty
    assert media_empty in station.printer.status().reasons
    station.simulator.set_fault("feeder_cards", 3)
    station.printer.insert_to_contactless()
    assert station.printer.status().ready


def test_open_cover_is_reported_and_stops_insertion(open_station):
    station = open_station(cover_open=True)
    cover_open = StateReason("cover-open", Severity.ERROR)
    assert station.printer.status().reasons == (cover_open,)
    with pytest.raises(DeviceFaultError) as caught:
        station.printer.insert_to_contactless()
    assert caught.value.reason == cover_open


def test_jam_raises_media_jam_and_leaves_the_card_inside(open_station):
    station = open_station(jam_at_card=1)
    station.printer.insert_to_contactless()
    with pytest.raises(DeviceFaultError) as caught:
        station.printer.print_card(card_face())
    assert caught.value.reason == StateReason("media-jam", Severity.ERROR)
    assert station.printer.card_position() is CardPosition.IN_PRINTER


def test_reject_clears_the_bench(open_station):
    station = open_station()
    station.printer.insert_to_contactless()
    station.printer.reject_card()
    assert station.bench.card_at_station() is None
    assert station.printer.card_position() is CardPosition.NONE
    assert station.simulator.state.cards_rejected == 1


def test_ribbon_supply_reasons_follow_the_remaining_prints(open_station):
    station = open_station(ribbon_prints=3)
    assert station.printer.status().reasons == (StateReason("marker-supply-low", Severity.WARNING),)
    station.simulator.set_fault("ribbon_prints", 0)
    status = station.printer.status()
    assert status.reasons == (StateReason("marker-supply-empty", Severity.ERROR),)
    assert not status.ready
    station.printer.insert_to_contactless()
    with pytest.raises(DeviceFaultError) as caught:
        station.printer.print_card(card_face())
    assert caught.value.reason.keyword == "marker-supply-empty"


def test_unplugged_printer_raises_disconnected(open_station):
    station = open_station()
    station.host.stop()
    with pytest.raises(DisconnectedError):
        station.printer.identity()


def test_maintenance_commands_are_acknowledged(open_station):
    station = open_station()
    station.printer.reset()
    station.printer.clear_status()
    station.printer.test_card()
    assert station.printer.cards_inserted() == 1


# -- a scripted far end, for replies the simulator never gives -------------------


class ScriptedPrinter:
    """Answers the n-th command with the n-th scripted reply (after an optional delay)."""

    def __init__(self, *replies: bytes | tuple[float, bytes]) -> None:
        self._replies = list(replies)
        self._commands = CommandParser()
        self.received: list[str] = []

    def feed(self, data: bytes) -> bytes:
        out = b""
        for command in self._commands.feed(data):
            self.received.append(";".join([command.mnemonic, *command.params]))
            reply = self._replies.pop(0) if self._replies else b""
            if isinstance(reply, tuple):
                time.sleep(reply[0])
                reply = reply[1]
            out += reply
        return out


@pytest.fixture
def scripted() -> Iterator[Callable[..., tuple[EvolisPrinter, ScriptedPrinter]]]:
    hosts: list[SimulatorHost] = []

    def open_(*replies) -> tuple[EvolisPrinter, ScriptedPrinter]:
        device = ScriptedPrinter(*replies)
        transport, host = serve_over_pipe(device, "scripted")
        hosts.append(host)
        return EvolisPrinter(transport, reply_timeout=0.3), device

    yield open_
    for host in hosts:
        host.stop()


def frame(text: str, **flags) -> bytes:
    """A Primacy reply frame with the given status words."""
    return encode_reply(text, StatusWords(**flags))


OPENING = (frame("Primacy 2"), frame("0"), frame("OK"))  # Rtp, Rem;1, Pem;2


def test_open_hands_errors_to_the_host_and_close_restores_the_mode(scripted):
    printer, device = scripted(*OPENING, frame("12"), frame("OK"))
    assert device.received == ["Rtp", "Rem;1", "Pem;2"]
    assert (printer.model, printer.generation, printer.colour_levels) == ("Primacy 2", Generation.PRIMACY, 256)
    assert printer.cards_inserted() == 12
    printer.close()
    assert device.received[-1] == "Pem;0" and "Pem;6" not in device.received


def test_a_rev_e_printer_is_known_by_its_bare_replies_and_left_in_its_mode(scripted):
    printer, device = scripted(b"Dualys\x00", b"12\x00")
    assert printer.generation is Generation.REV_E
    assert printer.cards_inserted() == 12
    assert device.received == ["Rtp", "Rco;c"]


def test_models_that_take_128_levels_are_sent_128(scripted):
    printer, _ = scripted(frame("Zenius"), frame("0"), frame("OK"))
    assert printer.colour_levels == 128


def test_command_errors_name_the_command(scripted):
    printer, _ = scripted(*OPENING, frame("ERROR CDE"), frame("ERROR PARAMETRES"))
    with pytest.raises(ProtocolError, match="Sic"):
        printer.insert_to_contactless()
    with pytest.raises(ProtocolError, match="Rco;c"):
        printer.cards_inserted()


def test_an_error_reply_is_the_condition_its_status_words_say(scripted):
    printer, _ = scripted(*OPENING, frame("ERROR FEEDER", warning=WarningFlag.FEEDER_EMPTY,
                                         error=ErrorFlag.FEEDER_ERROR))
    with pytest.raises(DeviceFaultError) as caught:
        printer.insert_to_contactless()
    assert caught.value.reason == StateReason("media-empty", Severity.ERROR)


def test_garbage_raises_protocol_error_and_next_command_starts_clean(scripted):
    printer, _ = scripted(*OPENING, b"\x01\x02junk" + frame("OK"), frame("CARD"))
    with pytest.raises(ProtocolError):
        printer.card_position()
    assert printer.card_position() is CardPosition.IN_PRINTER


def test_timeout_propagates_and_the_late_reply_is_discarded(scripted):
    printer, _ = scripted(*OPENING, (0.5, frame("CARD")), frame("7"))
    with pytest.raises(TransportTimeoutError):
        printer.card_position()
    time.sleep(0.4)  # the late reply is now waiting on the line
    assert printer.cards_inserted() == 7


def test_unknown_card_position_is_a_protocol_error(scripted):
    printer, _ = scripted(*OPENING, frame("SIDEWAYS"))
    with pytest.raises(ProtocolError, match="SIDEWAYS"):
        printer.card_position()


class RevEPrinter:
    """A Rev E printer (Dualys) with a KO ribbon: bare NUL-ended replies, every command OK."""

    def __init__(self) -> None:
        self._commands = CommandParser()
        self.received: list[str] = []

    def feed(self, data: bytes) -> bytes:
        out = b""
        for command in self._commands.feed(data):
            self.received.append(";".join([command.mnemonic, *command.params]))
            text = {"Rtp": "Dualys", "Rr": "KO"}.get(command.mnemonic, "OK")
            out += text.encode() + b"\x00"
        return out


def test_a_rev_e_printer_gets_the_field_proven_stream(request):
    device = RevEPrinter()
    transport, host = serve_over_pipe(device, "rev-e")
    request.addfinalizer(host.stop)
    printer = EvolisPrinter(transport, reply_timeout=0.5)
    printer.print_card(card_face())
    assert device.received == ["Rtp", "Rr", "Pr;k", "Pmi;F;s", "Pc;k;=;10", "Ss", "Sr", "Db;k;2", "Db;o;2", "Se"]
