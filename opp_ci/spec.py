"""The campaign spec: what `opp-ci run` runs, built from the settings `opp_ci.options` resolves.

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

Every key, its default, environment variable and flag: `docs/options.md` (from `opp_ci/options.py`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opp_ci import options
from opp_ci.errors import UserError
from opp_ci.options import SPEC_FILE, Scope, Settings, check_sim_time, parse_duration

__all__ = ["SPEC_FILE", "CampaignSpec", "CheckSettings", "ConfigSpec", "SuiteSettings", "check_sim_time",
           "parse_duration", "resolve", "resolve_simulation"]

#: The settings that compare two campaigns (`compare`, `report --recheck`).
COMPARISON_KEYS = ("tolerances", "alpha", "correction", "metrics")


@dataclass(frozen=True)
class ConfigSpec:
    """One OMNeT++ config to run, with the settings that apply to its runs."""

    name: str
    runs: str | None = None
    sim_time_limit: str | None = None
    cpu_time_limit: str | None = None
    timeout: float = field(default_factory=lambda: options.default("timeout"))
    args: tuple[str, ...] = ()
    retries: int = field(default_factory=lambda: options.default("retries"))
    log_limit: int = field(default_factory=lambda: options.default("log-limit"))
    result_limit: int = field(default_factory=lambda: options.default("result-limit"))
    memory_limit: int = field(default_factory=lambda: options.default("memory-limit"))


@dataclass
class CheckSettings:
    """Which checks apply to a campaign's runs, and how (see opp_ci/checks.py)."""

    check: list[str] = field(default_factory=list)
    fingerprints: str = field(default_factory=lambda: options.default("fingerprints"))
    fingerprint_ingredients: str = field(default_factory=lambda: options.default("fingerprint-ingredients"))
    baseline: str | None = None
    comparison: dict[str, Any] = field(default_factory=lambda: {k: options.default(k) for k in COMPARISON_KEYS})
    record_fingerprints: bool = False  # `baseline update`: every run expects a dummy fingerprint
    confirm: int = 0  # how many times more a failed run runs (opp_ci/triage.py)
    fail_on: str = "any"
    #: The [quarantine] table, checked before anything starts (a malformed entry is a UserError), dates as text.
    quarantine: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Settings, environ: Mapping[str, str] = os.environ) -> CheckSettings:
        from opp_ci.triage import default_confirm, quarantine_table

        confirm = settings["confirm"] if settings["confirm"] is not None else default_confirm(environ)
        if confirm < 0:
            raise UserError(f"confirm: {confirm} must be 0 or more (how many times more a failed run runs)")
        return cls(check=settings["check"], fingerprints=settings["fingerprints"],
                   fingerprint_ingredients=settings["fingerprint-ingredients"], baseline=settings["baseline"],
                   comparison={k: settings[k] for k in COMPARISON_KEYS}, confirm=confirm,
                   fail_on=settings["fail-on"], quarantine=quarantine_table(settings["quarantine"]))


@dataclass
class SuiteSettings:
    """Fingerprint suite CSVs whose rows are the campaign's runs, and which rows (opp_ci/fingerprints/suites.py)."""

    files: list[str] = field(default_factory=list)
    match: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    exclude_tags: list[str] = field(default_factory=list)
    ingredients: list[str] = field(default_factory=list)
    repeat: int = 1
    cpu_time_limit: str | None = field(default_factory=lambda: options.default("suite-cpu-time-limit"))
    #: Options added to every row after its own (`args` and `--arg`, as opp_fingerprinttest's -a).
    args: tuple[str, ...] = ()

    @classmethod
    def from_settings(cls, settings: Settings) -> SuiteSettings:
        if settings["repeat"] < 1:
            raise UserError(f"repeat: {settings['repeat']} must be 1 or more")
        return cls(settings["suite"], settings["match"], settings["exclude"], settings["tag"],
                   settings["exclude-tag"], settings["ingredients"], settings["repeat"],
                   settings["suite-cpu-time-limit"], tuple(settings["args"]) + tuple(settings["arg"]))


