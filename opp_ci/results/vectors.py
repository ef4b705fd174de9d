"""Reading .vec files: declarations from the .vci index when it is fresh, data on demand, one vector at a time."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from opp_ci.errors import UserError
from opp_ci.results.model import LineError, ResultFileError, RunResults, Vector, VectorBlock, VectorSample
from opp_ci.results.reader import ResultFileParser, numbered_lines
from opp_ci.results.tokens import parse_int, parse_number, split_line


@dataclass
class VectorFile:
    """The declarations of a .vec file; data is read on demand, one vector at a time."""

    path: Path
    run: RunResults
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


def _read_index(index_path: Path) -> tuple[RunResults, dict[int, Vector]]:
    parser = ResultFileParser(index_path)
    for line_number, line in numbered_lines(index_path):
        if line_number == 1:
            continue  # the `file` line, checked by _index_is_fresh
        try:
            tokens = split_line(line)
            if tokens and tokens[0][0].isdigit():
                _add_block(parser.vectors, tokens)
            elif tokens:
                _feed_header_line(parser, tokens)
        except LineError as error:
            raise ResultFileError(index_path, str(error), line_number) from None
    return _only_run(parser, index_path), parser.vectors


def _feed_header_line(parser: ResultFileParser, tokens: list[str]) -> None:
    if parser.feed(tokens) is not None:
        raise LineError("more than one run in a vector file is not supported")


def _add_block(vectors: dict[int, Vector], tokens: list[str]) -> None:
    """Parses `ID OFFSET LENGTH [FIRST_EVENT LAST_EVENT] FIRST_T LAST_T COUNT MIN MAX SUM SQRSUM`."""
    vector = vectors.get(parse_int(tokens[0]))
    if vector is None:
        raise LineError(f"index block for undeclared vector {tokens[0]}")
    with_events = "E" in vector.columns
    if len(tokens) != (12 if with_events else 10):
        raise LineError(f"index block line with {len(tokens)} fields for columns {vector.columns}")
    offset, length = parse_int(tokens[1]), parse_int(tokens[2])
    events = (parse_int(tokens[3]), parse_int(tokens[4])) if with_events else (None, None)
    rest = tokens[5:] if with_events else tokens[3:]
    first_time, last_time, count, low, high, total, sqrsum = rest
    vector.blocks.append(VectorBlock(
        offset, length, parse_int(count), parse_number(first_time), parse_number(last_time),
        parse_number(low), parse_number(high), parse_number(total), parse_number(sqrsum),
        first_event=events[0], last_event=events[1]))


def _only_run(parser: ResultFileParser, path: Path) -> RunResults:
    try:
        run = parser.finish()
    except LineError as error:
        raise ResultFileError(path, str(error)) from None
    if run is None:
        raise ResultFileError(path, "no 'run' line")
    return run


def _scan_vector_file(path: Path) -> tuple[RunResults, dict[int, Vector]]:
    parser = ResultFileParser(path)
    counts: dict[int, int] = {}
    for line_number, line in numbered_lines(path):
        try:
            if line[:1].isdigit():
                vector_id = parse_int(line.split(None, 1)[0])
                counts[vector_id] = counts.get(vector_id, 0) + 1
            elif tokens := split_line(line):
                _feed_header_line(parser, tokens)
        except LineError as error:
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
    for _, line in numbered_lines(path):
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
            event=parse_int(values["E"]) if "E" in values else None,
        )
    except LineError as error:
        raise ResultFileError(path, f"vector {vector.vector_id}: {error}") from None
