"""Reading OMNeT++ result files (.sca, .vec, .vci) and exporting their scalars.

The formats are line oriented: each line starts with a keyword (`run`, `attr`, `scalar`, ...) or,
in vector files, with a vector id. Tokens are separated by spaces or tabs; a token that contains
spaces or special characters is written in double quotes with backslash escapes.

Scalar files are small, so `read_runs` builds one `Run` at a time with all its results. Vector
files can be hundreds of megabytes: `read_vector_file` reads only the declarations (from the
.vci index when there is a fresh one), and `VectorFile.samples` seeks to one vector's blocks.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, TextIO

from opp_ci.errors import UserError

SUPPORTED_VERSIONS = ("2", "3")
"""Result file format versions: 2 is written by OMNeT++ 5.x, 3 by OMNeT++ 6.x."""

CSV_PRECISION = 14
"""Significant digits of numbers in the CSV export; opp_scavetool's default `precision`."""

_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "\\": "\\", '"': '"'}


class ResultFileError(UserError):
    """A result file that cannot be read: names the file and, for a malformed line, its number."""

    def __init__(self, path: Path | str, message: str, line_number: int | None = None) -> None:
        where = f"{path}:{line_number}" if line_number is not None else str(path)
        super().__init__(f"{where}: {message}")
        self.path = Path(path)
        self.line_number = line_number
        self.reason = message


@dataclass(frozen=True)
class ParseError:
    """A result file that could not be read, as a value: a report can show it (say, as a GitHub
    `::error file=...,line=...` annotation) and go on with the files that could be read."""

    path: Path
    reason: str
    line_number: int | None = None


class _LineError(ValueError):
    """Raised by the line parsers; the readers add the file name and line number."""


# --- data model ---


@dataclass
class Parameter:
    """A module parameter's value as the simulation saw it (`par` line), e.g. `exponential(2s)`."""

    module: str
    name: str
    value: str
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass
class Scalar:
    module: str
    name: str
    value: float
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass
class Histogram:
    """Bins as (lower edge, count); a bin reaches up to the next bin's lower edge."""

    bins: list[tuple[float, float]] = field(default_factory=list)

    @property
    def lower_edges(self) -> list[float]:
        return [edge for edge, _ in self.bins]

    @property
    def counts(self) -> list[float]:
        return [count for _, count in self.bins]


@dataclass
class Statistic:
    """A `statistic` block: summary fields (count, mean, stddev, min, max, sum, sqrsum, ...)."""

    module: str
    name: str
    fields: dict[str, float] = field(default_factory=dict)
    attributes: dict[str, str] = field(default_factory=dict)
    histogram: Histogram | None = None

    @property
    def count(self) -> float:
        return self.fields.get("count", math.nan)

    @property
    def mean(self) -> float:
        return self.fields.get("mean", math.nan)


@dataclass
class Run:
    """One simulation run as recorded in a result file."""

    run_id: str
    file: Path
    attributes: dict[str, str] = field(default_factory=dict)
    itervars: dict[str, str] = field(default_factory=dict)
    config: list[tuple[str, str]] = field(default_factory=list)
    parameters: list[Parameter] = field(default_factory=list)
    scalars: list[Scalar] = field(default_factory=list)
    statistics: list[Statistic] = field(default_factory=list)

    @property
    def config_name(self) -> str:
        return self.attributes.get("configname", "")

    @property
    def repetition(self) -> str:
        return self.attributes.get("repetition", "")

    @property
    def run_number(self) -> int | None:
        number = self.attributes.get("runnumber")
        return int(number) if number is not None and number.isdigit() else None


@dataclass
class VectorBlock:
    """One .vci index line: where a run of a vector's data lines is in the .vec file."""

    offset: int
    length: int
    count: int
    first_time: float
    last_time: float
    min: float
    max: float
    sum: float
    sqrsum: float
    first_event: int | None = None
    last_event: int | None = None


