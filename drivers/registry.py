"""Devices by URI: ``open_printer("serial:///dev/ttyUSB0?baud=115200")``.

The URI forms, each scheme's options and the module that opens it are in
``drivers.uri``; a scheme's module is imported only when the scheme is used.
"""
from __future__ import annotations

from typing import cast

from .interfaces import Printer, Reader
from .uri import Role, check_options, load_opener, parse_uri


def open_printer(uri: str) -> Printer:
    parsed = parse_uri(uri)
    check_options(parsed, Role.PRINTER)
    return cast(Printer, load_opener(parsed, Role.PRINTER)(parsed))


def open_reader(uri: str) -> Reader:
    parsed = parse_uri(uri)
    check_options(parsed, Role.READER)
    return cast(Reader, load_opener(parsed, Role.READER)(parsed))