@dataclass
class CampaignSpec:
    """Everything `opp-ci run` needs to know, after defaults, file, environment and flags."""

    project_dir: Path
    command: list[str]
    working_dir: Path
    ini: list[str]
    configs: list[ConfigSpec]
    workers: int | None = None  # None: one per core
    out: Path = field(default_factory=lambda: Path(options.default("out")))
    redis_url: str | None = None
    store: str | None = None  # the store of workers started elsewhere (`--store`)
    backend: str = "local"
    resume: bool = False
    checks: CheckSettings = field(default_factory=CheckSettings)
    suites: SuiteSettings = field(default_factory=SuiteSettings)
    ecs: dict[str, Any] = field(default_factory=dict)  # the [ecs] settings, by name
    settings: Settings | None = None  # everything resolved, with where it came from
    environment: dict[str, Any] = field(default_factory=dict)  # what the runs ran with, e.g. "omnetpp"
    shard: Shard | None = None  # `--shard I/N`: run only this shard of the campaign
    history: str | None = None  # `--history FILE`: the run-time history shards are balanced from


_SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


@dataclass(frozen=True)
class Shard:
    """The I-th (1-based) of N shards."""

    index: int
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(text: str) -> Shard:
    """`I/N` with 1 ≤ I ≤ N; a UserError naming the fix otherwise."""
    match = _SHARD.match(str(text))
    if not match:
        raise UserError(f"--shard {text!r} is not I/N; write e.g. --shard 2/4 (the 2nd of 4 shards, counted from 1)")
    index, count = int(match.group(1)), int(match.group(2))
    if count < 1 or not 1 <= index <= count:
        raise UserError(f"--shard {text}: the shard number must be 1 to {max(count, 1)} (of {count}); write e.g. "
                        f"--shard 1/{max(count, 1)}")
    return Shard(index, count)


