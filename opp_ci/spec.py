"""The campaign spec: what to run, resolved in one place.

Precedence, lowest first: the defaults below, `opp-ci.toml` in the project, `OPP_CI_*` environment
variables, command-line flags. Every key of the file has a default here; a key that is not in the
defaults is a user error with a "did you mean" hint.

`opp-ci.toml`::

    command = "./aloha"              # or ["opp_run", "-l", "../src/aloha", "-n", "."]
    working-dir = "."
    ini = ["omnetpp.ini"]
    timeout = "10m"                  # wall clock per run
    retries = 1                      # for infrastructure failures, never for simulation errors
    args = ["--**.vector-recording=false"]

    [configs.PureAlohaExperiment]    # one table per config to run; keys override the ones above
    runs = "$numHosts==10"
    sim-time-limit = "10min"
"""

from __future__ import annotations

import difflib
import os
import re
import shlex
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opp_ci.errors import UserError

SPEC_FILE = "opp-ci.toml"

#: Keys that may appear per config, and at the top level as defaults for every config.
CONFIG_DEFAULTS: dict[str, Any] = {
    "runs": None,
    "sim-time-limit": None,
    "cpu-time-limit": None,
    "timeout": "1h",
    "args": [],
    "retries": 1,
}

#: Keys that apply to the whole campaign.
CAMPAIGN_DEFAULTS: dict[str, Any] = {
    "command": None,
    "working-dir": ".",
    "ini": ["omnetpp.ini"],
    "configs": {},
    "workers": 0,  # 0 here means "one per core"; --workers 0 on the command line means "spawn none"
    "out": "opp-ci-out",
    "redis-url": None,
    "backend": "local",
    "ecs": {},  # the ecs backend's settings: image, region, spot, subnets, ... (see opp_ci/cloud.py EcsOptions)
    # --- the image / model build (opp_ci/image.py IMAGE_DEFAULTS): base, build, packages ---
    "image": {},
}

#: Keys of the regression checks (see opp_ci/regression.py and opp_ci/fingerprints.py).
REGRESSION_DEFAULTS: dict[str, Any] = {
    "check": [],  # "fingerprints": verify each run's fingerprint against the store
    "fingerprints": "opp-ci-fingerprints.json",  # the store, relative to the project; *.csv: INET's format
    "fingerprint-ingredients": "tplx",
    "baseline": None,  # an output directory to compare the campaign's results with
    "tolerances": {},  # scalar name glob -> {rel = r, abs = a}
    "alpha": 0.05,  # significance level of the statistical comparison
    "correction": "holm",  # for many comparisons: holm, bh or none
    "metrics": [],  # scalar name globs compared statistically over repetitions
}

ALL_KEYS = {**CAMPAIGN_DEFAULTS, **CONFIG_DEFAULTS, **REGRESSION_DEFAULTS}

