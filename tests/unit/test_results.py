"""The result file reader and `opp-ci export`, on the real OMNeT++ 6.1 files and on small broken ones."""

from __future__ import annotations

import csv
import json
import math
import shutil
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from opp_ci.cli import cli
from opp_ci.errors import UserError
from opp_ci.results.export import export_scalars, scalar_table, to_dataframe
from opp_ci.results.model import ParseError, ResultFileError
from opp_ci.results.reader import find_scalar_files, read_all_runs, read_runs, read_runs_and_errors
from opp_ci.results.tokens import format_number, split_line
from opp_ci.results.vectors import read_vector_file

REFERENCE = Path(__file__).resolve().parents[1] / "data" / "omnetpp-reference" / "results"
SCA_FILES = sorted(REFERENCE.glob("*.sca"))
VEC_FILES = sorted(REFERENCE.glob("*.vec"))
CSV_FILES = sorted(REFERENCE.glob("*.scalars.csv"))


def test_the_reference_files_are_here():
    """The parametrized tests below would be skipped, not failed, on an empty list."""
    assert SCA_FILES and VEC_FILES and CSV_FILES


def _lines_starting(path: Path, keyword: str) -> list[list[str]]:
    with open(path) as lines:
        return [line.split() for line in lines if line.startswith(keyword + " ")]


def _write(tmp_path: Path, text: str, name: str = "broken.sca") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


HEADER = "version 3\nrun General-0-20260101-00:00:00-1\nattr configname General\nattr repetition 0\n"


# --- real files ---


@pytest.mark.parametrize("sca", SCA_FILES, ids=lambda p: p.name)
def test_every_reference_sca_file_parses_completely(sca: Path) -> None:
    (run,) = list(read_runs(sca))
    scalar_lines = _lines_starting(sca, "scalar")
    assert [(s.module, s.name) for s in run.scalars] == [(t[1], t[2]) for t in scalar_lines]
    assert [s.value for s in run.scalars] == [float(t[3]) for t in scalar_lines]
    assert len(run.statistics) == len(_lines_starting(sca, "statistic"))
    assert len(run.parameters) == len(_lines_starting(sca, "par"))
    assert len(run.config) == len(_lines_starting(sca, "config"))
    assert run.itervars == {t[1]: t[2] for t in _lines_starting(sca, "itervar")}
    assert run.run_id == _lines_starting(sca, "run")[0][1]


@pytest.mark.parametrize("reference_csv", CSV_FILES, ids=lambda p: p.name)
def test_scalar_table_matches_scavetool_row_by_row(reference_csv: Path) -> None:
    sca = reference_csv.with_name(reference_csv.name.removesuffix(".scalars.csv") + ".sca")
    with open(reference_csv, newline="") as f:
        expected_header, *expected_rows = list(csv.reader(f))
    header, rows = scalar_table(list(read_runs(sca)))
    assert header == expected_header
    assert len(rows) == len(expected_rows)
    for row, expected in zip(rows, expected_rows, strict=True):
        assert row[:-1] == expected[:-1]
        assert float(row[-1]) == float(expected[-1])
        assert row[-1] == expected[-1]  # the same text, not only the same number


@pytest.mark.parametrize("reference_csv", CSV_FILES, ids=lambda p: p.name)
def test_csv_export_is_byte_identical_to_scavetool(reference_csv: Path) -> None:
    sca = reference_csv.with_name(reference_csv.name.removesuffix(".scalars.csv") + ".sca")
    assert export_scalars(list(read_runs(sca)), "csv") == reference_csv.read_text()


def test_run_header_attributes_parameters_and_statistics() -> None:
    (run,) = read_runs(REFERENCE / "PureAlohaExperiment-numHosts=10,iaMean=2-#1.sca")
    assert run.config_name == "PureAlohaExperiment"
    assert (run.repetition, run.run_number) == ("1", 3)
    assert run.attributes["iterationvars"] == "$numHosts=10, $iaMean=2"  # quoted in the file
    assert list(run.itervars) == ["iaMean", "numHosts"]
    assert run.config.count(("Aloha.numHosts", "20")) == 1 and ("Aloha.numHosts", "10") in run.config
    server_type = run.parameters[0]
    assert (server_type.module, server_type.name) == ("Aloha.server", "typename")
    assert server_type.value == '"Server"'  # a NED string expression, quotes included
    assert run.parameters[1].attributes == {"unit": "m"}
    histogram = run.statistics[0]
    assert histogram.name == "collisionLength:histogram"
    assert (histogram.count, histogram.mean) == (669, 0.17119726010731)
    assert histogram.attributes["title"] == "collision length"
    assert histogram.histogram.bins[0] == (-math.inf, 0)
    assert sum(histogram.histogram.counts) == 669
    assert run.scalars[1].attributes == {"recordingmode": "mean", "title": "collision length, mean"}


