"""A blank whose chip answers a random UID (ISO/IEC 14443-3: 4 bytes, first byte 0x08),
new at every activation: the simulated PN532's ``random_uid`` option, on the wire,
through a sim:// URI and on the standalone simulator's command line."""
from __future__ import annotations

import argparse

import pytest

from drivers.errors import UnsupportedDeviceError
from drivers.interfaces import ChipTarget
from drivers.pn532 import protocol as p
from drivers.pn532.reader import Pn532Reader
from drivers.registry import open_reader
from drivers.serial_transport import SerialTransport
from drivers.simulated.bench import SimBench
from drivers.simulated.pn532 import SimulatedPn532
from drivers.simulated.standalone import StandaloneSimulator, add_arguments, options_from_args

OWN_UID = bytes.fromhex("04a1b2c3d4e5f6")
ACTIVATIONS = 20


def list_target_uid(sim: SimulatedPn532) -> bytes:
    reply = sim.feed(p.build_frame(p.HOST_TO_CHIP, bytes.fromhex("4a0100")))
    [frame] = p.FrameParser().feed(reply[len(p.ACK_FRAME):])
    [target] = p.decode_in_list_passive_target(frame.data)
    return target.uid


def assert_random(uids: list[bytes]) -> None:
    assert all(len(uid) == 4 and uid[0] == 0x08 for uid in uids), [u.hex() for u in uids]
    assert len(set(uids)) == len(uids), "a random UID must be drawn anew at every activation"


def test_random_uid_card_answers_a_fresh_08_uid_at_every_activation(tmp_path):
    SimBench(tmp_path).place_card(OWN_UID)
    sim = SimulatedPn532(tmp_path, random_uid=True, seed=3)
    assert_random([list_target_uid(sim) for _ in range(ACTIVATIONS)])


def test_without_the_option_the_card_answers_its_own_uid_every_time(tmp_path):
    SimBench(tmp_path).place_card(OWN_UID)
    sim = SimulatedPn532(tmp_path)
    assert {list_target_uid(sim) for _ in range(3)} == {OWN_UID}


def test_random_uid_card_is_still_absent_when_no_blank_is_at_the_station(tmp_path):
    sim = SimulatedPn532(tmp_path, random_uid=True)
    reply = sim.feed(p.build_frame(p.HOST_TO_CHIP, bytes.fromhex("4a0100")))
    assert reply == p.ACK_FRAME + p.build_frame(p.CHIP_TO_HOST, bytes.fromhex("4b00"))


def test_sim_reader_uri_takes_random_uid(tmp_path):
    SimBench(tmp_path).place_card(OWN_UID)
    reader = open_reader(f"sim://reader?state={tmp_path}&random_uid=1")
    try:
        uids = []
        for _ in range(5):
            uids.append(reader.find_card(timeout=0.2).uid)
            reader.release()
    finally:
        reader.close()
    assert_random(uids)


@pytest.mark.parametrize("query, named", [
    ("random_uid=1&colour=blue", "'colour'"),
    ("randomuid=1", "'randomuid'"),
    ("random_uid=maybe", "random_uid='maybe'"),
])
def test_sim_reader_uri_refuses_what_it_does_not_know_and_names_it(tmp_path, query, named):
    with pytest.raises(UnsupportedDeviceError, match=named):
        open_reader(f"sim://reader?state={tmp_path}&{query}")


def test_sim_reader_uri_still_takes_its_faults_and_link(tmp_path):
    SimBench(tmp_path).place_card(OWN_UID)
    reader = open_reader(f"sim://reader?state={tmp_path}&link=pipe&chip_absent=0&slow_ms=0&random_uid=0")
    try:
        assert reader.find_card(timeout=0.2).uid == OWN_UID
    finally:
        reader.close()


def test_standalone_reader_takes_random_uid_from_its_command_line(tmp_path):
    parser = argparse.ArgumentParser()
    add_arguments(parser.add_subparsers())
    args = parser.parse_args(["reader", "--state", str(tmp_path), "--tcp", "127.0.0.1:0", "--random-uid"])
    options = options_from_args(args)
    assert options.random_uid is True
    with pytest.raises(SystemExit):  # a printer has no chip of its own to randomise
        parser.parse_args(["printer", "--random-uid"])
    SimBench(tmp_path).place_card(OWN_UID)
    sim = StandaloneSimulator(options).start()
    try:
        reader = Pn532Reader.over_hsu(SerialTransport(sim.uri), command_timeout=0.5)
        try:
            uids = []
            for _ in range(3):
                uids.append(reader.find_card(timeout=0.2).uid)
                reader.release()
        finally:
            reader.close()
    finally:
        sim.stop()
    assert_random(uids)



@pytest.mark.parametrize("uid, random", [
    ("08a1b2c3", True), ("08000000", True),
    ("04a1b2c3", False), ("08a1b2c3d4e5f6", False), ("a1b2c3d4", False), ("", False),
])
def test_only_a_single_size_uid_starting_08_is_random(uid, random):
    assert ChipTarget(bytes.fromhex(uid), "A").uid_is_random is random
