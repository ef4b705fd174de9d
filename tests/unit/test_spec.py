from __future__ import annotations

from pathlib import Path

import pytest

from opp_ci.errors import UserError
from opp_ci.spec import parse_duration, resolve

BASE = """
command = "./sim"
ini = ["omnetpp.ini"]
timeout = "10m"
retries = 2
args = ["--**.vector-recording=false"]

[configs.Quick]

[configs.Experiment]
runs = "$numHosts==10"
sim-time-limit = "10min"
timeout = "30s"
"""


def project(tmp_path: Path, text: str = BASE) -> Path:
    (tmp_path / "opp-ci.toml").write_text(text)
    return tmp_path


def test_file_settings_apply_per_config(tmp_path):
    spec = resolve(project(tmp_path), {}, environ={})
    quick, experiment = spec.configs
    assert spec.command == ["./sim"]
    assert (quick.name, quick.timeout, quick.retries, quick.runs) == ("Quick", 600.0, 2, None)
    assert (experiment.runs, experiment.sim_time_limit, experiment.timeout) == ("$numHosts==10", "10min", 30.0)
    assert experiment.args == ("--**.vector-recording=false",)


def test_flags_win_over_file_and_environment(tmp_path):
    spec = resolve(
        project(tmp_path),
        {"config": ("Experiment",), "runs": "0..3", "timeout": "5s", "arg": ("--x=1",), "workers": 3},
        environ={"OPP_CI_TIMEOUT": "7s", "OPP_CI_WORKERS": "9"},
    )
    [experiment] = spec.configs
    assert experiment.runs == "0..3"
    assert experiment.timeout == 5.0
    assert experiment.args == ("--**.vector-recording=false", "--x=1")
    assert spec.workers == 3


def test_environment_wins_over_file(tmp_path):
    spec = resolve(project(tmp_path), {}, environ={"OPP_CI_RETRIES": "0"})
    assert spec.configs[0].retries == 0


def test_workers_zero_from_the_command_line_means_none_and_default_means_per_core(tmp_path):
    assert resolve(project(tmp_path), {"workers": 0}, environ={}).workers == 0
    assert resolve(project(tmp_path), {}, environ={}).workers is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("comand = './sim'\n", "unknown key 'comand' (did you mean 'command'?)"),
        ("command = './sim'\n[configs.A]\ntimout = '1m'\n", "unknown key 'timout' (did you mean 'timeout'?)"),
        ("command = './sim'\nretries = 'two'\n[configs.A]\n", "'retries' must be a whole number"),
        ("command = './sim'\nini = 3\n[configs.A]\n", "'ini' must be a list of strings"),
        ("command = './sim'\n[configs.A]\nruns = ''\n", "run filter is empty"),
        ("command = './sim'\n[configs.A]\nsim-time-limit = 'soon'\n", "is not an OMNeT++ time"),
        ("command = './sim'\n[configs.A]\ntimeout = '10 parsecs'\n", "is not a duration"),
        ("command = './sim\n", "opp-ci.toml"),
        ("[configs.A]\n", "no simulation command"),
        ("command = './sim'\n", "no configs to run"),
    ],
)
def test_bad_files_name_the_problem(tmp_path, text, message):
    with pytest.raises(UserError) as error:
        resolve(project(tmp_path, text), {}, environ={})
    assert message in error.value.message
    assert error.value.exit_code == 2


def test_command_flag_makes_the_file_optional(tmp_path):
    spec = resolve(tmp_path, {"command": "opp_run -l lib -n .", "config": ("General",)}, environ={})
    assert spec.command == ["opp_run", "-l", "lib", "-n", "."]
    assert [c.name for c in spec.configs] == ["General"]


@pytest.mark.parametrize(("text", "seconds"), [(90, 90), ("90s", 90), ("10m", 600), ("1h30m", 5400), ("2d", 172800)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


def test_missing_project_directory(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        resolve(tmp_path / "nope", {}, environ={})


def test_a_suite_without_command_runs_opp_run_for_rows_naming_no_executable(tmp_path):
    (tmp_path / "s.csv").write_text("., -f omnetpp.ini -c C -r 0, 1s, 0000-0000/tplx, PASS,\n")
    spec = resolve(project(tmp_path, ""), {"suite": ["s.csv"]}, environ={})
    assert spec.command == ["opp_run"]  # as opp_fingerprinttest's -e default