def _data_lines(vec: Path) -> dict[int, list[list[str]]]:
    by_id: dict[int, list[list[str]]] = {}
    with open(vec) as lines:
        for line in lines:
            if line[:1].isdigit():
                fields = line.split()
                by_id.setdefault(int(fields[0]), []).append(fields)
    return by_id


@pytest.mark.parametrize("vec", VEC_FILES, ids=lambda p: p.name)
def test_vector_index_agrees_with_the_data_lines(vec: Path) -> None:
    vector_file = read_vector_file(vec)
    data = _data_lines(vec)
    assert vector_file.indexed
    assert sorted(vector_file.vectors) == [int(t[1]) for t in _lines_starting(vec, "vector")]
    for vector_id, vector in vector_file.vectors.items():
        samples = list(vector_file.samples(vector_id))
        assert vector.count == len(samples) == len(data[vector_id])
        first, last = data[vector_id][0], data[vector_id][-1]
        assert (samples[0].event, samples[0].time, samples[0].value) == (int(first[1]), float(first[2]),
                                                                         float(first[3]))
        assert (samples[-1].event, samples[-1].time, samples[-1].value) == (int(last[1]), float(last[2]),
                                                                            float(last[3]))
        assert vector.blocks[0].max == max(s.value for s in samples)


def test_vector_declarations_carry_their_attributes() -> None:
    vector_file = read_vector_file(REFERENCE / "TandemQueueExperiment-serviceTimeMean=1.5s-#1.vec")
    vector = vector_file.find("TandemQueues.fifo1", "queueingTime:vector")
    assert (vector.vector_id, vector.columns, vector.count) == (1, "ETV", 105)
    assert vector.attributes == {"interpolationmode": "none", "recordingmode": "vector",
                                 "title": "queueing time", "unit": "s"}
    assert vector_file.run.itervars == {"serviceTimeMean": "1.5s"}


def test_vector_file_without_index_is_scanned(tmp_path: Path) -> None:
    vec = VEC_FILES[0]
    copy = shutil.copy(vec, tmp_path / "copy.vec")
    unindexed, indexed = read_vector_file(copy), read_vector_file(vec)
    assert not unindexed.indexed
    counts = {i: v.count for i, v in indexed.vectors.items()}
    assert {i: v.count for i, v in unindexed.vectors.items()} == counts
    assert list(unindexed.samples(3)) == list(indexed.samples(3))


def test_indexed_read_touches_only_the_blocks_of_its_vector(tmp_path: Path) -> None:
    vec = VEC_FILES[0]
    copy = Path(shutil.copy(vec, tmp_path / "partly-garbage.vec"))
    shutil.copy(vec.with_suffix(".vci"), tmp_path / "partly-garbage.vci")
    vector_file = read_vector_file(copy)
    (block,) = vector_file.vectors[0].blocks
    with open(copy, "r+b") as f:  # overwrite vector 0's data, keeping the file size
        f.seek(block.offset)
        f.write(b"x" * block.length)
    assert len(list(vector_file.samples(1))) == vector_file.vectors[1].count
    with pytest.raises(ResultFileError, match="bad data line for vector 0"):
        list(vector_file.samples(0))


def test_stale_index_is_not_trusted(tmp_path: Path) -> None:
    vec = VEC_FILES[0]
    copy = Path(shutil.copy(vec, tmp_path / "stale.vec"))
    shutil.copy(vec.with_suffix(".vci"), tmp_path / "stale.vci")
    with open(copy, "a") as f:
        f.write("0\t99999\t1000\t1\n")
    vector_file = read_vector_file(copy)
    assert not vector_file.indexed
    assert list(vector_file.samples(0))[-1].event == 99999


# --- quoting, numbers ---


