"""Reading .sca files: the run header and results, shared with the .vec and .vci readers."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from opp_ci.errors import UserError
from opp_ci.results.model import (
    Histogram,
    LineError,
    Parameter,
    ParseError,
    ResultFileError,
    RunResults,
    Scalar,
    Statistic,
    Vector,
)
from opp_ci.results.tokens import parse_int, parse_number, split_line

SUPPORTED_VERSIONS = ("2", "3")
"""Result file format versions: 2 is written by OMNeT++ 5.x, 3 by OMNeT++ 6.x."""


def _expect_fields(tokens: list[str], usage: str) -> None:
    expected = len(usage.split())
    if len(tokens) != expected:
        raise LineError(f"expected '{usage}', got {len(tokens)} fields")


class ResultFileParser:
    """Turns the lines of one result file into runs; the caller feeds it tokens line by line."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.version: str | None = None
        self.run: RunResults | None = None
        self.item: Any = None  # what an `attr` line belongs to: the run or the last result
        self.statistic: Statistic | None = None
        self.vectors: dict[int, Vector] = {}

    def feed(self, tokens: list[str]) -> RunResults | None:
        """Handles one line; returns the previous run when this line starts a new one."""
        kind = tokens[0]
        if kind == "version":
            return self._version(tokens)
        if self.version is None:
            raise LineError(f"expected 'version' before '{kind}': not an OMNeT++ result file?")
        if kind == "run":
            return self._start_run(tokens)
        handler = self._HANDLERS.get(kind)
        if handler is None:
            raise LineError(f"unknown line kind {kind!r}")
        if self.run is None:
            raise LineError(f"'{kind}' line before any 'run' line")
        handler(self, tokens)
        return None

    def finish(self) -> RunResults | None:
        if self.version is None:
            raise LineError("empty file: no 'version' line")
        return self.run

    def _version(self, tokens: list[str]) -> None:
        _expect_fields(tokens, "version N")
        if tokens[1] not in SUPPORTED_VERSIONS:
            raise LineError(f"result file version {tokens[1]} is not supported (only 2 and 3)")
        self.version = tokens[1]

    def _start_run(self, tokens: list[str]) -> RunResults | None:
        _expect_fields(tokens, "run RUN_ID")
        finished = self.run
        self.run = self.item = RunResults(run_id=tokens[1], file=self.path)
        self.statistic = None
        return finished

    def _attr(self, tokens: list[str]) -> None:
        _expect_fields(tokens, "attr NAME VALUE")
        self.item.attributes[tokens[1]] = tokens[2]

    def _itervar(self, tokens: list[str]) -> None:
        _expect_fields(tokens, "itervar NAME VALUE")
        self.run.itervars[tokens[1]] = tokens[2]

    def _config(self, tokens: list[str]) -> None:
        _expect_fields(tokens, f"{tokens[0]} KEY VALUE")
        self.run.config.append((tokens[1], tokens[2]))

    def _par(self, tokens: list[str]) -> None:
        _expect_fields(tokens, "par MODULE NAME VALUE")
        self.item = Parameter(tokens[1], tokens[2], tokens[3])
        self.run.parameters.append(self.item)

    def _scalar(self, tokens: list[str]) -> None:
        _expect_fields(tokens, "scalar MODULE NAME VALUE")
        self.item = Scalar(tokens[1], tokens[2], parse_number(tokens[3]))
        self.run.scalars.append(self.item)

    def _statistic(self, tokens: list[str]) -> None:
        _expect_fields(tokens, "statistic MODULE NAME")
        self.item = self.statistic = Statistic(tokens[1], tokens[2])
        self.run.statistics.append(self.statistic)

    def _field(self, tokens: list[str]) -> None:
        _expect_fields(tokens, "field NAME VALUE")
        self._current_statistic("field").fields[tokens[1]] = parse_number(tokens[2])

    def _bin(self, tokens: list[str]) -> None:
        _expect_fields(tokens, "bin LOWER_EDGE COUNT")
        statistic = self._current_statistic("bin")
        if statistic.histogram is None:
            statistic.histogram = Histogram()
        statistic.histogram.bins.append((parse_number(tokens[1]), parse_number(tokens[2])))

    def _current_statistic(self, kind: str) -> Statistic:
        if self.statistic is None or self.item is not self.statistic:
            raise LineError(f"'{kind}' line outside a 'statistic' block")
        return self.statistic

    def _vector(self, tokens: list[str]) -> None:
        if len(tokens) not in (4, 5):
            raise LineError(f"expected 'vector ID MODULE NAME [COLUMNS]', got {len(tokens)} fields")
        columns = tokens[4] if len(tokens) == 5 else "TV"
        if not set(columns) <= set("ETV") or "V" not in columns:
            raise LineError(f"unknown vector columns {columns!r}")
        vector_id = parse_int(tokens[1])
        self.item = Vector(vector_id, tokens[2], tokens[3], columns)
        self.vectors[vector_id] = self.item

    _HANDLERS = {  # noqa: RUF012 - a constant dispatch table
        "attr": _attr,
        "itervar": _itervar,
        "config": _config,
        "param": _config,  # version 2 wrote configuration entries as `param`
        "par": _par,
        "scalar": _scalar,
        "statistic": _statistic,
        "field": _field,
        "bin": _bin,
        "vector": _vector,
    }


def numbered_lines(path: Path) -> Iterator[tuple[int, str]]:
    try:
        with open(path, encoding="utf-8", errors="surrogateescape", newline="") as lines:
            yield from enumerate(lines, start=1)
    except OSError as error:
        raise ResultFileError(path, f"cannot read: {error.strerror}") from None


def read_runs(path: Path | str) -> Iterator[RunResults]:
    """Yields the runs of a .sca file one at a time, each with its parameters and results."""
    path = Path(path)
    parser = ResultFileParser(path)
    for line_number, line in numbered_lines(path):
        try:
            tokens = split_line(line)
            finished = parser.feed(tokens) if tokens else None
        except LineError as error:
            raise ResultFileError(path, str(error), line_number) from None
        if finished is not None:
            yield finished
    try:
        last = parser.finish()
    except LineError as error:
        raise ResultFileError(path, str(error)) from None
    if last is not None:
        yield last


def find_scalar_files(paths: Iterable[Path | str]) -> list[Path]:
    """The .sca files named, and those found recursively under the directories named, sorted."""
    found: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            in_directory = sorted(path.rglob("*.sca"))
            if not in_directory:
                raise UserError(f"{path}: no .sca files in this directory or below")
            found.extend(in_directory)
        elif path.suffix in (".vec", ".vci"):
            raise UserError(f"{path}: a vector file; give the .sca files (or their directory)")
        elif path.is_file():
            found.append(path)
        else:
            raise UserError(f"{path}: no such file or directory")
    return found


def read_all_runs(paths: Iterable[Path | str]) -> Iterator[RunResults]:
    """The runs of every .sca file named or found under the directories named."""
    for path in find_scalar_files(paths):
        yield from read_runs(path)


def read_runs_and_errors(paths: Iterable[Path | str]) -> tuple[list[RunResults], list[ParseError]]:
    """Like `read_all_runs`, but a broken file becomes a `ParseError` instead of stopping the reading.

    A broken file contributes no runs, not even those before its broken line.
    """
    runs: list[RunResults] = []
    errors: list[ParseError] = []
    for path in find_scalar_files(paths):
        try:
            runs.extend(list(read_runs(path)))
        except ResultFileError as error:
            errors.append(ParseError(error.path, error.reason, error.line_number))
    return runs, errors
