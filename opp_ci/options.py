"""Every setting of opp-ci, declared once, and resolved in one place.

A setting has a name (its key in `opp-ci.toml`, in a table such as `[ecs]` or at the top level), a
kind, a default, an environment variable and a flag. Values are resolved in the order defaults →
`opp-ci.toml` → `OPP_CI_*` → flags; an unknown key anywhere gets a "did you mean" hint, a value of
the wrong kind names its key. The CLI builds its options from these declarations
(`click_options`), and `docs/options.md` is generated from them (`markdown_table`), so no default
is written down twice.
"""

from __future__ import annotations

import difflib
import re
import shlex
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from opp_ci.errors import UserError

SPEC_FILE = "opp-ci.toml"
ENV_PREFIX = "OPP_CI_"


class Kind(StrEnum):
    STRING = "a string"
    STRINGS = "a list of strings"
    COMMAND = "a command (a string or a list of strings)"
    INT = "a whole number"
    FLOAT = "a number"
    BOOL = "true or false"
    DURATION = "a duration such as \"10m\""
    SIM_TIME = "an OMNeT++ time such as \"100s\""
    TABLE = "a table"
    SIZE = "a size such as \"64MiB\" (0: no limit)"


class Scope(StrEnum):
    CAMPAIGN = "campaign"  # once per campaign
    CONFIG = "config"  # at the top level as the default of every config, and in [configs.NAME]
    FLAG = "flag"  # on the command line (and in the environment) only


@dataclass(frozen=True)
class Option:
    """One setting. `table` is "" for the top level of opp-ci.toml, else the table it lives in."""

    name: str
    kind: Kind
    default: Any
    help: str
    table: str = ""
    scope: Scope = Scope.CAMPAIGN
    choices: tuple[str, ...] = ()
    short: str | None = None
    metavar: str | None = None
    env: str | None = ""  # "": the derived OPP_CI_* name; None: no environment variable
    cli: bool = True  # has a flag (tables and per-config lists live in opp-ci.toml only)
    flag_name: str = ""  # the flag, when not --NAME (a repeatable one is singular: --subnet)

    @property
    def key(self) -> str:
        return f"{self.table}.{self.name}" if self.table else self.name

    @property
    def env_var(self) -> str | None:
        if self.env is None:
            return None
        return self.env or ENV_PREFIX + self.key.upper().replace("-", "_").replace(".", "_")

    @property
    def flag(self) -> str:
        return "--" + (self.flag_name or self.name)

    @property
    def multiple(self) -> bool:
        return self.kind is Kind.STRINGS