@pytest.mark.parametrize(("line", "tokens"), [
    ("scalar Net.host duration 600", ["scalar", "Net.host", "duration", "600"]),
    ("bin\t-inf\t0", ["bin", "-inf", "0"]),
    ('attr title "collision length"', ["attr", "title", "collision length"]),
    ('attr iterationvars ""', ["attr", "iterationvars", ""]),
    (r'par Net typename "\"Server\""', ["par", "Net", "typename", '"Server"']),
    (r'attr s "a\\b\tc\nd\x41"', ["attr", "s", "a\\b\tc\ndA"]),
    ('attr  x   "two  spaces"  \n', ["attr", "x", "two  spaces"]),
])
def test_split_line_undoes_omnetpp_quoting(line: str, tokens: list[str]) -> None:
    assert split_line(line) == tokens


@pytest.mark.parametrize(("value", "text"), [
    (600.0, "600"), (0.17119726010731, "0.17119726010731"), (1e-06, "1e-06"), (0.1 + 0.2, "0.3"),
    (123456789012345678.0, "1.2345678901235e+17"), (math.inf, "Inf"), (-math.inf, "-Inf"), (math.nan, "NaN"),
])
def test_numbers_are_formatted_like_scavetool(value: float, text: str) -> None:
    assert format_number(value) == text


def test_inf_and_nan_values_are_read(tmp_path: Path) -> None:
    sca = _write(tmp_path, HEADER + "scalar m a inf\nscalar m b -inf\nscalar m c nan\n", "special.sca")
    (run,) = read_runs(sca)
    a, b, c = (s.value for s in run.scalars)
    assert (a, b) == (math.inf, -math.inf) and math.isnan(c)
    _, rows = scalar_table([run])
    assert [row[-1] for row in rows] == ["Inf", "-Inf", "NaN"]
    exported = json.loads(export_scalars([run], "json"))
    assert [s["value"] for s in exported[0]["scalars"]] == ["inf", "-inf", "nan"]


def test_version_2_file_with_param_lines_and_several_runs(tmp_path: Path) -> None:
    sca = _write(tmp_path, (
        "version 2\nrun A-0-x\nattr configname A\nattr repetition 0\nitervar n 1\nparam **.x 5\n\n"
        "scalar net.m s 1.5\nattr unit s\n"
        "statistic net.m st\nfield count 2\nfield mean 3\n"
        "run A-1-x\nattr configname A\nattr repetition 1\nitervar n 2\nscalar net.m s 2.5\n"
    ), "v2.sca")
    first, second = read_runs(sca)
    assert first.config == [("**.x", "5")]
    assert first.scalars[0].attributes == {"unit": "s"}
    assert first.statistics[0].fields == {"count": 2.0, "mean": 3.0}
    assert (second.run_id, second.itervars, second.scalars[0].value) == ("A-1-x", {"n": "2"}, 2.5)


def test_csv_quotes_fields_with_commas_and_leaves_missing_itervars_empty(tmp_path: Path) -> None:
    one = _write(tmp_path, HEADER + "itervar x 1\nscalar Net.host[0] \"a,b\" 1\n", "one.sca")
    other_header = HEADER.replace("General-0", "Other-0")
    other = _write(tmp_path, other_header + "itervar y 2\nscalar m c 2\n", "two.sca")
    text = export_scalars(list(read_all_runs([one, other])), "csv")
    assert text.splitlines() == [
        "run,x,y,repetition,module,name,value",
        'General-0-20260101-00:00:00-1,1,,0,Net.host[0],"a,b",1',
        "Other-0-20260101-00:00:00-1,,2,0,m,c,2",
    ]


# --- malformed input ---


@pytest.mark.parametrize(("text", "line_number", "message"), [
    (HEADER + "scalar m duration six\n", 5, "'six' is not a number"),
    (HEADER + "scalar m duration\n", 5, "expected 'scalar MODULE NAME VALUE', got 3 fields"),
    (HEADER + "field count 3\n", 5, "'field' line outside a 'statistic' block"),
    (HEADER + "statistic m s\nfield count 1\nscalar m x 1\nbin 0 1\n", 8, "'bin' line outside"),
    (HEADER + "frobnicate a b\n", 5, "unknown line kind 'frobnicate'"),
    (HEADER + 'attr title "no end\n', 5, "unterminated quoted string"),
    (HEADER + 'attr title "a"b\n', 5, "text right after a closing quote"),
    ("scalar m a 1\n", 1, "expected 'version'"),
    ("version 9\n", 1, "version 9 is not supported"),
    ("version 3\nscalar m a 1\n", 2, "'scalar' line before any 'run' line"),
])
def test_malformed_line_names_file_and_line(tmp_path: Path, text: str, line_number: int,
                                            message: str) -> None:
    sca = _write(tmp_path, text)
    with pytest.raises(ResultFileError) as caught:
        list(read_runs(sca))
    assert caught.value.line_number == line_number
    assert caught.value.message.startswith(f"{sca}:{line_number}: ")
    assert message in caught.value.message
    assert caught.value.exit_code == 2


