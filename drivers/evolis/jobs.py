"""The print job streams of the two Evolis generations, as pure data.

A stream is a sequence of steps: a command (``ESC ... CR``), a panel
download, or text the printer skips (the vendor's tags). ``render`` turns
it into the bytes on the wire; the printer class sends it step by step.

* Primacy generation, as the vendor library writes it (``print_to_file``,
  libevolis 9.4): the header (session manager, time, claim, ribbon
  ``Pr;<type>;t``, resolution, settings), ``Ss``, ``Mr;s``, ``Sr``, the
  contrast and intensity settings, the panel downloads each followed by CR,
  ``Se``, and the tail ``Pcla;0`` that releases the claim. Tags and
  ``Psync`` markers frame each part. ``HEAD_END`` marks where the vendor
  stops to wait for the claim before it sends the tail.
* Rev E generation (Pebble, Dualys), as the field-proven open-source driver
  sends it: ``Pr;<ribbon>``, ``Pmi;F;s``, ``Pc;k;=;10``, ``Ss``, ``Sr``, the
  downloads, ``Se`` and 64 NULs of padding.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .protocol import encode_command, encode_download

#: The vendor's ribbon type codes (``evolis_ribbon_type_t``) for ``Pr;<code>;t``.
RIBBON_CODES = {"ymcko": 0, "ko": 1}
#: Contrast (``Pc``) and intensity (``Pl``) settings the vendor sends for a front face.
_FACE_SETTINGS = (("Pc", "a"), ("Pl", "a"), ("Pc", "k"), ("Pc", "o"), ("Pc", "l"), ("Pc", "f"), ("Pl", "f"))
_PIDA = ("99", "1", "1", "1")
_REV_E_PADDING = 64


@dataclass(frozen=True)
class Text:
    """Bytes between commands that the printer skips."""

    data: bytes


@dataclass(frozen=True)
class Cmd:
    mnemonic: str
    params: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return ";".join((self.mnemonic, *self.params))


@dataclass(frozen=True)
class Download:
    panel: str
    levels: int
    data: bytes = b""

    @property
    def name(self) -> str:
        return f"Db;{self.panel};{self.levels}"

    @property
    def wire_size(self) -> int:
        return len(encode_download(self.panel, self.levels, self.data))

    def __repr__(self) -> str:
        return f"Download({self.name}, {len(self.data)} bytes)"


Step = Text | Cmd | Download
#: Where the vendor stops to wait for the claim flag before the tail.
HEAD_END = Text(b"\x00")


def _cmd(text: str) -> Cmd:
    mnemonic, *params = text.split(";")
    return Cmd(mnemonic, tuple(params))


def _tagged(number: int, tag: str, opening: str = "1", closing: str = "0") -> list[Step]:
    return [_cmd(f"Psync;{number};{opening}"), Text(tag.encode("ascii")), _cmd(f"Psync;{number};{closing}")]


def primacy_job(ribbon: str, panels: Sequence[tuple[str, int, bytes]], now: int) -> list[Step]:
    """The vendor's stream for one front face on ``ribbon`` ("ymcko" or "ko"), ``now`` in unix seconds."""
    code = RIBBON_CODES[ribbon]
    steps: list[Step] = [_cmd("Psync;1;0"), Text(b"<HEADER>")]
    steps += [_cmd(c) for c in ("Psmgr;1", f"Ppws;{now}", "Pcla;1", "Ppmode;0", f"Pr;{code};t",
                                f"Pwres;300;300;{code}", "Psk;10", "Piqla;a;d", "Pmc;h", "Peoic;k;D", "Psync;2")]
    steps += [Text(b"</HEADER>"), _cmd("Psync;12;1"), Text(b"<OPTION Dpi=300x300>"), _cmd("Psync;13;0"),
              Text(b"</OPTION>")]
    steps += _tagged(3, "<DOC Duplex=0>") + _tagged(5, "<CARD>") + [_cmd("Ss"), _cmd("Mr;s")]
    steps += _tagged(9, "<FACE>") + [_cmd("Sr")]
    steps += [Cmd(mnemonic, (panel, "=", "10")) for mnemonic, panel in _FACE_SETTINGS]
    downloads = [Download(p, levels, data) for p, levels, data in panels]
    if any(d.panel in "ymc" for d in downloads):
        steps.append(Cmd("Pida", _PIDA))
    steps += _binary_groups(downloads)
    steps += _tagged(10, "</FACE>") + [_cmd("Se")] + _tagged(6, "</CARD>") + _tagged(4, "</DOC>")
    steps.append(HEAD_END)
    steps += [_cmd("Pcla;0")] + _tagged(11, "<END>")
    return steps


def _binary_groups(downloads: list[Download]) -> list[Step]:
    """Colour panels in one ``<BINARY>`` group, each other panel in its own, as the vendor groups them."""
    groups: list[list[Download]] = []
    colour = [d for d in downloads if d.panel in "ymc"]
    if colour:
        groups.append(colour)
    groups += [[d] for d in downloads if d.panel not in "ymc"]
    steps: list[Step] = []
    for group in groups:
        size = sum(d.wire_size for d in group)
        steps += [Text(f"<BINARY Size={size}>".encode("ascii")), *group, Text(b"</BINARY>")]
    return steps


def rev_e_job(ribbon: str, panels: Sequence[tuple[str, int, bytes]]) -> list[Step]:
    """The field-proven driver's stream for one front face."""
    steps: list[Step] = [Cmd("Pr", ("k" if ribbon == "ko" else ribbon,)), _cmd("Pmi;F;s"), _cmd("Pc;k;=;10"),
                         _cmd("Ss"), _cmd("Sr")]
    steps += [Download(p, levels, data) for p, levels, data in panels]
    return steps + [_cmd("Se"), Text(bytes(_REV_E_PADDING))]


def encode_step(step: Step) -> bytes:
    if isinstance(step, Text):
        return step.data
    if isinstance(step, Download):
        return encode_download(step.panel, step.levels, step.data)
    return encode_command(step.mnemonic, *step.params)


def render(steps: Iterable[Step]) -> bytes:
    """The stream's bytes on the wire."""
    return b"".join(encode_step(step) for step in steps)
