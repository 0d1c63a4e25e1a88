"""The simulated PN532's firmware: every command code, and what it answers.

Facts from the NXP PN532 user manual (UM0701-02, §7 "Commands supported")
unless a line says otherwise; *choice* marks what the manual leaves open.

* Diagnose 0x00: NumTst 0x00 (communication line test) echoes NumTst and
  its data (libnfc sends "libnfc", nfcpy 262 bytes in an extended frame);
  0x01 ROM and 0x02 RAM tests answer status 0x00; 0x06 (card presence)
  0x00 while the selected target answers, 0x01 when it has gone; 0x07
  (antenna self test) 0x00. The tests that need a second device or an
  external field (0x04 polling test to target, 0x05 echo back) are not
  offered: *choice*, the error frame.
* GetFirmwareVersion 0x02: IC, Ver, Rev, Support (PN532: IC 0x32).
* GetGeneralStatus 0x04: Err (last error), Field (external field: none),
  NbTg, per target Tg/BrRx/BrTx/Type, SAM status.
* ReadRegister 0x06: a list of 16-bit addresses, one value each;
  WriteRegister 0x08: a list of address and value triples, answered ``09``.
* ReadGPIO 0x0C: P3, P7 and I0I1 (the interface pins; 0x00 is HSU);
  WriteGPIO 0x0E: a port byte is applied only with its bit 7 set.
* SetSerialBaudRate 0x10 (0x00..0x08 = 9,600 .. 1,288,000 baud): ``11``,
  and the line switches after the host's ACK (the line layer does that).
* SetParameters 0x12, one flag byte: bit 4 automatic RATS shapes type A
  target data, bit 6 drops the chip's preamble and postamble; bits 0 (NAD),
  1 (DID), 2 (automatic ATR_RES), 5 (ISO 14443-4 PICC emulation) are kept
  and concern ISO-DEP prologues, DEP and target mode, which the simulated
  card accepts either way or the chip does not offer.
* SAMConfiguration 0x14: mode 1..4, then optional timeout and IRQ bytes.
* PowerDown 0x16: WakeUpEnable [GenerateIRQ], answered status 0x00; the
  field goes off and the chip sleeps after the answer. Only a wake-up
  source set in WakeUpEnable wakes it (bit 4: HSU).
* RFConfiguration 0x32, items and their lengths: 0x01 field (bit 0 RF on),
  0x02 timings (3), 0x04 MaxRtyCOM (1), 0x05 MaxRetries (3), 0x0A analog
  106 kbps type A (11), 0x0B 212/424 kbps (8), 0x0C type B (3), 0x0D
  ISO 14443-4 212..848 kbps (9). *Choice*: another item or length is
  refused with the error frame.
* Target mode (TgInitAsTarget 0x8C) waits for an external initiator that
  never comes: ACK and no answer until the host cancels with an ACK. The
  other Tg* commands answer 0x27 (not acceptable: no target mode).
  RFRegulationTest 0x58 runs until the next command: ACK, no answer.
* An unknown command code, or AlparCommandForTDA 0x18 (no TDA8029 SAM on
  the board), gets the error frame.

The chip's initiator commands are in ``pn532_initiator``.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import MappingProxyType

from ..pn532 import protocol as p
from .pn532_initiator import Antenna, ChipSyntaxError, Initiator, RfSettings, require
from .pn532_registers import SFR_P3, SFR_P7, RegisterFile

#: SetSerialBaudRate's BR values (UM0701-02).
SERIAL_SPEEDS = (9_600, 19_200, 38_400, 57_600, 115_200, 230_400, 460_800, 921_600, 1_288_000)
WAKE_ON_HSU = 0x10
PARAM_REMOVE_PRE_POSTAMBLE = 0x40
_RF_ITEM_LENGTHS = MappingProxyType({0x01: 1, 0x02: 3, 0x04: 1, 0x05: 3, 0x0A: 11, 0x0B: 8, 0x0C: 3, 0x0D: 9})
_DIAGNOSE_OK = frozenset({0x01, 0x02, 0x07})
_TARGET_MODE_STATUS = frozenset({0x86, 0x88, 0x8E, 0x90, 0x92, 0x94})
TG_INIT_AS_TARGET, TG_GET_TARGET_STATUS, RF_REGULATION_TEST = 0x8C, 0x8A, 0x58


@dataclass(frozen=True)
class ChipReply:
    """What the chip does with one command.

    ``response`` is the response code and data, or None when the command runs
    on without answering. ``sleep_wake_sources`` (PowerDown) and ``line_speed``
    (SetSerialBaudRate) are for the line layer, after the answer is sent.
    """

    response: bytes | None
    sleep_wake_sources: int | None = None
    line_speed: int | None = None


class Pn532Firmware:
    """The command set of one simulated chip, independent of the host link."""

    def __init__(self, antenna: Antenna, firmware: bytes) -> None:
        self.registers = RegisterFile()
        self.settings = RfSettings()
        self.initiator = Initiator(antenna, self.registers, self.settings)
        self._firmware = firmware
        self._last_error = 0x00
        self._handlers: dict[int, Callable[[bytes], bytes]] = self._command_table()

    @property
    def parameters(self) -> int:
        return self.settings.parameters

    def execute(self, command: bytes) -> ChipReply:
        """Run one command (code and parameters); ChipSyntaxError means the error frame."""
        require(len(command) >= 1)
        code, params = command[0], command[1:]
        if code == p.Command.POWER_DOWN:
            return self._power_down(params)
        if code == p.Command.SET_SERIAL_BAUD_RATE:
            require(len(params) == 1 and params[0] < len(SERIAL_SPEEDS))
            return ChipReply(bytes([code + 1]), line_speed=SERIAL_SPEEDS[params[0]])
        if code in (TG_INIT_AS_TARGET, RF_REGULATION_TEST):
            return ChipReply(None)
        handler = self._handlers.get(code)
        if handler is None:
            raise ChipSyntaxError(f"command 0x{code:02X} is not offered")
        answer = handler(params)
        if answer[:1] and code in _STATUS_COMMANDS:
            self._last_error = answer[0] & 0x3F
        return ChipReply(bytes([code + 1]) + answer)

    def _command_table(self) -> dict[int, Callable[[bytes], bytes]]:
        c, init = p.Command, self.initiator
        table: dict[int, Callable[[bytes], bytes]] = {
            c.DIAGNOSE: self._diagnose, c.GET_FIRMWARE_VERSION: self._get_firmware_version,
            c.GET_GENERAL_STATUS: self._get_general_status, c.READ_REGISTER: self._read_register,
            c.WRITE_REGISTER: self._write_register, c.READ_GPIO: self._read_gpio, c.WRITE_GPIO: self._write_gpio,
            c.SET_PARAMETERS: self._set_parameters, c.SAM_CONFIGURATION: self._sam_configuration,
            c.RF_CONFIGURATION: self._rf_configuration,
            c.IN_LIST_PASSIVE_TARGET: init.in_list_passive_target, c.IN_AUTO_POLL: init.in_auto_poll,
            c.IN_DATA_EXCHANGE: init.in_data_exchange, c.IN_COMMUNICATE_THRU: init.in_communicate_thru,
            c.IN_SELECT: init.in_select, c.IN_DESELECT: init.in_deselect, c.IN_RELEASE: init.in_release,
            c.IN_JUMP_FOR_DEP: init.in_jump, c.IN_JUMP_FOR_PSL: init.in_jump,
            c.IN_ATR: init.in_dep_target_command, c.IN_PSL: init.in_dep_target_command,
            TG_GET_TARGET_STATUS: lambda params: b"\x00\x00",
        }
        for code in _TARGET_MODE_STATUS:
            table[code] = lambda params: b"\x27"
        return table

    # -- housekeeping --------------------------------------------------------------

    def _diagnose(self, params: bytes) -> bytes:
        require(len(params) >= 1)
        test = params[0]
        if test == 0x00:
            return params  # communication line test: NumTst and data echoed
        if test in _DIAGNOSE_OK:
            return b"\x00"
        if test == 0x06:
            return bytes([self.initiator.card_present()])
        raise ChipSyntaxError(f"Diagnose test 0x{test:02X} is not offered")

    def _get_firmware_version(self, params: bytes) -> bytes:
        require(not params)
        return self._firmware

    def _get_general_status(self, params: bytes) -> bytes:
        require(not params)
        return bytes([self._last_error, 0x00]) + self.initiator.general_status() + b"\x00"

    def _read_register(self, params: bytes) -> bytes:
        require(len(params) >= 2 and len(params) % 2 == 0)
        addresses = [params[i] << 8 | params[i + 1] for i in range(0, len(params), 2)]
        return bytes(self.registers.read(address) for address in addresses)

    def _write_register(self, params: bytes) -> bytes:
        require(len(params) >= 3 and len(params) % 3 == 0)
        for i in range(0, len(params), 3):
            self.registers.write(params[i] << 8 | params[i + 1], params[i + 2])
        return b""

    def _read_gpio(self, params: bytes) -> bytes:
        require(not params)
        return bytes([self.registers.read(SFR_P3), self.registers.read(SFR_P7), 0x00])

    def _write_gpio(self, params: bytes) -> bytes:
        require(len(params) == 2)
        for address, value in zip((SFR_P3, SFR_P7), params):
            if value & 0x80:
                self.registers.write(address, value & 0x7F)
        return b""

    def _set_parameters(self, params: bytes) -> bytes:
        require(len(params) == 1)
        self.settings.parameters = params[0]
        return b""

    def _sam_configuration(self, params: bytes) -> bytes:
        require(1 <= len(params) <= 3 and params[0] in set(p.SamMode))
        return b""

    def _rf_configuration(self, params: bytes) -> bytes:
        require(len(params) >= 2 and _RF_ITEM_LENGTHS.get(params[0]) == len(params) - 1)
        item, data = params[0], params[1:]
        if item == 0x01:
            if data[0] & 0x01:
                self.settings.field_on = True
            else:
                self.initiator.field_off()
        elif item == 0x04:
            self.settings.com_retries = data[0]
        elif item == 0x05:
            self.settings.passive_retries = data[2]
        return b""

    def _power_down(self, params: bytes) -> ChipReply:
        require(1 <= len(params) <= 2)
        self.initiator.field_off()
        return ChipReply(bytes([p.Command.POWER_DOWN + 1, 0x00]), sleep_wake_sources=params[0])


#: Commands whose first answer byte is a status (its low 6 bits become GetGeneralStatus's Err).
_STATUS_COMMANDS = frozenset({
    p.Command.IN_DATA_EXCHANGE, p.Command.IN_COMMUNICATE_THRU, p.Command.IN_SELECT,
    p.Command.IN_DESELECT, p.Command.IN_RELEASE, p.Command.IN_JUMP_FOR_DEP, p.Command.IN_JUMP_FOR_PSL,
    p.Command.IN_ATR, p.Command.IN_PSL,
})