def file_layer(project_dir: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The project's opp-ci.toml as a settings layer, and its [configs.*] tables."""
    data = options.read_file(project_dir)
    configs = data.get("configs", {})
    return options.flatten({k: v for k, v in data.items() if k != "configs"}), configs


def resolve(
    project_dir: Path,
    flags: Mapping[str, Any],
    environ: Mapping[str, str] | None = None,
) -> CampaignSpec:
    """Builds the campaign spec from defaults, opp-ci.toml, environment and flags.

    `flags` are keyed like the settings (`timeout`, `ecs.image`); None or an empty tuple means "not
    given". `config` is the list of configs named on the command line, `arg` the extra arguments
    added to every run, `workers` 0 to spawn no workers at all.
    """
    project_dir = Path(project_dir).resolve()
    if not project_dir.is_dir():
        raise UserError(f"project directory {project_dir} does not exist")
    file_settings, tables = file_layer(project_dir)
    environment = options.from_environment(os.environ if environ is None else environ)
    settings = options.resolve([("file", file_settings), ("environment", environment), ("flag", flags)])
    # A suite's rows without an executable run opp_run, as with opp_fingerprinttest (its -e default).
    if settings["command"] is None and settings["suite"]:
        command = list(SUITE_COMMAND)
    else:
        command = _command(settings["command"], project_dir)
    working_dir = (project_dir / settings["working-dir"]).resolve()
    if not working_dir.is_dir():
        raise UserError(f"working-dir {settings['working-dir']!r} is not a directory under {project_dir}")
    return CampaignSpec(
        project_dir=project_dir,
        command=command,
        working_dir=working_dir,
        ini=settings["ini"],
        configs=_configs(settings, tables, need_one=not settings["suite"]),
        workers=_workers(settings),
        out=Path(settings["out"]),
        redis_url=settings["redis-url"],
        store=settings["store"],
        backend=settings["backend"],
        resume=bool(settings["resume"]),
        checks=CheckSettings.from_settings(settings),
        suites=SuiteSettings.from_settings(settings),
        ecs=settings.table("ecs"),
        settings=settings,
        shard=parse_shard(settings["shard"]) if settings["shard"] is not None else None,
        history=settings["history"],
    )


def resolve_simulation(project_dir: Path, command: str | None = None, working_dir: Path | None = None,
                       environ: Mapping[str, str] | None = None) -> tuple[list[str], Path]:
    """Just the simulation command and its working directory: what a worker needs (a job chooses
    the config, run and ini files)."""
    project_dir = Path(project_dir).resolve()
    if not project_dir.is_dir():
        raise UserError(f"project directory {project_dir} does not exist")
    file_settings, _tables = file_layer(project_dir)
    settings = options.resolve([("file", file_settings), ("flag", {"command": command})],
                               keys=("command", "working-dir"))
    # No command: a worker that only runs suite rows naming their executables.
    resolved_command = [] if settings["command"] is None else _command(settings["command"], project_dir)
    directory = Path(working_dir) if working_dir else project_dir / settings["working-dir"]
    if not directory.is_dir():
        raise UserError(f"working directory {directory} does not exist")
    return resolved_command, directory.resolve()


#: What a suite row without an executable runs when the spec names no command (opp_fingerprinttest's -e).
SUITE_COMMAND = ["opp_run"]


def _command(command: list[str] | None, project_dir: Path) -> list[str]:
    if command is None:
        raise UserError(
            f"no simulation command: add `command = \"./mysim\"` to {project_dir / SPEC_FILE} or pass --command"
        )
    if not command:
        raise UserError("command is empty")
    return command


def _configs(settings: Settings, tables: dict[str, dict[str, Any]], need_one: bool = True) -> list[ConfigSpec]:
    """One ConfigSpec per config to run: those named by --config, else the file's [configs.*] (a campaign
    of suite rows needs none)."""
    names = settings["config"] or list(tables)
    if not names and need_one:
        raise UserError(
            "no configs to run: add a [configs.NAME] table to opp-ci.toml or pass --config NAME"
        )
    per_config = [o for o in options.OPTIONS if o.scope is Scope.CONFIG]
    specs = []
    for name in dict.fromkeys(names):
        # Flags and the environment win over the per-config table; it wins over top-level defaults.
        merged = {o.name: settings[o.key] for o in per_config}
        for opt in per_config:
            if opt.name in tables.get(name, {}) and settings.sources[opt.key] in ("default", "file"):
                merged[opt.name] = options.convert(opt, tables[name][opt.name], f"configs.{name}")
        specs.append(_config_spec(name, merged, settings["arg"]))
    return specs


def _config_spec(name: str, merged: dict[str, Any], extra_args: list[str]) -> ConfigSpec:
    runs = merged["runs"]
    if runs is not None and not str(runs).strip():
        raise UserError(f"configs.{name}: the run filter is empty; leave `runs` out to run every run")
    if merged["retries"] < 0:
        raise UserError(f"configs.{name}.retries: {merged['retries']!r} must be a whole number, 0 or more")
    return ConfigSpec(
        name=name,
        runs=runs,
        sim_time_limit=merged["sim-time-limit"],
        cpu_time_limit=merged["cpu-time-limit"],
        timeout=merged["timeout"],
        args=tuple(merged["args"] + list(extra_args)),
        retries=merged["retries"],
        log_limit=merged["log-limit"],
        result_limit=merged["result-limit"],
        memory_limit=merged["memory-limit"],
    )


def _workers(settings: Settings) -> int | None:
    workers = settings["workers"]
    if workers is None:
        return None  # one per core
    if workers < 0:
        raise UserError("workers must be 0 or more")
    if workers == 0 and settings.sources["workers"] != "flag":
        return None  # 0 in the file or environment means "one per core"; --workers 0 means "spawn none"
    return workers
