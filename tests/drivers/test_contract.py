"""The driver contract: every driver over every transport, simulated devices on the far end.

Printer (EvolisPrinter) and reader (Pn532Reader) each run over an in-process
pipe, a pty opened with pyserial, a ``socket://`` TCP bridge, and USB through
pyusb's core on the simulated backend (the reader there as an ACR122U, its
PN532 commands inside CCID). Tests that need both devices run on every pair.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from PIL import Image, ImageDraw

from drivers.errors import DisconnectedError
from drivers.pn532.protocol import ChipStatusError
from drivers.evolis.printer import EvolisPrinter
from drivers.interfaces import CARD_HEIGHT, CARD_WIDTH, CardFace, CardPosition
from drivers.pn532.acr122u import open_acr122u_reader
from drivers.pn532.reader import Pn532Reader
from drivers.serial_transport import SerialTransport
from drivers.simulated.bench import SimBench
from drivers.simulated.evolis import SimulatedEvolis
from drivers.simulated.host import SimulatedDevice, serve_over_pipe, serve_over_pty, serve_over_tcp
from drivers.simulated.pn532 import SimulatedPn532
from drivers.simulated.pn532_tap import FrameTap, commands_sent
from drivers.simulated.usb_backend import serve_over_usb
from drivers.transport import Transport

LINKS = ["pipe", "pty", "tcp", "usb"]
UID = bytes.fromhex("04a1b2c3d4e5f6")
COMMAND_TIMEOUT = 0.5
POLL = 0.05


@dataclass
class Connected:
    """A driver on one link, with the simulator behind it and the cable to pull."""

    device: object
    simulator: object
    unplug: Callable[[], None]
    link: str


def open_link(link: str, simulator: SimulatedDevice) -> tuple[Transport, Callable[[], None]]:
    """A transport to ``simulator`` over ``link`` and the function that unplugs it."""
    if link == "pipe":
        transport, host = serve_over_pipe(simulator)
        return transport, host.stop
    if link == "pty":
        path, host = serve_over_pty(simulator)
        return SerialTransport(path), host.stop
    if link == "tcp":
        url, host = serve_over_tcp(simulator)
        return SerialTransport(url), host.stop
    transport, backend = serve_over_usb(simulator)
    return transport, backend.unplug


def connect(request, device: object, simulator: object, unplug: Callable[[], None], link: str) -> Connected:
    def teardown() -> None:
        device.close()  # type: ignore[attr-defined]
        unplug()

    request.addfinalizer(teardown)
    return Connected(device, simulator, unplug, link)


@pytest.fixture(params=LINKS, ids=[f"printer-{link}" for link in LINKS])
def printer(request, tmp_path) -> Connected:
    simulator = SimulatedEvolis(tmp_path, serial="EVCONTRACT1")
    transport, unplug = open_link(request.param, simulator)
    driver = EvolisPrinter(transport, reply_timeout=2.0, print_timeout=10.0)
    return connect(request, driver, simulator, unplug, request.param)


def open_reader(request, simulator: SimulatedPn532, link: str) -> Connected:
    transport, unplug = open_link(link, simulator)
    if link == "usb":
        driver = open_acr122u_reader(transport, command_timeout=COMMAND_TIMEOUT)
    else:
        driver = Pn532Reader.over_hsu(transport, command_timeout=COMMAND_TIMEOUT)
    return connect(request, driver, simulator, unplug, link)


@pytest.fixture(params=LINKS, ids=[f"reader-{link}" for link in LINKS])
def reader(request, tmp_path) -> Connected:
    return open_reader(request, SimulatedPn532(tmp_path, tap=FrameTap()), request.param)


def card_face() -> CardFace:
    color = Image.new("RGB", (CARD_WIDTH, CARD_HEIGHT), (200, 230, 255))
    black = Image.new("L", (CARD_WIDTH, CARD_HEIGHT), 255)
    ImageDraw.Draw(black).rectangle((60, 80, 420, 120), fill=0)
    return CardFace(color=color, black=black)


# -- printer -----------------------------------------------------------------


def test_printer_identity_is_readable(printer):
    identity = printer.device.identity()
    assert identity.serial == "EVCONTRACT1"
    assert identity.model and identity.firmware and identity.head_kit


def test_printer_status_of_a_fresh_printer_is_sane(printer):
    status = printer.device.status()
    assert status.ready and status.reasons == ()
    assert status.card_position is CardPosition.NONE
    assert (status.cards_inserted, status.panels_printed) == (0, 0)
    assert status.ribbon_type == "YMCKO" and status.ribbon_remaining > 0


def test_print_ejects_the_card_and_bumps_the_counters_by_one_card(printer, tmp_path):
    before = printer.device.status()
    printer.device.insert_to_contactless()
    printer.device.print_card(card_face())
    after = printer.device.status()
    assert after.card_position is CardPosition.NONE
    assert after.cards_inserted == before.cards_inserted + 1
    assert after.ribbon_remaining == before.ribbon_remaining - 1
    assert after.panels_printed == before.panels_printed + len("ymcko")
    assert SimBench(tmp_path).card_at_station() is None


def test_reject_clears_the_printer_and_the_station(printer, tmp_path):
    printer.device.insert_to_contactless()
    printer.device.reject_card()
    assert printer.device.card_position() is CardPosition.NONE
    assert SimBench(tmp_path).card_at_station() is None
    assert printer.simulator.state.cards_rejected == 1


def test_unplugged_printer_raises_disconnected_and_nothing_else(printer):
    printer.device.identity()
    printer.unplug()
    with pytest.raises(DisconnectedError):
        printer.device.status()
    with pytest.raises(DisconnectedError):
        printer.device.insert_to_contactless()


# -- reader ------------------------------------------------------------------


def test_reader_firmware_is_readable(reader):
    assert reader.device.firmware() == "PN532 v1.6"


def test_reader_without_a_card_finds_none(reader):
    assert reader.device.find_card(timeout=POLL) is None


def test_unreadable_chip_gives_none(reader, tmp_path):
    SimBench(tmp_path).place_card(UID, readable=False)
    assert reader.device.find_card(timeout=POLL) is None


def test_unplugged_reader_raises_disconnected_and_nothing_else(reader, tmp_path):
    SimBench(tmp_path).place_card(UID)
    reader.unplug()
    with pytest.raises(DisconnectedError):
        reader.device.find_card(timeout=POLL)
    with pytest.raises(DisconnectedError):
        reader.device.find_card(timeout=POLL)


# -- reader robustness: what libnfc and nfcpy do with real chips ---------------
# (docs/reader-dialogues.md)

APDU_SELECT = bytes.fromhex("00a4040000")


def test_reader_takes_the_answer_whose_ack_was_lost(reader, tmp_path):
    SimBench(tmp_path).place_card(UID)
    reader.simulator.set_fault("drop_acks", 1)
    assert reader.device.find_card(timeout=POLL).uid == UID
    assert any(entry.name == "ACK lost" for entry in reader.simulator.tap.entries)


def test_reader_rewakes_a_chip_that_fell_asleep_and_goes_on(reader, tmp_path):
    SimBench(tmp_path).place_card(UID)
    reader.simulator.set_fault("asleep", True)
    assert reader.device.find_card(timeout=POLL).uid == UID
    assert not reader.simulator.asleep
    assert any(entry.name == "wake-up" for entry in reader.simulator.tap.entries)


def test_closing_the_reader_never_powers_the_chip_down(reader):
    reader.device.find_card(timeout=POLL)
    reader.device.close()
    assert not reader.simulator.asleep
    assert "PowerDown" not in commands_sent(reader.simulator.tap.entries)


@pytest.mark.parametrize("link", LINKS)
def test_reader_sets_automatic_rats_whatever_another_host_left(request, tmp_path, link):
    simulator = SimulatedPn532(tmp_path)
    simulator.chip.execute(bytes([0x12, 0x00]))  # nfcpy leaves every SetParameters flag cleared
    reader = open_reader(request, simulator, link)
    SimBench(tmp_path).place_card(UID)
    assert reader.device.find_card(timeout=POLL).uid == UID
    assert simulator.chip.parameters == 0x14
    assert reader.device.exchange(APDU_SELECT) == b"\x6d\x00"  # ISO-DEP: the ATS was read


def test_a_released_card_is_found_again(reader, tmp_path):
    SimBench(tmp_path).place_card(UID)
    assert reader.device.find_card(timeout=POLL).uid == UID
    reader.device.release()
    assert reader.device.find_card(timeout=POLL).uid == UID
    reader.device.release()


def test_rf_errors_while_polling_are_retried(reader, tmp_path):
    SimBench(tmp_path).place_card(UID)
    reader.simulator.set_fault("rf_errors", 5)  # more than one poll's own activation retries
    assert reader.device.find_card(timeout=0).uid == UID


def test_rf_errors_in_a_card_exchange_are_retried_a_bounded_number_of_times(reader, tmp_path):
    SimBench(tmp_path).place_card(UID)
    reader.device.find_card(timeout=POLL)
    reader.simulator.set_fault("rf_errors", 2)
    assert reader.device.exchange(APDU_SELECT) == b"\x6d\x00"
    reader.simulator.set_fault("rf_errors", 10)
    with pytest.raises(ChipStatusError, match="timeout"):
        reader.device.exchange(APDU_SELECT)
    assert reader.simulator.faults["rf_errors"] == 7  # three tries, then the error is the caller's


# -- the station: printer and reader on every pair of links -------------------


def test_insert_puts_a_card_where_the_reader_finds_exactly_its_uid(printer, reader):
    assert reader.device.find_card(timeout=POLL) is None
    printer.device.insert_to_contactless()
    assert printer.device.card_position() is CardPosition.CONTACTLESS
    target = reader.device.find_card(timeout=POLL)
    assert target is not None and target.uid == printer.simulator.state.card_uid
    reader.device.release()