_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|min|m|h|d)?")
_SIM_TIME = re.compile(r"^\s*\d+(\.\d+)?(e[+-]?\d+)?\s*(s|ms|us|ns|ps|fs|as|min|h|d)?\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class ConfigSpec:
    """One OMNeT++ config to run, with the settings that apply to its runs."""

    name: str
    runs: str | None = None
    sim_time_limit: str | None = None
    cpu_time_limit: str | None = None
    timeout: float = 3600.0
    args: tuple[str, ...] = ()
    retries: int = 1


@dataclass
class CampaignSpec:
    """Everything `opp-ci run` needs to know, after defaults, file, environment and flags."""

    project_dir: Path
    command: list[str]
    working_dir: Path
    ini: list[str]
    configs: list[ConfigSpec]
    workers: int | None = None  # None: one per core
    out: Path = Path("opp-ci-out")
    redis_url: str | None = None
    backend: str = "local"
    resume: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    regression: dict[str, Any] = field(default_factory=dict)  # the REGRESSION_DEFAULTS keys


def parse_duration(value: Any, key: str = "timeout") -> float:
    """Seconds from `90`, `"90s"`, `"10m"`, `"1h30m"` or `"2d"`."""
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    text = str(value).strip().lower().replace(" ", "")
    parts = _DURATION_PART.findall(text)
    if not text or not parts or "".join(n + u for n, u in parts) != text:
        raise UserError(f"{key}: {value!r} is not a duration; write e.g. 90, \"90s\", \"10m\" or \"1h30m\"")
    seconds = sum(float(number) * _DURATION_UNITS[unit or "s"] for number, unit in parts)
    if seconds <= 0:
        raise UserError(f"{key}: {value!r} must be longer than zero")
    return seconds


def check_sim_time(value: Any, key: str) -> str | None:
    """An OMNeT++ time quantity such as `10min` or `3600s`, passed through to the simulation."""
    if value is None:
        return None
    text = str(value)
    if not _SIM_TIME.match(text):
        raise UserError(f"{key}: {value!r} is not an OMNeT++ time; write e.g. \"100s\", \"10min\" or \"1h\"")
    return text.replace(" ", "")


def load_file(project_dir: Path) -> dict[str, Any]:
    """The project's opp-ci.toml as a dict, or {} when there is none."""
    path = project_dir / SPEC_FILE
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as error:
        raise UserError(f"{path}: {error}") from None
    _check_keys(data, ALL_KEYS, str(path))
    configs = data.get("configs", {})
    if not isinstance(configs, dict):
        raise UserError(f"{path}: 'configs' must be a table of [configs.NAME] tables")
    for name, table in configs.items():
        if not isinstance(table, dict):
            raise UserError(f"{path}: configs.{name} must be a table, e.g. [configs.{name}]")
        _check_keys(table, CONFIG_DEFAULTS, f"{path}: [configs.{name}]")
    return data


def from_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    """`OPP_CI_WORKERS=4` and the like, for the campaign-wide keys that make sense there."""
    settings: dict[str, Any] = {}
    for key in ("workers", "out", "redis-url", "backend", "timeout", "retries", "sim-time-limit",
                "cpu-time-limit", "runs"):
        name = "OPP_CI_" + key.upper().replace("-", "_")
        if environ.get(name):
            settings[key] = environ[name]
    return settings


def resolve(
    project_dir: Path,
    flags: Mapping[str, Any],
    environ: Mapping[str, str] | None = None,
) -> CampaignSpec:
    """Builds the campaign spec from defaults, opp-ci.toml, environment and flags.

    `flags` uses the file's key names; a value of None (or an empty tuple) means "not given".
    `flags["config"]` is the list of configs named on the command line, `flags["arg"]` the extra
    arguments added to every run, `flags["workers"]` 0 to spawn no workers at all.
    """
    project_dir = Path(project_dir).resolve()
    if not project_dir.is_dir():
        raise UserError(f"project directory {project_dir} does not exist")
    file_settings = load_file(project_dir)
    settings = {**CAMPAIGN_DEFAULTS, **CONFIG_DEFAULTS, **REGRESSION_DEFAULTS, **file_settings}
    settings.update(from_environment(os.environ if environ is None else environ))
    settings.update({k: v for k, v in flags.items() if v not in (None, ()) and k not in ("config", "arg")})

    command = _command(settings["command"], project_dir)
    working_dir = (project_dir / settings["working-dir"]).resolve()
    if not working_dir.is_dir():
        raise UserError(f"working-dir {settings['working-dir']!r} is not a directory under {project_dir}")
    configs = _configs(settings, file_settings.get("configs", {}), list(flags.get("config") or ()),
                       list(flags.get("arg") or ()), {k for k, v in flags.items() if v not in (None, ())})
    return CampaignSpec(
        project_dir=project_dir,
        command=command,
        working_dir=working_dir,
        ini=_string_list(settings["ini"], "ini"),
        configs=configs,
        workers=_workers(settings["workers"], "workers" in flags and flags["workers"] is not None),
        out=Path(settings["out"]),
        redis_url=settings["redis-url"],
        backend=str(settings["backend"]),
        resume=bool(flags.get("resume")),
        regression=_regression(settings),
        extra={"ecs": dict(settings["ecs"]), "image": dict(settings["image"])},
    )


def _regression(settings: dict[str, Any]) -> dict[str, Any]:
    regression = {k: settings[k] for k in REGRESSION_DEFAULTS}
    for key in ("check", "metrics"):
        regression[key] = _string_list(list(regression[key]) if isinstance(regression[key], tuple)
                                       else regression[key], key)
    unknown = set(regression["check"]) - {"fingerprints"}
    if unknown:
        raise UserError(f"check: unknown check {sorted(unknown)[0]!r}; known checks: fingerprints")
    return regression


def resolve_simulation(project_dir: Path, command: str | None = None, working_dir: Path | None = None,
                       environ: Mapping[str, str] | None = None) -> tuple[list[str], Path]:
    """Just the simulation command and its working directory: what a worker needs (a job chooses
    the config, run and ini files)."""
    project_dir = Path(project_dir).resolve()
    if not project_dir.is_dir():
        raise UserError(f"project directory {project_dir} does not exist")
    settings = {**CAMPAIGN_DEFAULTS, **load_file(project_dir)}
    resolved_command = _command(command or settings["command"], project_dir)
    directory = Path(working_dir) if working_dir else project_dir / settings["working-dir"]
    if not directory.is_dir():
        raise UserError(f"working directory {directory} does not exist")
    return resolved_command, directory.resolve()


def _command(value: Any, project_dir: Path) -> list[str]:
    if value is None:
        raise UserError(
            f"no simulation command: add `command = \"./mysim\"` to {project_dir / SPEC_FILE} or pass --command"
        )
    command = shlex.split(value) if isinstance(value, str) else _string_list(value, "command")
    if not command:
        raise UserError("command is empty")
    return command


def _configs(
    settings: dict[str, Any],
    tables: dict[str, dict[str, Any]],
    named: list[str],
    extra_args: list[str],
    flag_keys: set[str],
) -> list[ConfigSpec]:
    """One ConfigSpec per config to run: those named by --config, else the file's [configs.*]."""
    names = named or list(tables)
    if not names:
        raise UserError(
            "no configs to run: add a [configs.NAME] table to opp-ci.toml or pass --config NAME"
        )
    specs = []
    for name in dict.fromkeys(names):
        # Flags win over the per-config table; the per-config table wins over top-level defaults.
        merged = {k: settings[k] for k in CONFIG_DEFAULTS}
        merged.update(tables.get(name, {}))
        merged.update({k: settings[k] for k in CONFIG_DEFAULTS if k in flag_keys})
        specs.append(_config_spec(name, merged, extra_args))
    return specs


def _config_spec(name: str, merged: dict[str, Any], extra_args: list[str]) -> ConfigSpec:
    where = f"configs.{name}"
    runs = merged["runs"]
    if runs is not None and not str(runs).strip():
        raise UserError(f"{where}: the run filter is empty; leave `runs` out to run every run")
    retries = merged["retries"]
    if isinstance(retries, bool) or not isinstance(retries, int | str) or not str(retries).isdigit():
        raise UserError(f"{where}.retries: {retries!r} must be a whole number, 0 or more")
    return ConfigSpec(
        name=name,
        runs=None if runs is None else str(runs),
        sim_time_limit=check_sim_time(merged["sim-time-limit"], f"{where}.sim-time-limit"),
        cpu_time_limit=check_sim_time(merged["cpu-time-limit"], f"{where}.cpu-time-limit"),
        timeout=parse_duration(merged["timeout"], f"{where}.timeout"),
        args=tuple(_string_list(merged["args"], f"{where}.args") + extra_args),
        retries=int(retries),
    )


def _workers(value: Any, from_flag: bool) -> int | None:
    try:
        workers = int(value)
    except (TypeError, ValueError):
        raise UserError(f"workers: {value!r} must be a whole number") from None
    if workers < 0:
        raise UserError("workers must be 0 or more")
    if workers == 0 and not from_flag:
        return None  # one per core
    return workers


def _string_list(value: Any, key: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise UserError(f"{key}: must be a list of strings, got {value!r}")
    return list(value)


def _check_keys(table: dict[str, Any], known: Mapping[str, Any], where: str) -> None:
    for key, value in table.items():
        if key not in known:
            hint = difflib.get_close_matches(key, list(known), n=1)
            suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
            raise UserError(f"{where}: unknown key {key!r}{suggestion}; known keys: {', '.join(sorted(known))}")
        default = known[key]
        if default is not None and key != "configs" and not _same_kind(value, default):
            raise UserError(f"{where}: {key!r} must be {_kind(default)}, got {value!r}")


def _same_kind(value: Any, default: Any) -> bool:
    if isinstance(default, list):
        return isinstance(value, list | str)
    if isinstance(default, int) and not isinstance(default, bool):
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, int | float) and not isinstance(value, bool)
    if isinstance(default, str) and default[0].isdigit():  # a duration: a number or a string
        return isinstance(value, int | float | str) and not isinstance(value, bool)
    return isinstance(value, type(default))


def _kind(default: Any) -> str:
    if isinstance(default, list):
        return "a list of strings"
    if isinstance(default, int):
        return "a whole number"
    if isinstance(default, float):
        return "a number"
    if isinstance(default, dict):
        return "a table"
    if isinstance(default, str) and default[0].isdigit():
        return "a duration such as \"10m\""
    return "a string"