def test_broken_files_can_be_collected_as_parse_errors(tmp_path: Path) -> None:
    good = _write(tmp_path, HEADER + "scalar m a 1\n", "good.sca")
    _write(tmp_path, HEADER + "scalar m a 1\nscalar m b\n", "bad.sca")
    runs, errors = read_runs_and_errors([tmp_path])
    assert [run.file for run in runs] == [good]
    reason = "expected 'scalar MODULE NAME VALUE', got 3 fields"
    assert errors == [ParseError(tmp_path / "bad.sca", reason, 6)]


def test_empty_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ResultFileError, match="no 'version' line"):
        list(read_runs(_write(tmp_path, "")))


def test_vector_data_that_does_not_fit_the_index_is_an_error(tmp_path: Path) -> None:
    body = "version 3\nrun R-0\nvector 0 m v ETV\n"
    vec = _write(tmp_path, body + "0\t1\t0.5\t7\n", "bad.vec")
    size = vec.stat().st_size
    _write(tmp_path, f"file {size} 0\n{body}0\t0\t5\t1\t1\t0.5\t0.5\t1\t7\t7\t7\t49\n", "bad.vci")
    with pytest.raises(ResultFileError, match="bad data line for vector 0"):
        list(read_vector_file(vec).samples(0))


def test_missing_and_empty_inputs(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="a vector file"):
        find_scalar_files([_write(tmp_path, "version 3\n", "r.vec")])
    with pytest.raises(UserError, match="no such file or directory"):
        find_scalar_files([tmp_path / "nope.sca"])
    with pytest.raises(UserError, match=r"no \.sca files"):
        find_scalar_files([tmp_path])


def test_to_dataframe_without_pandas_is_a_user_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(UserError, match="needs pandas"):
        to_dataframe([])


def test_to_dataframe_has_the_scalar_table_with_numeric_values(tmp_path: Path) -> None:
    (run,) = read_runs(_write(tmp_path, HEADER + "itervar n 3\nscalar m a 0.5\nscalar m b inf\n", "df.sca"))
    frame = to_dataframe([run])
    assert list(frame.columns) == ["run", "n", "repetition", "module", "name", "value"]
    assert list(frame["value"]) == [0.5, math.inf]


# --- the CLI ---


def test_cli_export_csv_to_file_and_json_to_stdout_from_a_directory(tmp_path: Path) -> None:
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    for sca in SCA_FILES:
        shutil.copy(sca, nested / sca.name)
    runner = CliRunner()
    out = tmp_path / "scalars.csv"
    result = runner.invoke(cli, ["export", str(tmp_path), "-o", str(out)])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == sum(len(_lines_starting(sca, "scalar")) for sca in SCA_FILES)
    result = runner.invoke(cli, ["export", str(tmp_path), "--format", "json"])
    assert result.exit_code == 0, result.output
    runs = json.loads(result.stdout)
    assert len(runs) == len(SCA_FILES)
    assert {"run", "attributes", "itervars", "scalars", "statistics"} <= set(runs[0])


def test_cli_export_missing_file_exits_2_with_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["export", str(tmp_path / "missing.sca")])
    assert result.exit_code == 2
    assert result.stderr.strip() == f"opp-ci: error: {tmp_path / 'missing.sca'}: no such file or directory"


def test_cli_export_broken_file_exits_2_naming_the_line(tmp_path: Path) -> None:
    sca = _write(tmp_path, HEADER + "scalar m duration six\n")
    result = CliRunner().invoke(cli, ["export", str(sca)])
    assert result.exit_code == 2
    assert f"{sca}:5: 'six' is not a number" in result.stderr
    assert "Traceback" not in result.output