def _options() -> tuple[Option, ...]:
    C, F = Scope.CONFIG, Scope.FLAG
    return (
        # --- what to run ---
        Option("command", Kind.COMMAND, None, "Simulation command, e.g. './aloha' or 'opp_run -l lib -n .'.",
               metavar="CMD"),
        Option("working-dir", Kind.STRING, ".", "Directory the simulation runs in, relative to the project."),
        Option("ini", Kind.STRINGS, ["omnetpp.ini"], "Ini file (repeatable).", short="-f", metavar="FILE"),
        Option("configs", Kind.TABLE, {}, "One [configs.NAME] table per OMNeT++ config to run.", env=None, cli=False),
        Option("config", Kind.STRINGS, [], "OMNeT++ config to run (repeatable); default: the [configs.*] tables.",
               scope=F, short="-c", metavar="NAME"),
        Option("arg", Kind.STRINGS, [], "Extra OMNeT++ option for every run, e.g. '--**.vector-recording=false' "
               "(repeatable; added to `args`).", scope=F, metavar="ARG", env=None),
        # --- per config ---
        Option("runs", Kind.STRING, None, "Run filter in OMNeT++'s -r syntax, e.g. '0..3' or '$numHosts==10'.",
               scope=C, short="-r", metavar="FILTER"),
        Option("sim-time-limit", Kind.SIM_TIME, None, "Simulation time limit, e.g. '100s' or '10min'.", scope=C,
               metavar="T"),
        Option("cpu-time-limit", Kind.SIM_TIME, None, "CPU time limit per run, e.g. '60s'.", scope=C, metavar="T"),
        Option("timeout", Kind.DURATION, "1h", "Wall-clock timeout per run; the whole process group is killed.",
               scope=C, metavar="DURATION"),
        Option("args", Kind.STRINGS, [], "OMNeT++ options for every run of the config.", scope=C, env=None,
               cli=False),
        Option("log-limit", Kind.SIZE, "16MiB", "Most of a run's stdout and stderr kept; beyond it the log keeps "
               "its first and last halves.", scope=C, metavar="SIZE", cli=False),
        Option("result-limit", Kind.SIZE, "4GiB", "Most result bytes a run may write; a run writing more fails.",
               scope=C, metavar="SIZE", cli=False),
        Option("memory-limit", Kind.SIZE, "8GiB", "Address space per simulation process (RLIMIT_AS).", scope=C,
               metavar="SIZE", cli=False),
        Option("retries", Kind.INT, 1, "Retries for infrastructure failures; a failed simulation is never retried.",
               scope=C, metavar="N"),
        # --- where and how ---
        Option("backend", Kind.STRING, "local", "Where runs execute.", choices=("local", "ecs")),
        Option("workers", Kind.INT, None, "Worker processes (local: default one per core; 0: none, use workers "
               "started elsewhere); with --backend ecs, worker tasks (default: ecs.workers).", short="-j",
               metavar="N"),
        Option("redis-url", Kind.STRING, None, "Use this Redis instead of starting a private one.", metavar="URL"),
        Option("store", Kind.STRING, None, "Workers started elsewhere (--workers 0, or --backend ecs --redis-url) "
               "put the runs' files in this store: their `opp-ci worker --store` (a directory or s3://bucket/prefix); "
               "a reply naming another is not followed.", scope=F, metavar="URL"),
        Option("out", Kind.STRING, "opp-ci-out", "Output directory.", short="-o", metavar="DIR"),
        Option("resume", Kind.BOOL, False, "Skip runs that already have a record in the output directory.",
               scope=F, env=None),
        Option("shard", Kind.STRING, None, "Run only the I-th of N shards of the campaign (e.g. 2/4), balanced "
               "from the run-time history; `opp-ci merge` joins the shards' output directories.", scope=F,
               metavar="I/N"),
        Option("history", Kind.STRING, None, "Run-time history to plan from: shards are balanced and runs ordered "
               "longest-first by it; copied into an output directory that has none (default: the output "
               "directory's .opp-ci-history.json).", metavar="FILE"),
        Option("github-output", Kind.STRING, None, "Append out-dir, campaign-id, total, passed, failed to this "
               "file.", scope=F, env="GITHUB_OUTPUT", metavar="FILE"),
        # --- checks ---
        Option("check", Kind.STRINGS, [], "Checks to apply to every run (repeatable).", choices=("fingerprints",)),
        Option("fingerprints", Kind.STRING, "opp-ci-fingerprints.json", "The fingerprint store, relative to the "
               "project (*.csv: INET's format).", metavar="FILE"),
        Option("fingerprint-ingredients", Kind.STRING, "tplx", "Fingerprint ingredients, e.g. 'tplx' or "
               "'tplx,~tNl'.", metavar="SET"),
        Option("baseline", Kind.STRING, None, "Compare the results with this output directory afterwards.",
               metavar="DIR"),
        Option("tolerances", Kind.TABLE, {}, "Scalar name glob -> {rel = R, abs = A}.", env=None, cli=False),
        Option("alpha", Kind.FLOAT, 0.05, "Significance level of the statistical comparison."),
        Option("correction", Kind.STRING, "holm", "Correction for many comparisons.",
               choices=("holm", "bh", "none")),
        Option("confirm", Kind.INT, None, "Run each failed run this many times more on the same build: results that "
               "differ between attempts are nondeterministic (default: 2 in a pull request's workflow, else 0).",
               metavar="N"),
        Option("fail-on", Kind.STRING, "any", "Which failures fail the campaign: any, or only those this change "
               "made (changed: triaged changed or unknown; nondeterministic and baseline-outdated ones are reported).",
               choices=("any", "changed")),
        Option("quarantine", Kind.TABLE, {}, "Run or row name (a glob) -> {reason = \"...\", expires = YYYY-MM-DD}: "
               "its failures are run and reported but do not fail the campaign until it expires.", env=None, cli=False),
        Option("metrics", Kind.STRINGS, [], "Scalars compared statistically over the repetitions, e.g. "
               "'channelUtilization:*' (repeatable); the others are compared run by run.", metavar="GLOB"),
        # --- fingerprint suites: INET's and OMNeT++'s fingerprint CSV files, run as they are ---
        Option("suite", Kind.STRINGS, [], "Fingerprint suite CSV, relative to the project (repeatable): its rows are "
               "the campaign's runs, their working directories relative to the project (opp_fingerprinttest -C).",
               metavar="FILE"),
        Option("match", Kind.STRINGS, [], "Only suite rows whose `workingdir args` match this regex (repeatable; "
               "opp_fingerprinttest -m).", short="-m", metavar="REGEX", env=None),
        Option("exclude", Kind.STRINGS, [], "Skip suite rows whose `workingdir args` match this regex (repeatable; "
               "opp_fingerprinttest -x).", short="-x", metavar="REGEX", env=None),
        Option("tag", Kind.STRINGS, [], "Only suite rows carrying one of these tags (repeatable).", metavar="TAG",
               env=None),
        Option("exclude-tag", Kind.STRINGS, [], "Skip suite rows carrying this tag (repeatable).", metavar="TAG",
               env=None),
        Option("ingredients", Kind.STRINGS, [], "Fingerprint ingredient sets of the suite rows to verify, e.g. tplx "
               "and '~tNl' (repeatable; default: every set of a row), all in the same run.", metavar="SET"),
        Option("repeat", Kind.INT, 1, "Run each suite row this many times; a row whose fingerprints differ "
               "between repetitions fails (nondeterminism).", metavar="N"),
        Option("suite-cpu-time-limit", Kind.SIM_TIME, "30000s", "CPU time limit of each suite row "
               "(opp_fingerprinttest's).", metavar="T"),
        # --- [image]: how the model is built, in the image and by `opp-ci run` first (opp_ci/image.py) ---
        Option("base", Kind.STRING, "ghcr.io/omnetpp/omnetpp:u24.04-6.2.0", "OMNeT++ base image of the simulation "
               "image.", table="image", metavar="IMAGE"),
        Option("build", Kind.STRING, None, "How the model is built, once (default in the image: `make MODE=release` "
               "with a Makefile, else opp_makemake first).", table="image", metavar="CMD"),
        Option("packages", Kind.STRINGS, [], "Extra Debian packages for the image.", table="image", metavar="PKG"),
        # --- [ecs]: the cloud backend ---
        *_ecs_options(),
    )