@dataclass
class Vector:
    """A vector declaration; `columns` tells what its data lines hold (E event, T time, V value)."""

    vector_id: int
    module: str
    name: str
    columns: str = "TV"
    attributes: dict[str, str] = field(default_factory=dict)
    blocks: list[VectorBlock] = field(default_factory=list)
    scanned_count: int | None = None

    @property
    def count(self) -> int:
        """Number of data points: from the index blocks, or counted when the .vec was scanned."""
        if self.scanned_count is not None:
            return self.scanned_count
        return sum(block.count for block in self.blocks)


class VectorSample(NamedTuple):
    time: float
    value: float
    event: int | None = None


# --- tokens and numbers ---


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
                raise _LineError("text right after a closing quote")
            return "".join(chars), position + 1
        if char == "\\":
            escaped, position = _read_escape(line, position + 1)
            chars.append(escaped)
        else:
            chars.append(char)
            position += 1
    raise _LineError("unterminated quoted string")


def _read_escape(line: str, position: int) -> tuple[str, int]:
    if position >= len(line):
        raise _LineError("backslash at the end of the line")
    char = line[position]
    if char == "x":
        digits = line[position + 1 : position + 3]
        try:
            return chr(int(digits, 16)), position + 3
        except ValueError:
            raise _LineError(f"bad escape \\x{digits}") from None
    return _ESCAPES.get(char, char), position + 1


def parse_number(text: str) -> float:
    """A number as OMNeT++ writes it: decimal or exponent notation, `inf`, `-inf`, `nan`."""
    try:
        return float(text)
    except ValueError:
        raise _LineError(f"{text!r} is not a number") from None


def _parse_int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise _LineError(f"{text!r} is not an integer") from None


def format_number(value: float, precision: int = CSV_PRECISION) -> str:
    """Formats a number the way opp_scavetool's CSV export does (`%.14g`, `Inf`, `-Inf`, `NaN`)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Inf" if value > 0 else "-Inf"
    return f"{value:.{precision}g}"


# --- reading the run header and results (shared by .sca, .vec and .vci) ---


def _expect_fields(tokens: list[str], usage: str) -> None:
    expected = len(usage.split())
    if len(tokens) != expected:
        raise _LineError(f"expected '{usage}', got {len(tokens)} fields")


class _ResultFileParser:
    """Turns the lines of one result file into runs; the caller feeds it tokens line by line."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.version: str | None = None
        self.run: Run | None = None
        self.item: Any = None  # what an `attr` line belongs to: the run or the last result
        self.statistic: Statistic | None = None
        self.vectors: dict[int, Vector] = {}

    def feed(self, tokens: list[str]) -> Run | None:
        """Handles one line; returns the previous run when this line starts a new one."""
        kind = tokens[0]
        if kind == "version":
            return self._version(tokens)
        if self.version is None:
            raise _LineError(f"expected 'version' before '{kind}': not an OMNeT++ result file?")
        if kind == "run":
            return self._start_run(tokens)
        handler = self._HANDLERS.get(kind)
        if handler is None:
            raise _LineError(f"unknown line kind {kind!r}")
        if self.run is None:
            raise _LineError(f"'{kind}' line before any 'run' line")
        handler(self, tokens)
        return None

    def finish(self) -> Run | None:
        if self.version is None:
            raise _LineError("empty file: no 'version' line")
        return self.run

    def _version(self, tokens: list[str]) -> None:
        _expect_fields(tokens, "version N")
        if tokens[1] not in SUPPORTED_VERSIONS:
            raise _LineError(f"result file version {tokens[1]} is not supported (only 2 and 3)")
        self.version = tokens[1]

    def _start_run(self, tokens: list[str]) -> Run | None:
        _expect_fields(tokens, "run RUN_ID")
        finished = self.run
        self.run = self.item = Run(run_id=tokens[1], file=self.path)
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
            raise _LineError(f"'{kind}' line outside a 'statistic' block")
        return self.statistic

    def _vector(self, tokens: list[str]) -> None:
        if len(tokens) not in (4, 5):
            raise _LineError(f"expected 'vector ID MODULE NAME [COLUMNS]', got {len(tokens)} fields")
        columns = tokens[4] if len(tokens) == 5 else "TV"
        if not set(columns) <= set("ETV") or "V" not in columns:
            raise _LineError(f"unknown vector columns {columns!r}")
        vector_id = _parse_int(tokens[1])
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


