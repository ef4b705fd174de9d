"""What a result file holds (runs, parameters, scalars, statistics, vectors) and the errors of reading one."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from opp_ci.errors import UserError


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


class LineError(ValueError):
    """Raised by the line parsers; the readers add the file name and line number."""


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
class RunResults:
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