def _ecs_options() -> tuple[Option, ...]:
    def ecs(name: str, kind: Kind, default: Any, help: str, **more: Any) -> Option:
        return Option(name, kind, default, help, table="ecs", **more)

    return (
        ecs("image", Kind.STRING, None, "The worker image (the simulation built, with opp-ci).", metavar="URI"),
        ecs("region", Kind.STRING, None, "AWS region (default: AWS_REGION or AWS_DEFAULT_REGION).", metavar="NAME"),
        ecs("workers", Kind.INT, 2, "Worker tasks.", metavar="N"),
        ecs("spot", Kind.BOOL, False, "Run workers on Fargate Spot (Redis stays on Fargate)."),
        ecs("subnets", Kind.STRINGS, [], "Subnet(s) (default: the default VPC's).", metavar="ID",
            flag_name="subnet"),
        ecs("caller-cidr", Kind.STRING, None, "Address allowed to reach Redis (default: detected /32).",
            metavar="CIDR", env="OPP_CI_CALLER_CIDR"),
        ecs("ttl", Kind.DURATION, "3h", "Lifetime: tag expires-at, Redis stops itself.", env="OPP_CI_TTL"),
        ecs("repository", Kind.STRING, "", "opp-ci:repository tag value (default: $GITHUB_REPOSITORY).",
            env="GITHUB_REPOSITORY"),
        ecs("campaign", Kind.STRING, None, "Campaign id (default: generated).", metavar="ID", env=None),
        ecs("redis-image", Kind.STRING, "redis:7", "Redis image."),
        ecs("worker-cpu", Kind.INT, 1024, "Worker CPU units (1024 = 1 vCPU)."),
        ecs("worker-memory", Kind.INT, 2048, "Worker memory, MiB."),
        ecs("project-dir", Kind.STRING, "/project", "Project directory in the image."),
        ecs("burst", Kind.BOOL, False, "Start workers with --burst (they exit once the queue is empty)."),
        ecs("execution-role-arn", Kind.STRING, None, "Task execution role (default: role opp-ci-task-execution).",
            metavar="ARN"),
        ecs("task-role-arn", Kind.STRING, None, "Worker task role (default: role opp-ci-task).", metavar="ARN"),
        ecs("timeout", Kind.DURATION, "10m", "How long to wait for tasks and Redis.", metavar="DURATION"),
    )