def _numbered_lines(path: Path) -> Iterator[tuple[int, str]]:
    try:
        with open(path, encoding="utf-8", errors="surrogateescape", newline="") as lines:
            yield from enumerate(lines, start=1)
    except OSError as error:
        raise ResultFileError(path, f"cannot read: {error.strerror}") from None


def read_runs(path: Path | str) -> Iterator[Run]:
    """Yields the runs of a .sca file one at a time, each with its parameters and results."""
    path = Path(path)
    parser = _ResultFileParser(path)
    for line_number, line in _numbered_lines(path):
        try:
            tokens = split_line(line)
            finished = parser.feed(tokens) if tokens else None
        except _LineError as error:
            raise ResultFileError(path, str(error), line_number) from None
        if finished is not None:
            yield finished
    try:
        last = parser.finish()
    except _LineError as error:
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


def read_all_runs(paths: Iterable[Path | str]) -> Iterator[Run]:
    """The runs of every .sca file named or found under the directories named."""
    for path in find_scalar_files(paths):
        yield from read_runs(path)


def read_runs_and_errors(paths: Iterable[Path | str]) -> tuple[list[Run], list[ParseError]]:
    """Like `read_all_runs`, but a broken file becomes a `ParseError` instead of stopping the reading.

    A broken file contributes no runs, not even those before its broken line.
    """
    runs: list[Run] = []
    errors: list[ParseError] = []
    for path in find_scalar_files(paths):
        try:
            runs.extend(list(read_runs(path)))
        except ResultFileError as error:
            errors.append(ParseError(error.path, error.reason, error.line_number))
    return runs, errors


# --- vector files ---


@dataclass
class VectorFile:
    """The declarations of a .vec file; data is read on demand, one vector at a time."""

    path: Path
    run: Run
    vectors: dict[int, Vector]
    indexed: bool

    def samples(self, vector_id: int) -> Iterator[VectorSample]:
        """The data points of one vector, in file order; seeks to its blocks when indexed."""
        vector = self.vectors.get(vector_id)
        if vector is None:
            raise UserError(f"{self.path}: no vector with id {vector_id}")
        if self.indexed:
            return _indexed_samples(self.path, vector)
        return _scanned_samples(self.path, vector)

    def find(self, module: str, name: str) -> Vector:
        for vector in self.vectors.values():
            if vector.module == module and vector.name == name:
                return vector
        raise UserError(f"{self.path}: no vector {name!r} of module {module!r}")


