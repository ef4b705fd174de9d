"""Exporting scalars as opp_scavetool does (CSV), as JSON, or as a pandas DataFrame."""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Iterable
from typing import Any, TextIO

from opp_ci.errors import UserError
from opp_ci.results.model import RunResults, Statistic
from opp_ci.results.tokens import format_number


def itervar_names(runs: Iterable[RunResults]) -> list[str]:
    """The iteration variable names of all runs, sorted, as opp_scavetool orders its columns."""
    return sorted({name for run in runs for name in run.itervars})


def scalar_table(runs: list[RunResults]) -> tuple[list[str], list[list[str]]]:
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


def write_scalars_csv(runs: list[RunResults], out: TextIO) -> None:
    header, rows = scalar_table(runs)
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)


def _json_number(value: float) -> float | str:
    """JSON has no inf or nan: those become the strings "inf", "-inf", "nan"."""
    return value if math.isfinite(value) else str(value)


def run_to_dict(run: RunResults) -> dict[str, Any]:
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


def write_runs_json(runs: list[RunResults], out: TextIO) -> None:
    json.dump([run_to_dict(run) for run in runs], out, indent=2)
    out.write("\n")


def export_scalars(runs: list[RunResults], output_format: str) -> str:
    """The export of `runs` as text in `output_format` ("csv" or "json")."""
    writers = {"csv": write_scalars_csv, "json": write_runs_json}
    if output_format not in writers:
        raise UserError(f"unknown export format {output_format!r}; use csv or json")
    buffer = io.StringIO()
    writers[output_format](runs, buffer)
    return buffer.getvalue()


def to_dataframe(runs: list[RunResults]) -> Any:
    """The scalar table as a pandas DataFrame (needs the optional pandas dependency)."""
    try:
        import pandas
    except ImportError:
        raise UserError("to_dataframe needs pandas: pip install 'opp-ci[pandas]' (or pandas)") from None
    header, rows = scalar_table(runs)
    frame = pandas.DataFrame(rows, columns=header)
    frame["value"] = [scalar.value for run in runs for scalar in run.scalars]
    return frame