OPTIONS: tuple[Option, ...] = _options()
BY_KEY: dict[str, Option] = {o.key: o for o in OPTIONS}


def option(key: str) -> Option:
    return BY_KEY[key]


def default(key: str) -> Any:
    """The declared default of a setting, converted (a duration in seconds, a list copied)."""
    return convert(BY_KEY[key], BY_KEY[key].default)


def table_options(table: str) -> list[Option]:
    return [o for o in OPTIONS if o.table == table]


# --- conversion and checking ---

_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|min|m|h|d)?")
_SIM_TIME = re.compile(r"^\s*\d+(\.\d+)?(e[+-]?\d+)?\s*(s|ms|us|ns|ps|fs|as|min|h|d)?\s*$", re.IGNORECASE)


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


_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*([kmgt]i?b?|b)?$")


def parse_size(value: Any, key: str = "size") -> int:
    """Bytes from `1048576`, `"64MiB"`, `"2G"` or `"500kB"`; 0 means no limit."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    match = _SIZE.match(str(value).strip().lower())
    if not match:
        raise UserError(f"{key}: {value!r} is not a size; write e.g. 1048576, \"64MiB\" or \"2GiB\" (0: no limit)")
    number, unit = float(match.group(1)), match.group(2) or ""
    power = "bkmgt".index(unit[0]) if unit else 0
    base = 1024 if "i" in unit else 1000
    return int(number * (base ** power if unit not in ("", "b") else 1))


def check_sim_time(value: Any, key: str) -> str | None:
    """An OMNeT++ time quantity such as `10min` or `3600s`, passed through to the simulation."""
    if value is None:
        return None
    text = str(value)
    if not _SIM_TIME.match(text):
        raise UserError(f"{key}: {value!r} is not an OMNeT++ time; write e.g. \"100s\", \"10min\" or \"1h\"")
    return text.replace(" ", "")


def _strings(value: Any, key: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise UserError(f"{key}: must be a list of strings, got {value!r}")
    return list(value)


def _int(value: Any, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).strip().lstrip("-").isdigit():
        raise UserError(f"{key}: {value!r} must be a whole number")
    return int(value)


def _float(value: Any, key: str) -> float:
    if isinstance(value, bool):
        raise UserError(f"{key}: {value!r} must be a number")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise UserError(f"{key}: {value!r} must be a number") from None


def _bool(value: Any, key: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise UserError(f"{key}: {value!r} must be true or false")


def _command(value: Any, key: str) -> list[str]:
    try:
        return shlex.split(value) if isinstance(value, str) else _strings(value, key)
    except ValueError as error:
        raise UserError(f"{key}: {value!r} cannot be split into words ({error}); check its quotes") from None


def _table(value: Any, key: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise UserError(f"{key}: must be a table")
    return dict(value)


_CONVERTERS: dict[Kind, Callable[[Any, str], Any]] = {
    Kind.STRING: lambda value, key: value if isinstance(value, str) else str(value),
    Kind.STRINGS: _strings,
    Kind.COMMAND: _command,
    Kind.INT: _int,
    Kind.FLOAT: _float,
    Kind.BOOL: _bool,
    Kind.DURATION: parse_duration,
    Kind.SIM_TIME: check_sim_time,
    Kind.TABLE: _table,
    Kind.SIZE: parse_size,
}


def convert(opt: Option, value: Any, where: str = "") -> Any:
    """A raw value (from the file, the environment or a flag) as the option's Python value."""
    key = f"{where}{opt.key}" if not where else f"{where}.{opt.name}"
    if value is None:
        return None
    converted = _CONVERTERS[opt.kind](value, key)
    if opt.choices:
        for item in converted if isinstance(converted, list) else [converted]:
            if item not in opt.choices:
                hint = _hint(item, opt.choices)
                raise UserError(f"{key}: unknown value {item!r}{hint}; choose one of: {', '.join(opt.choices)}")
    return converted


