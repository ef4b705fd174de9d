"""Tokens and numbers of result file lines: OMNeT++'s double-quote and backslash quoting, `inf` and `nan`."""

from __future__ import annotations

import math

from opp_ci.results.model import LineError

CSV_PRECISION = 14
"""Significant digits of numbers in the CSV export; opp_scavetool's default `precision`."""

_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "\\": "\\", '"': '"'}


def split_line(line: str) -> list[str]:
    """Splits a result file line into tokens, undoing OMNeT++'s double-quote and backslash quoting."""
    if '"' not in line:
        return line.split()
    tokens: list[str] = []
    position = 0
    while position < len(line):
        if line[position] in " \t\r\n":
            position += 1
        elif line[position] == '"':
            token, position = _read_quoted(line, position + 1)
            tokens.append(token)
        else:
            end = position
            while end < len(line) and line[end] not in " \t\r\n":
                end += 1
            tokens.append(line[position:end])
            position = end
    return tokens


def _read_quoted(line: str, position: int) -> tuple[str, int]:
    """Reads a quoted token's body starting after its opening quote; returns it and the end position."""
    chars: list[str] = []
    while position < len(line):
        char = line[position]
        if char == '"':
            if position + 1 < len(line) and line[position + 1] not in " \t\r\n":
                raise LineError("text right after a closing quote")
            return "".join(chars), position + 1
        if char == "\\":
            escaped, position = _read_escape(line, position + 1)
            chars.append(escaped)
        else:
            chars.append(char)
            position += 1
    raise LineError("unterminated quoted string")


def _read_escape(line: str, position: int) -> tuple[str, int]:
    if position >= len(line):
        raise LineError("backslash at the end of the line")
    char = line[position]
    if char == "x":
        digits = line[position + 1 : position + 3]
        try:
            return chr(int(digits, 16)), position + 3
        except ValueError:
            raise LineError(f"bad escape \\x{digits}") from None
    return _ESCAPES.get(char, char), position + 1


def parse_number(text: str) -> float:
    """A number as OMNeT++ writes it: decimal or exponent notation, `inf`, `-inf`, `nan`."""
    try:
        return float(text)
    except ValueError:
        raise LineError(f"{text!r} is not a number") from None


def parse_int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise LineError(f"{text!r} is not an integer") from None


def format_number(value: float, precision: int = CSV_PRECISION) -> str:
    """Formats a number the way opp_scavetool's CSV export does (`%.14g`, `Inf`, `-Inf`, `NaN`)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Inf" if value > 0 else "-Inf"
    return f"{value:.{precision}g}"