def read_vector_file(path: Path | str) -> VectorFile:
    """Reads a .vec file's run and vector declarations, from its .vci index when that is fresh.

    Without a fresh index the .vec is scanned once (without keeping data) to find the declarations
    and count the data lines.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    index_path = path.with_suffix(".vci")
    if index_path.is_file() and _index_is_fresh(index_path, path):
        run, vectors = _read_index(index_path)
        return VectorFile(path, run, vectors, indexed=True)
    run, vectors = _scan_vector_file(path)
    return VectorFile(path, run, vectors, indexed=False)


def _index_is_fresh(index_path: Path, vector_path: Path) -> bool:
    """The index's `file SIZE MTIME` line must name the .vec file's current size."""
    with open(index_path, encoding="utf-8", errors="surrogateescape") as index:
        first = index.readline().split()
    if len(first) < 2 or first[0] != "file":
        raise ResultFileError(index_path, "expected 'file SIZE MTIME' as the first line", 1)
    return first[1] == str(vector_path.stat().st_size)


def _read_index(index_path: Path) -> tuple[Run, dict[int, Vector]]:
    parser = _ResultFileParser(index_path)
    for line_number, line in _numbered_lines(index_path):
        if line_number == 1:
            continue  # the `file` line, checked by _index_is_fresh
        try:
            tokens = split_line(line)
            if tokens and tokens[0][0].isdigit():
                _add_block(parser.vectors, tokens)
            elif tokens:
                _feed_header_line(parser, tokens)
        except _LineError as error:
            raise ResultFileError(index_path, str(error), line_number) from None
    return _only_run(parser, index_path), parser.vectors


def _feed_header_line(parser: _ResultFileParser, tokens: list[str]) -> None:
    if parser.feed(tokens) is not None:
        raise _LineError("more than one run in a vector file is not supported")


def _add_block(vectors: dict[int, Vector], tokens: list[str]) -> None:
    """Parses `ID OFFSET LENGTH [FIRST_EVENT LAST_EVENT] FIRST_T LAST_T COUNT MIN MAX SUM SQRSUM`."""
    vector = vectors.get(_parse_int(tokens[0]))
    if vector is None:
        raise _LineError(f"index block for undeclared vector {tokens[0]}")
    with_events = "E" in vector.columns
    if len(tokens) != (12 if with_events else 10):
        raise _LineError(f"index block line with {len(tokens)} fields for columns {vector.columns}")
    offset, length = _parse_int(tokens[1]), _parse_int(tokens[2])
    events = (_parse_int(tokens[3]), _parse_int(tokens[4])) if with_events else (None, None)
    rest = tokens[5:] if with_events else tokens[3:]
    first_time, last_time, count, low, high, total, sqrsum = rest
    vector.blocks.append(VectorBlock(
        offset, length, _parse_int(count), parse_number(first_time), parse_number(last_time),
        parse_number(low), parse_number(high), parse_number(total), parse_number(sqrsum),
        first_event=events[0], last_event=events[1]))


def _only_run(parser: _ResultFileParser, path: Path) -> Run:
    try:
        run = parser.finish()
    except _LineError as error:
        raise ResultFileError(path, str(error)) from None
    if run is None:
        raise ResultFileError(path, "no 'run' line")
    return run


def _scan_vector_file(path: Path) -> tuple[Run, dict[int, Vector]]:
    parser = _ResultFileParser(path)
    counts: dict[int, int] = {}
    for line_number, line in _numbered_lines(path):
        try:
            if line[:1].isdigit():
                vector_id = _parse_int(line.split(None, 1)[0])
                counts[vector_id] = counts.get(vector_id, 0) + 1
            elif tokens := split_line(line):
                _feed_header_line(parser, tokens)
        except _LineError as error:
            raise ResultFileError(path, str(error), line_number) from None
    for vector_id, vector in parser.vectors.items():
        vector.scanned_count = counts.get(vector_id, 0)
    undeclared = sorted(set(counts) - set(parser.vectors))
    if undeclared:
        raise ResultFileError(path, f"data for undeclared vector {undeclared[0]}")
    return _only_run(parser, path), parser.vectors


def _indexed_samples(path: Path, vector: Vector) -> Iterator[VectorSample]:
    with open(path, "rb") as data:
        for block in vector.blocks:
            data.seek(block.offset)
            text = data.read(block.length).decode("utf-8", errors="surrogateescape")
            for line in text.splitlines():
                if line:
                    yield _parse_sample(line, vector, path)


def _scanned_samples(path: Path, vector: Vector) -> Iterator[VectorSample]:
    prefix = f"{vector.vector_id}\t"
    for _, line in _numbered_lines(path):
        if line.startswith(prefix) or line.startswith(f"{vector.vector_id} "):
            yield _parse_sample(line, vector, path)


def _parse_sample(line: str, vector: Vector, path: Path) -> VectorSample:
    tokens = line.split()
    if len(tokens) != len(vector.columns) + 1 or tokens[0] != str(vector.vector_id):
        raise ResultFileError(path, f"bad data line for vector {vector.vector_id} (stale .vci index?): "
                                    f"{line.strip()[:80]!r}")
    values = dict(zip(vector.columns, tokens[1:], strict=True))
    try:
        return VectorSample(
            time=parse_number(values.get("T", "nan")),
            value=parse_number(values["V"]),
            event=_parse_int(values["E"]) if "E" in values else None,
        )
    except _LineError as error:
        raise ResultFileError(path, f"vector {vector.vector_id}: {error}") from None


# --- export ---


def itervar_names(runs: Iterable[Run]) -> list[str]:
    """The iteration variable names of all runs, sorted, as opp_scavetool orders its columns."""
    return sorted({name for run in runs for name in run.itervars})


def scalar_table(runs: list[Run]) -> tuple[list[str], list[list[str]]]:
    """The scalars as `opp_scavetool export -T s -F CSV-S` lays them out: header and rows.

    Columns: run, the iteration variables (sorted), repetition, module, name, value. Statistic
    fields (`:histogram` count, mean, ...) are not scalars and are left out, as scavetool does.
    """
    names = itervar_names(runs)
    header = ["run", *names, "repetition", "module", "name", "value"]
    rows = [
        [run.run_id, *(run.itervars.get(name, "") for name in names), run.repetition,
         scalar.module, scalar.name, format_number(scalar.value)]
        for run in runs
        for scalar in run.scalars
    ]
    return header, rows


def write_scalars_csv(runs: list[Run], out: TextIO) -> None:
    header, rows = scalar_table(runs)
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)


def _json_number(value: float) -> float | str:
    """JSON has no inf or nan: those become the strings "inf", "-inf", "nan"."""
    return value if math.isfinite(value) else str(value)


def run_to_dict(run: Run) -> dict[str, Any]:
    return {
        "run": run.run_id,
        "file": os.fspath(run.file),
        "attributes": run.attributes,
        "itervars": run.itervars,
        "scalars": [
            {"module": s.module, "name": s.name, "value": _json_number(s.value), "attributes": s.attributes}
            for s in run.scalars
        ],
        "statistics": [_statistic_to_dict(s) for s in run.statistics],
    }


def _statistic_to_dict(statistic: Statistic) -> dict[str, Any]:
    result: dict[str, Any] = {
        "module": statistic.module,
        "name": statistic.name,
        "fields": {name: _json_number(value) for name, value in statistic.fields.items()},
        "attributes": statistic.attributes,
    }
    if statistic.histogram is not None:
        bins = statistic.histogram.bins
        result["bins"] = [[_json_number(edge), _json_number(count)] for edge, count in bins]
    return result


def write_runs_json(runs: list[Run], out: TextIO) -> None:
    json.dump([run_to_dict(run) for run in runs], out, indent=2)
    out.write("\n")


def export_scalars(runs: list[Run], output_format: str) -> str:
    """The export of `runs` as text in `output_format` ("csv" or "json")."""
    writers = {"csv": write_scalars_csv, "json": write_runs_json}
    if output_format not in writers:
        raise UserError(f"unknown export format {output_format!r}; use csv or json")
    buffer = io.StringIO()
    writers[output_format](runs, buffer)
    return buffer.getvalue()


def to_dataframe(runs: list[Run]) -> Any:
    """The scalar table as a pandas DataFrame (needs the optional pandas dependency)."""
    try:
        import pandas
    except ImportError:
        raise UserError("to_dataframe needs pandas: pip install 'opp-ci[pandas]' (or pandas)") from None
    header, rows = scalar_table(runs)
    frame = pandas.DataFrame(rows, columns=header)
    frame["value"] = [scalar.value for run in runs for scalar in run.scalars]
    return frame