def _file_kind_ok(opt: Option, value: Any) -> bool:
    """Whether a value in opp-ci.toml has the option's kind (strings from the environment are converted)."""
    if opt.kind in (Kind.STRINGS,):
        return isinstance(value, list | str)
    if opt.kind is Kind.COMMAND:
        return isinstance(value, list | str)
    if opt.kind is Kind.INT:
        return isinstance(value, int) and not isinstance(value, bool)
    if opt.kind is Kind.FLOAT:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if opt.kind is Kind.BOOL:
        return isinstance(value, bool)
    if opt.kind is Kind.DURATION:
        return isinstance(value, int | float | str) and not isinstance(value, bool)
    if opt.kind is Kind.TABLE:
        return isinstance(value, dict)
    if opt.kind is Kind.SIZE:
        return isinstance(value, int | str) and not isinstance(value, bool)
    return isinstance(value, str)


def _hint(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


# --- the layers ---

#: Tables of opp-ci.toml other than [configs.*] that hold options.
TABLES = ("ecs", "image")


def read_file(project_dir: Path) -> dict[str, Any]:
    """The project's opp-ci.toml, checked key by key; {} when there is none."""
    path = Path(project_dir) / SPEC_FILE
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise UserError(f"{path}: not UTF-8 text; save it as UTF-8") from None
    except tomllib.TOMLDecodeError as error:
        raise UserError(f"{path}: {error}") from None
    check_layer(data, str(path))
    return data


def check_layer(data: Mapping[str, Any], where: str) -> None:
    """Unknown keys and values of the wrong kind, in the file's layout (top level, [configs.*], tables)."""
    top = {o.name: o for o in OPTIONS if not o.table and o.scope is not Scope.FLAG}
    _check_keys(data, {**top, **{t: None for t in TABLES}}, where)
    for table in TABLES:
        if table in data:
            if not isinstance(data[table], dict):
                raise UserError(f"{where}: {table!r} must be a table, e.g. [{table}]")
            _check_keys(data[table], {o.name: o for o in table_options(table)}, f"{where}: [{table}]")
    configs = data.get("configs", {})
    per_config = {o.name: o for o in OPTIONS if o.scope is Scope.CONFIG}
    for name, table in configs.items():
        if not isinstance(table, dict):
            raise UserError(f"{where}: configs.{name} must be a table, e.g. [configs.{name}]")
        _check_keys(table, per_config, f"{where}: [configs.{name}]")


def _check_keys(table: Mapping[str, Any], known: Mapping[str, Option | None], where: str) -> None:
    for key, value in table.items():
        if key not in known:
            raise UserError(f"{where}: unknown key {key!r}{_hint(key, known)}; known keys: {', '.join(sorted(known))}")
        opt = known[key]
        if opt is not None and not _file_kind_ok(opt, value):
            raise UserError(f"{where}: {key!r} must be {opt.kind.value}, got {value!r}")


def from_environment(environ: Mapping[str, str], table: str | None = None) -> dict[str, Any]:
    """The settings given as environment variables (`OPP_CI_WORKERS=4`, `OPP_CI_ECS_IMAGE=...`)."""
    found: dict[str, Any] = {}
    for opt in OPTIONS:
        if opt.env_var and environ.get(opt.env_var) and (table is None or opt.table == table):
            value: Any = environ[opt.env_var]
            found[opt.key] = value.split(",") if opt.kind is Kind.STRINGS else value
    return found


def flatten(data: Mapping[str, Any]) -> dict[str, Any]:
    """A file layer keyed like the declarations: `ecs.image` for `[ecs] image` (configs stay one table)."""
    flat = {k: v for k, v in data.items() if k not in TABLES}
    for table in TABLES:
        flat.update({f"{table}.{k}": v for k, v in data.get(table, {}).items()})
    return flat


@dataclass
class Settings:
    """Resolved values by key (`timeout`, `ecs.image`), with where each came from."""

    values: dict[str, Any]
    sources: dict[str, str]

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def given(self, key: str) -> bool:
        """Whether the user set it (file, environment or flag), not just the default."""
        return self.sources.get(key, "default") != "default"

    def table(self, table: str) -> dict[str, Any]:
        return {o.name: self.values[o.key] for o in table_options(table)}


def resolve(layers: Iterable[tuple[str, Mapping[str, Any]]], keys: Iterable[str] | None = None) -> Settings:
    """Merges layers (lowest first, each `(source, {key: raw value})`, None meaning "not given") over
    the defaults and converts every value; conversion errors name the key."""
    wanted = [BY_KEY[k] for k in keys] if keys is not None else list(OPTIONS)
    raw = {o.key: o.default for o in wanted}
    sources = dict.fromkeys(raw, "default")
    for source, layer in layers:
        for key, value in layer.items():
            if key in raw and value is not None and value != ():
                raw[key], sources[key] = value, source
    values = {o.key: convert(o, raw[o.key]) for o in wanted}
    return Settings(values, sources)


# --- the command line and the documentation, generated ---


def click_options(*keys: str, names: Mapping[str, str] | None = None, required: Iterable[str] = ()):
    """A decorator adding the click options of these settings; their values are None when not given,
    so the layers below them (file, environment, defaults) apply. `names` maps a key to the Python
    parameter name (default: the option name with `_`)."""
    import click

    def decorate(function):
        for key in reversed(keys):
            opt = BY_KEY[key]
            declarations = [opt.flag] + ([opt.short] if opt.short else [])
            param = (names or {}).get(key) or opt.name.replace("-", "_")
            extra: dict[str, Any] = {}
            if opt.kind is Kind.BOOL:
                extra = {"is_flag": True, "default": None}
            elif opt.choices:
                extra = {"type": click.Choice(opt.choices)}
            elif opt.kind is Kind.INT:
                extra = {"type": int}
            function = click.option(*declarations, param, multiple=opt.multiple, metavar=opt.metavar,
                                    required=key in required, help=help_text(opt), **extra)(function)
        return function

    return decorate


def help_text(opt: Option) -> str:
    shown = opt.default not in (None, [], {}, "", False)
    return opt.help + (f" [default: {_shown(opt.default)}]" if shown else "")


def _shown(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(value)
    return str(value).lower() if isinstance(value, bool) else str(value)


def markdown_table() -> str:
    """docs/options.md: every setting with its default, environment variable and flag."""
    lines = ["# opp-ci settings", "",
             "Generated from `opp_ci/options.py` (`python -m opp_ci.options > docs/options.md`);",
             "resolved in the order defaults, `opp-ci.toml`, environment, flags.", "",
             "| `opp-ci.toml` key | kind | default | environment | flag | what |", "|---|---|---|---|---|---|"]
    for opt in OPTIONS:
        key = "—" if opt.scope is Scope.FLAG else f"`[{opt.table}] {opt.name}`" if opt.table else f"`{opt.name}`"
        if opt.scope is Scope.CONFIG:
            key += " (also per config)"
        default_text = f"`{_shown(opt.default)}`" if opt.default not in (None, [], {}, "") else ""
        env = f"`{opt.env_var}`" if opt.env_var else ""
        flag = f"`{opt.flag}`" if opt.cli else ""
        lines.append(f"| {key} | {opt.kind.value} | {default_text} | {env} | {flag} | {opt.help} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown_table(), end="")
