#!/usr/bin/env python3
"""Stand-in for a compiled OMNeT++ 6.1 simulation (like samples/aloha's ``./aloha``).

It speaks the Cmdenv command line exactly as the real transcripts in
``shared/omnetpp-reference`` show (queries, run filters, errors, progress output,
fingerprint verdicts) and writes ``.sca``/``.vec``/``.vci`` files in the real
OMNeT++ result file format. The model is a tiny deterministic pure-Aloha channel
simulated packet by packet, so a run takes milliseconds.

Test hooks (module parameters, settable in the ini or with ``--**.NAME=VALUE``):
  **.behaviour = "normal" | "fail" | "crash" | "hang"
  **.wallTime  = 0.5s     (sleep this long during the run)
  **.cpuTime   = 0.5s     (burn this much CPU during the run)
  **.meanShift = 0.0      (added to the channelUtilization:last scalar)
  **.nondeterministic = true (the trajectory, and so the fingerprint, differs from run to run)
  **.failAt    = 10s      (simulation time of the failure/crash/hang; default: half of the limit)
  **.maxSimTime = 3600s   (stand-in only: without sim-time-limit and cpu-time-limit the real
                           aloha runs forever; the stand-in's hosts stop sending here, and the
                           run ends with "No more events, simulation completed")

Only the standard library is used, and nothing heavy is imported, to keep startup fast.
"""

from __future__ import annotations

import hashlib
import heapq
import math
import os
import random
import re
import signal
import sys
import time
from dataclasses import dataclass, field
from typing import ClassVar

BANNER = (
    "OMNeT++ Discrete Event Simulation  (C) 1992-2024 Andras Varga, OpenSim Ltd.\n"
    "Version: 6.1, build: internal, edition: Academic Public License -- NOT FOR COMMERCIAL USE\n"
    "See the license for distribution terms and warranty disclaimer\n"
    "\n"
)
NETWORK_NAME = "Aloha"
TX_RATE_BPS = 9600.0
PK_LEN_BITS = 952.0

def words(text: str) -> list[str]:
    return text.split()


# All configuration options of OMNeT++ 6.1 (from its Register_*ConfigOption calls); "%" stands
# for a number. Global options may only occur in [General]; per-object ones need an object
# pattern, e.g. ``**.vector-recording``.
GLOBAL_OPTIONS = words("""
cmdenv-config-name cmdenv-extra-stack cmdenv-runs-to-execute configuration-class
debugger-attach-command debugger-attach-on-error debugger-attach-on-startup
debugger-attach-wait-time fname-append-host image-path load-libs ned-package-exclusions ned-path
output-scalar-db-commit-freq output-vector-db-indexing parallel-simulation
parsim-communications-class parsim-debug parsim-filecommunications-prefix
parsim-filecommunications-preserve-read parsim-filecommunications-read-prefix
parsim-idealsimulationprotocol-tablesize parsim-mpicommunications-mpibuffer
parsim-namedpipecommunications-prefix parsim-nullmessageprotocol-laziness
parsim-nullmessageprotocol-lookahead-class parsim-num-partitions parsim-synchronization-class
qtenv-default-config qtenv-default-run qtenv-extra-stack realtimescheduler-scaling
sectionbasedconfig-configreader-class simtime-resolution simtime-scale total-stack
user-interface
""")
PER_RUN_OPTIONS = words("""
abstract allow-object-stealing-on-deletion check-signals cmdenv-autoflush
cmdenv-event-banner-details cmdenv-event-banners cmdenv-express-mode cmdenv-fake-gui
cmdenv-fake-gui-after-event-probability cmdenv-fake-gui-before-event-probability
cmdenv-fake-gui-on-hold-numsteps cmdenv-fake-gui-on-hold-probability
cmdenv-fake-gui-on-simtime-numsteps cmdenv-fake-gui-on-simtime-probability cmdenv-fake-gui-seed
cmdenv-interactive cmdenv-log-prefix cmdenv-output-file cmdenv-performance-display
cmdenv-redirect-output cmdenv-status-frequency cmdenv-stop-batch-on-error config-recording
constraint cpu-time-limit debug-on-errors debug-statistics-recording description eventlog-file
eventlog-index-frequency eventlog-max-size eventlog-message-detail-pattern
eventlog-min-truncated-size eventlog-options eventlog-recording-intervals
eventlog-snapshot-frequency eventlogmanager-class experiment-label extends fingerprint
fingerprint-events fingerprint-ingredients fingerprint-modules fingerprint-results
fingerprintcalculator-class futureeventset-class iteration-nesting-order max-module-nesting
measurement-label network num-rngs output-scalar-file output-scalar-file-append
output-scalar-precision output-vector-file output-vector-file-append output-vector-precision
output-vectors-memory-limit outputscalarmanager-class outputvectormanager-class
parameter-mutability-check print-instantiated-ned-types print-undisposed print-unused-parameters
real-time-limit record-eventlog repeat replication-label result-dir resultdir-subdivision
rng-class runnumber-width scheduler-class seed-%-lcg32 seed-%-mt seed-%-mt-p% seed-set
sim-time-limit snapshot-file snapshotmanager-class warmup-period warnings
""")
PER_OBJECT_OPTIONS = words("""
bin-recording cmdenv-log-level display-name display-string module-eventlog-recording
param-record-as-scalar param-recording partition-id result-recording-modes rng-%
scalar-recording statistic-recording typename vector-buffer vector-record-empty
vector-record-eventnumbers vector-recording vector-recording-intervals with-akaroa
""")


def find_option(name: str) -> str | None:
    """Return the option's kind ("global", "perrun", "perobject") or None if unknown."""
    for kind, names in (("global", GLOBAL_OPTIONS), ("perrun", PER_RUN_OPTIONS),
                        ("perobject", PER_OBJECT_OPTIONS)):
        for option in names:
            if option == name or ("%" in option and re.fullmatch(option.replace("%", r"\d+"), name)):
                return kind
    return None


UNIT_FACTORS = {
    "s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9, "ps": 1e-12, "fs": 1e-15,
    "min": 60.0, "h": 3600.0, "d": 86400.0,
}


class OppError(Exception):
    """An error OMNeT++ would report as ``<!> Error: MESSAGE`` (exit status 1)."""


class SimError(OppError):
    """An error raised by a module during the simulation."""


# ---------------------------------------------------------------------------
# Formatting helpers


def fmt_simtime(t: float) -> str:
    """Format a simulation time like SimTime::str() (picosecond resolution)."""
    text = f"{t:.12f}".rstrip("0").rstrip(".")
    return text or "0"


def fmt_num(x: float) -> str:
    """Format a result value like OMNeT++ does in result files (%.14g)."""
    if isinstance(x, int) or (math.isfinite(x) and x == int(x) and abs(x) < 1e15):
        return str(int(x))
    return format(x, ".14g")


def quote_if_needed(text: str) -> str:
    """Quote a value in a result file line if it contains spaces, quotes or is empty."""
    if text == "" or any(c in text for c in ' \t"\\'):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return text


def config_value(text: str) -> str:
    """A config value in a result file: a string literal as written, anything else quoted if needed."""
    if re.fullmatch(r'"(?:[^"\\]|\\.)*"', text):
        return text
    return quote_if_needed(text)


def parse_quantity(text: str, what: str = "value") -> float:
    """Parse ``600``, ``10min``, ``1h 30min``, ``0.5s`` into seconds (or a plain number)."""
    s = text.strip().strip('"')
    parts = re.findall(r"\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*([a-zA-Z]*)", s)
    if not parts or "".join(n + u for n, u in parts) != re.sub(r"\s+", "", s):
        raise OppError(f"Cannot parse {what} '{text}'")
    total = 0.0
    for number, unit in parts:
        if unit and unit not in UNIT_FACTORS and unit not in ("b", "bps", "m", "kbps"):
            raise OppError(f"Cannot parse {what} '{text}': unknown unit '{unit}'")
        total += float(number) * UNIT_FACTORS.get(unit, 1.0)
    return total


def elapsed_str(secs: float) -> str:
    """Format elapsed wall time like Cmdenv's timeToStr()."""
    whole = int(secs)
    if whole < 3600:
        return f"{secs:g}s ({whole // 60}m {whole % 60:02d}s)"
    return f"{secs:g}s ({whole // 3600}h {whole % 3600 // 60:02d}m)"


# ---------------------------------------------------------------------------
# Ini files


@dataclass
class Entry:
    """One ``key = value`` line of an ini file (or of the command line)."""

    key: str
    value: str
    file: str = "<commandline>"
    line: int = 0


@dataclass
class IniContents:
    """Sections in file order, each a list of entries; the first ini file's name."""

    sections: dict[str, list[Entry]] = field(default_factory=dict)
    first_file: str = ""


def strip_comment(line: str) -> str:
    """Remove a ``#`` comment that is not inside a string constant."""
    in_string = False
    i = 0
    while i < len(line):
        c = line[i]
        if c == "\\" and in_string:
            i += 2
            continue
        if c == '"':
            in_string = not in_string
        elif c == "#" and not in_string:
            return line[:i].rstrip()
        i += 1
    return line.rstrip()


def joined_lines(text: str) -> list[tuple[int, str]]:
    """Join continued lines like InifileReader::forEachJoinedLine(); return (first line number, text).

    A trailing backslash joins the next line; an indented non-blank line continues the previous
    non-blank, non-comment line (joined with a newline). Blank lines are dropped.
    """
    raw_lines = text.split("\n")
    if raw_lines and raw_lines[-1] == "":
        raw_lines.pop()
    result: list[tuple[int, str]] = []
    concat, start = "", -1
    for number, raw in enumerate(raw_lines, start=1):
        if raw and raw[-1] in "\r\x0b\x0c":
            raw = raw[:-1]
        if concat.endswith("\\"):
            concat = concat[:-1] + raw
        elif concat.strip() and not concat.lstrip().startswith("#") and raw.strip() and raw[0] in " \t":
            concat += "\n" + raw
        else:
            if start != -1 and concat.strip():
                result.append((start, concat))
            concat, start = raw, number
    if start != -1 and concat.strip():
        result.append((start, concat[:-1] if concat.endswith("\\") else concat))
    return result


def read_ini(filename: str, contents: IniContents, including: tuple[str, ...] = ()) -> None:
    """Read an ini file into ``contents`` with OMNeT++'s error messages."""
    if not contents.first_file:
        contents.first_file = filename
    try:
        with open(filename, encoding="utf-8") as f:
            text = f.read()
    except OSError:
        raise OppError(f"Cannot open ini file '{filename}'") from None
    section: str | None = None
    seen: set[str] = set()
    for number, line in joined_lines(text):
        where = f"'{filename}' line {number}"
        if line[0] in " \t":
            raise OppError(
                "Content must begin on column 1 because indentation is used for line continuation, "
                + where)
        if line.startswith("#"):
            continue
        if line.startswith(";"):
            raise OppError("Use hash mark instead of semicolon to start comments, " + where)
        content = " ".join(strip_comment(part).strip() for part in line.split("\n")).strip()
        if content.startswith("include") and content[7:8].isspace():
            included = os.path.join(os.path.dirname(filename), content[7:].strip())
            if os.path.abspath(included) in including:
                raise OppError(f"Ini file '{included}' includes itself, directly or indirectly")
            read_ini(included, contents, (*including, os.path.abspath(filename)))
            continue
        if content.startswith("["):
            if not content.endswith("]"):
                raise OppError("Syntax error in section heading, " + where)
            name = content[1:-1].strip()
            name = name[len("Config "):].strip() if name.startswith("Config ") else name
            if not name:
                raise OppError("Section name cannot be empty, " + where)
            if name in seen:
                raise OppError(f"Duplicate section '{name}' within file, " + where)
            seen.add(name)
            section = name
            contents.sections.setdefault(name, [])
            continue
        key, eq, value = content.partition("=")
        if not eq or not key.strip():
            raise OppError("Line must be in the form key=value, " + where)
        if section is None:
            section = "General"
            contents.sections.setdefault(section, [])
        contents.sections[section].append(Entry(key.strip(), value.strip(), filename, number))


# ---------------------------------------------------------------------------
# Expressions (run filters and constraints)

TOKEN_RE = re.compile(
    r"\s*(?:(?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?[a-zA-Z]*)"
    r'|(?P<str>"(?:[^"\\]|\\.)*")'
    r"|(?P<op>\|\||&&|==|!=|<=|>=|=~|[<>!()+\-*/%^])"
    r"|(?P<id>[A-Za-z_][A-Za-z0-9_.]*))"
)


def tokenize(text: str) -> list[tuple[str, str]]:
    """Split an expression into (kind, text) tokens."""
    tokens: list[tuple[str, str]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = TOKEN_RE.match(text, pos)
        if not m or m.end() == pos:
            raise OppError(f"Syntax error in expression '{text}'")
        kind = m.lastgroup or ""
        tokens.append((kind, m.group(kind)))
        pos = m.end()
    return tokens


def literal_value(kind: str, text: str) -> float | str | bool:
    """Turn a literal token into a Python value (quantities become base-unit numbers)."""
    if kind == "num":
        m = re.fullmatch(r"([^a-zA-Z]+)([a-zA-Z]*)", text)
        assert m
        number, unit = m.groups()
        return float(number) * UNIT_FACTORS.get(unit, 1.0)
    if kind == "str":
        return bytes(text[1:-1], "utf-8").decode("unicode_escape")
    if text in ("true", "false"):
        return text == "true"
    return text  # a bare word compares as a string


class ExprParser:
    """Recursive-descent evaluator for OMNeT++ run filter / constraint expressions."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.pos = 0

    def evaluate(self) -> float | str | bool:
        if not self.tokens:
            raise OppError("Empty expression")
        value = self.parse_or()
        if self.pos != len(self.tokens):
            raise OppError(f"Syntax error in expression '{self.text}'")
        return value

    def peek(self) -> str | None:
        return self.tokens[self.pos][1] if self.pos < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        if self.pos >= len(self.tokens):
            raise OppError(f"Syntax error in expression '{self.text}'")
        self.pos += 1
        return self.tokens[self.pos - 1]

    def parse_or(self) -> float | str | bool:
        left = self.parse_and()
        while self.peek() == "||":
            self.take()
            right = self.parse_and()
            left = as_bool(left) or as_bool(right)
        return left

    def parse_and(self) -> float | str | bool:
        left = self.parse_cmp()
        while self.peek() == "&&":
            self.take()
            right = self.parse_cmp()
            left = as_bool(left) and as_bool(right)
        return left

    def parse_cmp(self) -> float | str | bool:
        left = self.parse_add()
        while self.peek() in ("==", "!=", "<", ">", "<=", ">=", "=~"):
            op = self.take()[1]
            left = compare(op, left, self.parse_add())
        return left

    def parse_add(self) -> float | str | bool:
        left = self.parse_mul()
        while self.peek() in ("+", "-"):
            op = self.take()[1]
            right = self.parse_mul()
            if op == "+" and isinstance(left, str) and isinstance(right, str):
                left = left + right
            else:
                left = num(left) + num(right) if op == "+" else num(left) - num(right)
        return left

    def parse_mul(self) -> float | str | bool:
        left = self.parse_unary()
        while self.peek() in ("*", "/", "%", "^"):
            op = self.take()[1]
            right = num(self.parse_unary())
            if op == "*":
                left = num(left) * right
            elif op == "^":
                left = num(left) ** right
            elif right == 0:
                raise OppError("Division by zero")
            else:
                left = num(left) / right if op == "/" else math.fmod(num(left), right)
        return left

    def parse_unary(self) -> float | str | bool:
        if self.peek() == "!":
            self.take()
            return not as_bool(self.parse_unary())
        if self.peek() == "-":
            self.take()
            return -num(self.parse_unary())
        if self.peek() == "(":
            self.take()
            value = self.parse_or()
            if self.take()[1] != ")":
                raise OppError(f"Syntax error in expression '{self.text}'")
            return value
        kind, text = self.take()
        if kind == "op":
            raise OppError(f"Syntax error in expression '{self.text}'")
        return literal_value(kind, text)


def num(v: float | str | bool) -> float:
    if isinstance(v, str):
        raise OppError(f"Number expected, got string \"{v}\"")
    return float(v)


def as_bool(v: float | str | bool) -> bool:
    if isinstance(v, str):
        raise OppError(f"Boolean expected, got string \"{v}\"")
    return bool(v)


def compare(op: str, a: float | str | bool, b: float | str | bool) -> bool:
    """Compare numbers numerically and strings as strings (mixed: as strings)."""
    if op == "=~":
        return re.fullmatch(str(b).replace("*", ".*").replace("?", "."), str(a)) is not None
    if isinstance(a, str) or isinstance(b, str):
        x: object = str(a) if not isinstance(a, str) else a
        y: object = str(b) if not isinstance(b, str) else b
    else:
        x, y = float(a), float(b)
    return {
        "==": x == y, "!=": x != y, "<": x < y, ">": x > y,  # type: ignore[operator]
        "<=": x <= y, ">=": x >= y,  # type: ignore[operator]
    }[op]


def substitute_dollar_vars(text: str, variables: dict[str, str]) -> str:
    """Replace ``$name`` and ``${name}`` like opp_substitutevariables()."""

    def repl(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        if name not in variables:
            raise OppError(f"Unknown variable ${name}")
        return variables[name]

    return re.sub(r"\$\{([A-Za-z0-9_]+)\}|\$([A-Za-z0-9_]+)", repl, text)


# ---------------------------------------------------------------------------
# Configuration: sections, inheritance, iteration variables


@dataclass
class IterVar:
    """An iteration variable ``${name=values}`` with its expanded values."""

    name: str
    values: list[str]
    parvar: str | None = None  # ``${b=1,2 ! a}``: b takes its i-th value when a takes its i-th


def combinations(variables: list[IterVar]) -> list[list[tuple[str, str]]]:
    """All value combinations, first variable slowest; parallel variables follow their partner."""
    indices: list[dict[str, int]] = [{}]
    for var in variables:
        if var.parvar is None:
            indices = [{**c, var.name: i} for c in indices for i in range(len(var.values))]
    result = []
    for chosen in indices:
        combo = []
        for var in variables:
            i = chosen[var.parvar] if var.parvar else chosen[var.name]
            if i >= len(var.values):
                raise OppError(f"Scenario generator: Parallel iterator ${{...!{var.parvar}}} "
                               "does not have enough values")
            combo.append((var.name, var.values[i]))
        result.append(combo)
    return result


def split_top_level(text: str, sep: str = ",") -> list[str]:
    """Split on ``sep`` outside quotes and brackets."""
    parts: list[str] = []
    depth, in_string, start, i = 0, False, 0, 0
    while i < len(text):
        c = text[i]
        if in_string:
            if c == "\\":
                i += 1
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif c == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
        i += 1
    parts.append(text[start:])
    return [p.strip() for p in parts]


def fmt_iter_number(x: float) -> str:
    """Format a value of a ``a..b step c`` range (15 significant digits hide float noise)."""
    return str(int(x)) if x == int(x) else format(x, ".15g")


def expand_iter_values(spec: str) -> list[str]:
    """Expand ``1,2,5..9 step 2`` into ``['1', '2', '5', '7', '9']``."""
    values: list[str] = []
    for item in split_top_level(spec):
        m = re.fullmatch(r"(.+?)\s*\.\.\s*(.+?)(?:\s+step\s+(.+))?", item)
        if m and not item.startswith('"'):
            try:
                lo, hi = float(m.group(1)), float(m.group(2))
                step = float(m.group(3)) if m.group(3) else 1.0
            except ValueError:
                raise OppError(f"Cannot parse iteration variable value '{item}'") from None
            if step == 0:
                raise OppError("Step cannot be zero")
            x, i = lo, 0
            while (step > 0 and x <= hi + 1e-12) or (step < 0 and x >= hi - 1e-12):
                values.append(fmt_iter_number(x))
                i += 1
                x = lo + i * step
        else:
            values.append(item)
    return values


ITERVAR_RE = re.compile(r"\$\{\s*(?:([A-Za-z_][A-Za-z0-9_]*)\s*=\s*)?([^}]*)\}")


@dataclass
class Run:
    """One run of a config: its number and variables (itervars first, then predefined)."""

    number: int
    itervars: list[tuple[str, str]]  # in declaration order, without repetition
    repetition: int
    variables: dict[str, str] = field(default_factory=dict)

    @property
    def info(self) -> str:
        """The ``-q runs`` text: ``$a=1, $b=2, $repetition=0``."""
        parts = [f"${n}={v}" for n, v in self.itervars] + [f"$repetition={self.repetition}"]
        return ", ".join(parts)

    @property
    def iterationvars(self) -> str:
        return ", ".join(f"${n}={v}" for n, v in self.itervars)


class Config:
    """The merged configuration: ini sections plus command-line options."""

    def __init__(self, ini: IniContents, cmdline: list[Entry]) -> None:
        self.ini = ini
        self.cmdline = cmdline

    def config_names(self) -> list[str]:
        return list(self.ini.sections)  # like getConfigNames(): the sections, in file order

    def chain(self, config: str) -> list[str]:
        """Section fallback chain: the config, its bases depth-first, General last."""
        if config != "General" and config not in self.ini.sections:
            raise OppError(f"No such config: {config}")
        order: list[str] = []

        def visit(name: str, path: tuple[str, ...]) -> None:
            if name in path:
                raise OppError(f"Cycle detected in section fallback chain at: {name}")
            if name != "General" and name not in self.ini.sections:
                raise OppError(f"Section not found: {name}")
            if name not in order:
                order.append(name)
            if name == "General":
                return
            extends = next((e.value for e in self.ini.sections[name] if e.key == "extends"), "")
            for base in re.split(r"[,\s]+", extends.strip()):
                if base:
                    visit(base, (*path, name))

        visit(config, ())
        if "General" in order:
            order.remove("General")
        order.append("General")
        return order

    def entries(self, config: str) -> list[Entry]:
        """All entries in lookup order: command line first, then the section chain."""
        result = list(self.cmdline)
        for name in self.chain(config):
            result.extend(self.ini.sections.get(name, []))
        return result

    def config_brief(self, config: str, run: Run) -> str:
        """The entries that contain ``${...}``, expanded, tab-indented (``-q rundetails``)."""
        lines = [f"\t{e.key} = {self.substitute(e.value, run.variables)}\n"
                 for name in self.chain(config) for e in self.ini.sections.get(name, []) if "${" in e.value]
        return "".join(lines)

    def raw_option(self, config: str, key: str) -> str | None:
        for e in self.entries(config):
            if e.key == key:
                return e.value
        return None

    def itervars(self, config: str) -> list[IterVar]:
        """Iteration variables in declaration order (chain order, then entry order)."""
        result: list[IterVar] = []
        unnamed = 0
        for name in self.chain(config):
            for e in self.ini.sections.get(name, []):
                for m in ITERVAR_RE.finditer(e.value):
                    var_name, spec = m.group(1), m.group(2).strip()
                    if var_name is not None and spec == "":
                        continue
                    if var_name is None:
                        if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", spec):
                            continue  # a reference like ${repetition}
                        var_name = str(unnamed)
                        unnamed += 1
                    if any(v.name == var_name for v in result):
                        raise OppError(
                            "Scenario generator: Redefinition of iteration variable "
                            f"${{{var_name}}} in the configuration")
                    parts = split_top_level(spec, "!")
                    parvar = parts[1] if len(parts) == 2 and parts[1].isidentifier() else None
                    values = expand_iter_values(parts[0] if parvar else spec)
                    result.append(IterVar(var_name, values, parvar))
        for var in result:
            if var.parvar and not any(v.name == var.parvar for v in result):
                raise OppError(f"Scenario generator: Undefined variable ${var.parvar}, referenced from the "
                               f"definition of ${var.name} as parallel variable")
        return result

    def unroll(self, config: str) -> list[Run]:
        """All runs of a config in OMNeT++ order: first variable slowest, repetition fastest."""
        variables = self.itervars(config)
        repeat_text = self.raw_option(config, "repeat") or "1"
        try:
            repeat = int(self.substitute(repeat_text, {}))
        except ValueError:
            raise OppError(f"Cannot parse repeat value '{repeat_text}'") from None
        constraint = self.raw_option(config, "constraint")
        runs: list[Run] = []
        for combo in combinations(variables):
            if constraint and not self.constraint_ok(constraint, combo):
                continue
            for rep in range(repeat):
                runs.append(Run(len(runs), combo, rep))
        for run in runs:
            run.variables = self.run_variables(config, run)
        return runs

    def constraint_ok(self, constraint: str, combo: list[tuple[str, str]]) -> bool:
        try:
            return as_bool(ExprParser(substitute_dollar_vars(constraint, dict(combo))).evaluate())
        except OppError as e:
            raise OppError(f"Cannot evaluate constraint: {e}") from None

    def run_variables(self, config: str, run: Run) -> dict[str, str]:
        """Iteration variables plus OMNeT++'s predefined variables for a run."""
        v: dict[str, str] = dict(run.itervars)
        v["repetition"] = str(run.repetition)
        segments = [
            (f"{n}=" if n[0].isalpha() else "") + filename_encode(unquote(val))
            for n, val in run.itervars
        ]
        v["iterationvars"] = run.iterationvars
        v["iterationvarsf"] = ",".join(segments) + ("-" if segments else "")
        v["iterationvarsd"] = "/".join(segments)
        datetime = time.strftime("%Y%m%d-%H:%M:%S")
        v["inifile"] = self.ini.first_file
        v["configname"] = config
        v["runnumber"] = str(run.number)
        v["network"] = self.option(config, "network", v, "")
        v["processid"] = str(os.getpid())
        v["datetime"] = datetime
        v["datetimef"] = datetime.replace(":", "")
        v["runid"] = f"{config}-{run.number}-{datetime}-{os.getpid()}"
        v["resultdir"] = self.option(config, "result-dir", v, "results")
        seedset = self.option(config, "seed-set", v, "${runnumber}")
        try:
            v["seedset"] = str(int(float(seedset)))
        except ValueError:
            raise OppError(f"Cannot parse seed-set value '{seedset}'") from None
        v["experiment"] = self.option(config, "experiment-label", v, "${configname}")
        v["measurement"] = self.option(config, "measurement-label", v, "${iterationvars}")
        v["replication"] = self.option(config, "replication-label", v, "#${repetition}")
        return v

    def substitute(self, value: str, variables: dict[str, str]) -> str:
        """Replace ``${name=...}`` with the current value and ``${name}`` references."""
        unnamed = iter(range(1000))

        def repl(m: re.Match[str]) -> str:
            name, spec = m.group(1), m.group(2).strip()
            if name is None and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", spec):
                name = spec
            elif name is None:
                name = str(next(unnamed))
            if name not in variables:
                raise OppError(f"Unknown variable ${{{name}}}")
            return variables[name]

        return ITERVAR_RE.sub(repl, value)

    def option(self, config: str, key: str, variables: dict[str, str], default: str) -> str:
        """A config option's value with variables substituted and string quotes removed."""
        raw = self.raw_option(config, key)
        value = self.substitute(raw if raw is not None else default, variables)
        return unquote(value)

    def param(self, config: str, path: str, variables: dict[str, str], default: str) -> str:
        """The value of module parameter ``path`` (e.g. ``Aloha.server.behaviour``)."""
        for e in self.entries(config):
            if "." in e.key and "-" not in e.key.rsplit(".", 1)[1] and pattern_matches(e.key, path):
                return self.substitute(e.value, variables)
        return default

    def per_object_option(self, config: str, name: str, variables: dict[str, str]) -> str | None:
        for e in self.entries(config):
            if e.key == name or e.key.endswith("." + name):
                return self.substitute(e.value, variables)
        return None


def unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        return bytes(text[1:-1], "utf-8").decode("unicode_escape")
    return text


def filename_encode(text: str) -> str:
    """Make a value safe in a file name, like opp_filenameencode()."""
    return re.sub(r'[\\/:*?"<>| ]', "_", text)


def pattern_matches(pattern: str, path: str) -> bool:
    """Match an ini key pattern (``**.x``, ``Aloha.host[*].y``) against a full path."""
    regex = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            regex += ".*"
            i += 2
        elif pattern[i] == "*":
            regex += r"[^.]*"
            i += 1
        elif pattern[i] == "?":
            regex += r"[^.]"
            i += 1
        else:
            regex += re.escape(pattern[i])
            i += 1
    return re.fullmatch(regex, path) is not None


# ---------------------------------------------------------------------------
# Command line


@dataclass
class Args:
    """Parsed command line of the simulation executable."""

    ui: str | None = None
    config: str | None = None
    run_filter: str | None = None
    query: str | None = None
    echo: str | None = None
    ned_path: str | None = None
    errors_to_stdout: ClassVar[bool] = False
    silent: bool = False
    all_configs: bool = False
    ini_files: list[str] = field(default_factory=list)
    options: list[Entry] = field(default_factory=list)
    help: bool = False
    version: bool = False


VALUE_FLAGS = {"-u": "ui", "-c": "config", "-r": "run_filter", "-q": "query", "-f": "ini",
               "-n": "ned_path", "-l": None, "-x": None, "-i": None, "-p": None, "-e": "echo"}


def parse_args(argv: list[str]) -> Args:
    """Parse the command line like OMNeT++'s ArgList.

    Long options may be ``--key=value`` or ``--key value``; a repeated long option keeps its last
    value and long options are kept sorted by key (ArgList stores them in a std::map, which is
    also the order of the ``config`` lines they produce in result files). Single-valued short
    options keep their first value.
    """
    args = Args()
    long_opts: dict[str, str] = {}
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--":
            args.ini_files.extend(argv[i + 1:])
            break
        if a.startswith("--"):
            key, eq, value = a[2:].partition("=")
            if not eq and i + 1 < len(argv):
                i += 1
                value = argv[i]
            long_opts[key] = value
        elif a.startswith("-") and len(a) > 1:
            flag = a[:2]
            if flag in VALUE_FLAGS:
                value = a[2:]
                if not value:
                    if i + 1 >= len(argv):
                        raise OppError(f"command-line option {a} is missing required argument")
                    i += 1
                    value = argv[i]
                attr = VALUE_FLAGS[flag]
                if attr == "ini":
                    args.ini_files.append(value)
                elif attr and getattr(args, attr) is None:
                    setattr(args, attr, value)
            elif flag in ("-s", "-a", "-h", "-v", "-m", "-w"):
                if len(a) > 2:
                    raise OppError(f"command-line option {flag} expects no argument")
                args.silent |= flag == "-s"
                args.all_configs |= flag == "-a"
                args.help |= flag == "-h"
                args.version |= flag == "-v"
                if flag == "-m":
                    Args.errors_to_stdout = True  # -m: merge errors into stdout
            else:
                raise OppError(f"Invalid command-line option {a}, try -h for help")
        else:
            args.ini_files.append(a)
        i += 1
    args.options = [Entry(k, v) for k, v in sorted(long_opts.items())]
    return args


def validate_options(options: list[Entry]) -> None:
    """Reject unknown ``--key=value`` options exactly like SectionBasedConfiguration::validate()."""
    for e in options:
        key = e.key
        last = key.rsplit(".", 1)[-1]
        if "." in key and "-" not in last:
            continue  # a parameter assignment like --**.behaviour=fail
        kind = find_option(last)
        if kind is None:
            raise OppError(f"Unknown command-line configuration option --{key}")
        if "." in key and kind != "perobject":
            raise OppError(
                f"Invalid command-line configuration option --{key}: {last} is not a per-object option")


def validate_ini(ini: IniContents) -> None:
    """Check ini keys and section inheritance like SectionBasedConfiguration::validate()."""
    for section, entries in ini.sections.items():
        if " " in section:
            raise OppError(f"Invalid section name [{section}]: It may not contain spaces")
        if not (section[0].isalpha() or section[0] == "_"):
            raise OppError(f"Invalid section name [{section}]: Must begin with a letter or underscore")
        for e in entries:
            key = e.key
            if "." not in key and "*" not in key and "?" not in key:
                kind = find_option(key)
                if kind is None:
                    raise OppError(f"Unknown configuration option: {key}")
                if kind == "perobject":
                    raise OppError(
                        f"Configuration option {key} should be specified per object, try **.{key}=")
                if kind == "global" and section != "General":
                    raise OppError(f"Configuration option {key} may only occur in the [General] section")
                if key == "extends":
                    validate_extends(ini, section, e.value)
            else:
                suffix = key.rsplit(".", 1)[-1]
                if "-" in suffix and find_option(suffix) != "perobject":
                    raise OppError(f"Unknown per-object configuration option '{suffix}' in {key}")


def validate_extends(ini: IniContents, section: str, value: str) -> None:
    if section == "General":
        raise OppError("The [General] section cannot extend other sections")
    for base in re.split(r"[,\s]+", value.strip()):
        if base and base != "General" and base not in ini.sections:
            raise OppError(f"No such config: {base}")


# ---------------------------------------------------------------------------
# Run filters and queries


def resolve_run_filter(cfg: Config, config: str, run_filter: str | None) -> list[int]:
    """Select run numbers like EnvirBase::resolveRunFilter()."""
    runs = cfg.unroll(config)
    if run_filter is None or not run_filter.strip():
        return [r.number for r in runs]
    if all(c in "0123456789,.- " for c in run_filter):
        return parse_run_list(run_filter, len(runs))
    selected: list[int] = []
    for run in runs:
        try:
            expanded = substitute_dollar_vars(run_filter, run.variables)
            if as_bool(ExprParser(expanded).evaluate()):
                selected.append(run.number)
        except OppError as e:
            raise OppError(f"Cannot evaluate run filter: {e}") from None
    return selected


def parse_run_list(run_filter: str, num_runs: int) -> list[int]:
    numbers: list[int] = []
    for item in run_filter.replace(" ", "").split(","):
        m = re.fullmatch(r"(\d+)(?:(?:\.\.|-)(\d+))?", item)
        if not m:
            raise OppError(f"Syntax error in run list '{run_filter}'")
        lo = int(m.group(1))
        hi = int(m.group(2)) if m.group(2) else lo
        for n in range(lo, hi + 1):
            if n >= num_runs:
                raise OppError(
                    f"Run number {n} in run list '{run_filter}' is out of range 0..{num_runs - 1}")
            numbers.append(n)
    return numbers


def print_run_info(cfg: Config, config: str, run_filter: str | None, query: str, verbose: bool) -> int:
    """Implement ``-q numruns|runnumbers|runs`` like EnvirBase::printRunInfo()."""
    q = query.lower()
    out = sys.stdout
    if q == "sectioninheritance":
        if verbose:
            out.write("\n")
        for name in cfg.chain(config):
            out.write(("Config " + name if name != "General" else name) + "\n")
        return 0
    if "run" not in q:
        error(f"Unrecognized -q argument '{q}'")
        return 1
    selected = resolve_run_filter(cfg, config, run_filter)
    runs = cfg.unroll(config)
    if verbose:
        out.write(f"Config: {config}\nNumber of runs: {len(runs)}\n")
        if run_filter is not None and run_filter.strip():
            out.write(f"Number of runs selected: {len(selected)}\n")
    if q == "numruns":
        if not verbose:
            out.write(f"{len(selected)}\n")
    elif q == "runnumbers":
        if verbose:
            out.write("\nRun numbers:")
        out.write("".join(f" {n}" for n in selected) + "\n")
    elif q == "runs":
        if verbose:
            out.write("\n")
        for n in selected:
            out.write(f"Run {n}: {runs[n].info}\n")
    elif q in ("rundetails", "runconfig"):
        if verbose:
            out.write("\n")
        for n in selected:
            out.write(f"Run {n}: {runs[n].info}\n")
            if q == "rundetails":
                out.write(cfg.config_brief(config, runs[n]))
            else:
                variables = runs[n].variables
                out.write("".join(f"\t{e.key} = {cfg.substitute(e.value, variables)}\n"
                                  for e in cfg.entries(config)))
            if n != selected[-1]:
                out.write("\n")
    else:
        error(f"Unrecognized -q argument '{q}'")
        return 1
    return 0


def print_config_value(cfg: Config, config: str, run_filter: str | None, option: str) -> int:
    """Implement ``-e OPTION`` like EnvirBase::printConfigValue()."""
    selected = resolve_run_filter(cfg, config, run_filter)
    if not selected:
        raise OppError("Run filter does not match any run")
    if len(selected) > 1:
        raise OppError(f"Run filter matches more than one run ({len(selected)})")
    run = cfg.unroll(config)[selected[0]]
    sys.stdout.write(cfg.option(config, option, run.variables, "") + "\n")
    return 0


def error(message: str, stream: object = None) -> None:
    """Print an error the way OMNeT++ does: a blank line, then ``<!> Error: ...``."""
    sys.stdout.flush()
    target = stream or (sys.stdout if Args.errors_to_stdout else sys.stderr)
    target.write(f"\n<!> Error: {message}\n")  # type: ignore[attr-defined]
    target.flush()  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------
# The model: pure Aloha, one packet at a time


@dataclass
class RunSetup:
    """Everything a run needs, resolved from the configuration."""

    config: str
    run: Run
    num_hosts: int
    ia_means: list[float]
    ia_texts: list[str]
    behaviour: str
    wall_time: float
    cpu_time: float
    mean_shift: float
    fail_at: float | None
    sim_time_limit: float | None
    cpu_time_limit: float | None
    real_time_limit: float | None
    max_sim_time: float
    record_vectors: bool
    fingerprint: str | None
    fingerprint_calculator: str
    result_dir: str
    redirect_output: bool
    status_frequency: float
    sca_file: str
    vec_file: str
    out_file: str
    seed: str
    config_lines: list[tuple[str, str]]


@dataclass
class VectorData:
    """Buffered samples of one output vector and its already written blocks."""

    vid: int
    module: str
    name: str
    attrs: list[tuple[str, str]]
    rows: list[tuple[int, float, float]] = field(default_factory=list)
    blocks: list[str] = field(default_factory=list)


class VectorWriter:
    """Writes a .vec file in blocks and the matching .vci index."""

    FLUSH_ROWS = 50000

    def __init__(self, path: str, header: str, vectors: list[VectorData]) -> None:
        self.path = path
        self.vectors = vectors
        self.header = header
        self.file = open(path, "wb")  # noqa: SIM115 - closed in close()
        decls = "".join(
            f"vector {v.vid} {v.module} {v.name} ETV\n" + "".join(f"attr {k} {val}\n" for k, val in v.attrs)
            for v in vectors)
        self.file.write((header + "\n" + decls).encode())
        self.buffered = 0

    def record(self, vector: VectorData, event: int, t: float, value: float) -> None:
        vector.rows.append((event, t, value))
        self.buffered += 1
        if self.buffered >= self.FLUSH_ROWS:
            self.flush()

    def flush(self) -> None:
        for v in self.vectors:
            if not v.rows:
                continue
            offset = self.file.tell()
            data = "".join(f"{v.vid}\t{e}\t{fmt_simtime(t)}\t{fmt_num(x)}\n" for e, t, x in v.rows)
            raw = data.encode()
            self.file.write(raw)
            values = [x for _, _, x in v.rows]
            v.blocks.append(" ".join([
                str(offset), str(len(raw)), str(v.rows[0][0]), str(v.rows[-1][0]),
                fmt_simtime(v.rows[0][1]), fmt_simtime(v.rows[-1][1]), str(len(values)),
                fmt_num(min(values)), fmt_num(max(values)), fmt_num(sum(values)),
                fmt_num(sum(x * x for x in values))]))
            v.rows = []
        self.buffered = 0

    def close(self) -> None:
        self.flush()
        self.file.write(b"\n")
        self.file.close()
        size = os.path.getsize(self.path)
        mtime = int(os.path.getmtime(self.path))
        first = f"file {size} {mtime}".ljust(64)
        index = "".join(f"{v.vid}\t{b}\n" for v in self.vectors for b in v.blocks)
        decls = "".join(
            f"vector {v.vid} {v.module} {v.name} ETV\n" + "".join(f"attr {k} {val}\n" for k, val in v.attrs)
            for v in self.vectors)
        with open(os.path.splitext(self.path)[0] + ".vci", "w", encoding="utf-8") as f:
            f.write(first + "\n" + self.header + "\n" + decls + index + "\n")


@dataclass
class Histogram:
    """Collects samples for a ``statistic`` block with fixed-width bins."""

    width: float
    samples: list[float] = field(default_factory=list)

    def bins(self) -> list[tuple[str, int]]:
        if not self.samples:
            return [("-inf", 0)]
        lo = math.floor(min(self.samples) / self.width) - 1
        hi = math.floor(max(self.samples) / self.width) + 1
        counts = [0] * (hi - lo + 1)
        for x in self.samples:
            counts[math.floor(x / self.width) - lo] += 1
        result = [("-inf", 0)]
        for k in range(lo, hi + 1):
            result.append((fmt_num(round(k * self.width, 10)), counts[k - lo]))
        return result


@dataclass
class ModelState:
    """Counters and results of the channel model."""

    event: int = 0
    now: float = 0.0
    packets: int = 0
    received: int = 0
    collided: int = 0
    collision_length: Histogram = field(default_factory=lambda: Histogram(0.005))
    multiplicity: Histogram = field(default_factory=lambda: Histogram(1.0))
    group_start: float = -1.0
    group_end: float = -1.0
    group_size: int = 0
    last_event_time: float = 0.0  # latest end-of-transmission already counted as executed


class AlohaModel:
    """Pure Aloha: hosts send fixed-length packets; overlapping packets collide at the server."""

    def __init__(self, setup: RunSetup, vectors: VectorWriter | None, vector_list: list[VectorData]) -> None:
        self.s = setup
        self.rng = random.Random(setup.seed)
        self.pk_duration = PK_LEN_BITS / TX_RATE_BPS
        self.state = ModelState()
        self.vectors = vectors
        self.vector_list = vector_list
        self.end = setup.sim_time_limit or math.inf  # no event is executed beyond the time limit
        self.heap = [(self.rng.expovariate(1 / m), h) for h, m in enumerate(setup.ia_means)]
        heapq.heapify(self.heap)
        self.hash = hashlib.sha1(repr((setup.num_hosts, setup.ia_means, setup.seed)).encode())

    def record(self, index: int, t: float, value: float) -> None:
        if self.vectors is not None:
            self.vectors.record(self.vector_list[index], self.state.event, t, value)

    def start(self) -> None:
        for i in range(self.s.num_hosts + 1):
            self.record(i, 0.0, 0)

    def close_group(self) -> None:
        """Finish the current reception group at the server: a frame or a collision.

        A reception still in progress at the end of the run is not counted, as in the real model.
        """
        st = self.state
        if st.group_end > max(st.now, st.last_event_time):
            return
        if st.group_size == 1:
            st.received += 1
        elif st.group_size > 1:
            st.collided += st.group_size
            st.collision_length.samples.append(st.group_end - st.group_start)
            st.multiplicity.samples.append(st.group_size)
        if st.group_size:
            self.record(0, st.group_end, 0)
        st.group_size = 0

    def step(self, limit: float) -> bool:
        """Simulate the next packet; False when the next event lies beyond ``limit``."""
        st = self.state
        if not self.heap:
            return False
        t, host = self.heap[0]
        if t > limit:
            return False
        heapq.heapreplace(self.heap, (t + self.pk_duration + self.rng.expovariate(1 / self.s.ia_means[host]),
                                      host))
        if t >= st.group_end and st.group_size:
            self.close_group()
        st.event += 1
        st.now = t
        st.packets += 1
        self.record(host + 1, t, 1)
        if st.group_size == 0:
            st.group_start, st.group_end, st.group_size = t, t + self.pk_duration, 1
            self.record(0, t, 1)
        else:
            st.group_size += 1
            st.group_end = max(st.group_end, t + self.pk_duration)
            if st.group_size == 2:
                self.record(0, t, 2)
        st.event += 3  # host end-of-tx, server reception start and end
        st.last_event_time = max(st.last_event_time, t)
        if t + self.pk_duration <= self.end:
            self.record(host + 1, t + self.pk_duration, 0)
            st.last_event_time = max(st.last_event_time, t + self.pk_duration)
        if st.packets % 64 == 0:
            self.hash.update(f"{t:.9f}{host}".encode())
        return True

    def fingerprint(self, ingredients: str) -> str:
        h = self.hash.copy()
        h.update(f"{self.state.event}|{fmt_simtime(self.state.now)}|{ingredients}".encode())
        digest = h.hexdigest()
        return f"{digest[:4]}-{digest[4:8]}/{ingredients}"


# ---------------------------------------------------------------------------
# Running a run


RESULT_FILE = "${resultdir}/${configname}-${iterationvarsf}#${repetition}"


def make_parent(path: str) -> None:
    parent = os.path.dirname(path)
    if parent:
        os.makedirs(parent, exist_ok=True)


def make_setup(cfg: Config, config: str, run: Run) -> RunSetup:
    v = run.variables
    network = v["network"]
    if not network:
        raise OppError("No network specified (missing or empty network= configuration option)")
    if network != NETWORK_NAME:
        raise OppError(f"Network '{network}' not found, check .ini and .ned files")

    def par(name: str, default: str, path: str = "Aloha.server") -> str:
        return cfg.param(config, f"{path}.{name}", v, default)

    def seconds(text: str, what: str) -> float:
        return parse_quantity(text, what)

    def limit(key: str) -> float | None:
        text = cfg.option(config, key, v, "")
        return parse_quantity(text, key) if text else None

    num_hosts = int(parse_quantity(par("numHosts", "10", "Aloha"), "numHosts"))
    ia_texts, ia_means = [], []
    for i in range(num_hosts):
        text = par("iaTime", "exponential(2s)", f"Aloha.host[{i}]")
        m = re.fullmatch(r"\s*exponential\((.*)\)\s*", text)
        ia_means.append(seconds(m.group(1) if m else text, "iaTime"))
        ia_texts.append(text)
    behaviour = unquote(par("behaviour", '"normal"'))
    if behaviour not in ("normal", "fail", "crash", "hang"):
        raise OppError(f'Invalid value "{behaviour}" for parameter Aloha.server.behaviour')
    fail_at_text = par("failAt", "")
    record = cfg.per_object_option(config, "vector-recording", v)
    redirect = cfg.option(config, "cmdenv-redirect-output", v, "false")
    fp = cfg.option(config, "fingerprint", v, "")
    seed_material = f"{v['seedset']}|{num_hosts}|{ia_means}"
    if unquote(par("nondeterministic", "false")).lower() == "true":
        seed_material += f"|{os.getpid()}|{time.time_ns()}"  # like a model that seeds from the clock
    config_lines = [(e.key, cfg.substitute(e.value, v)) for e in cfg.entries(config)]
    return RunSetup(
        config=config, run=run, num_hosts=num_hosts, ia_means=ia_means, ia_texts=ia_texts,
        behaviour=behaviour, wall_time=seconds(par("wallTime", "0s"), "wallTime"),
        cpu_time=seconds(par("cpuTime", "0s"), "cpuTime"),
        mean_shift=float(parse_quantity(par("meanShift", "0"), "meanShift")),
        fail_at=seconds(fail_at_text, "failAt") if fail_at_text else None,
        sim_time_limit=limit("sim-time-limit"), cpu_time_limit=limit("cpu-time-limit"),
        real_time_limit=limit("real-time-limit"),
        max_sim_time=seconds(par("maxSimTime", "3600s"), "maxSimTime"),
        record_vectors=(record or "true").strip().lower() != "false", fingerprint=fp or None,
        fingerprint_calculator=cfg.option(config, "fingerprintcalculator-class", v, ""),
        result_dir=v["resultdir"], redirect_output=redirect.lower() == "true", seed=seed_material,
        sca_file=cfg.option(config, "output-scalar-file", v, RESULT_FILE + ".sca"),
        vec_file=cfg.option(config, "output-vector-file", v, RESULT_FILE + ".vec"),
        out_file=cfg.option(config, "cmdenv-output-file", v, RESULT_FILE + ".out"),
        status_frequency=seconds(cfg.option(config, "cmdenv-status-frequency", v, "2s"), "status frequency"),
        config_lines=config_lines,
    )


def run_header(setup: RunSetup) -> str:
    """The ``version``/``run``/``attr``/``itervar``/``config`` header of result files."""
    v = setup.run.variables
    attr_names = ["configname", "datetime", "datetimef", "experiment", "inifile", "iterationvars",
                  "iterationvarsd", "iterationvarsf", "measurement", "network", "processid",
                  "repetition", "replication", "resultdir", "runnumber", "seedset"]
    lines = ["version 3", f"run {v['runid']}"]
    lines += [f"attr {n} {quote_if_needed(v[n])}" for n in attr_names]
    lines += [f"itervar {n} {quote_if_needed(val)}" for n, val in sorted(setup.run.itervars)]
    lines += [f"config {k} {config_value(val)}" for k, val in setup.config_lines]
    return "\n".join(lines) + "\n"


def make_vectors(num_hosts: int) -> list[VectorData]:
    vectors = [VectorData(0, "Aloha.server", "serverChannelState:vector", [
        ("enum", "IDLE=0,TRANSMISSION=1,COLLISION=2"), ("recordingmode", "vector"),
        ("source", "channelState"), ("title", '"Channel state"')])]
    for i in range(num_hosts):
        vectors.append(VectorData(i + 1, f"Aloha.host[{i}]", "radioState:vector", [
            ("enum", "IDLE=0,TRANSMIT=1"), ("recordingmode", "vector"), ("source", "state"),
            ("title", '"Radio state"')]))
    return vectors


def statistic_lines(name: str, hist: Histogram, attrs: list[tuple[str, str]]) -> list[str]:
    xs = hist.samples
    n = len(xs)
    mean = sum(xs) / n if n else math.nan
    var = (sum((x - mean) ** 2 for x in xs) / (n - 1)) if n > 1 else math.nan
    lines = [f"statistic Aloha.server {name}:histogram", f"field count {n}"]
    if n:
        stddev = fmt_num(math.sqrt(var)) if n > 1 else "nan"
        lines += [f"field mean {fmt_num(mean)}", f"field stddev {stddev}",
                  f"field min {fmt_num(min(xs))}", f"field max {fmt_num(max(xs))}"]
    lines += [f"field sum {fmt_num(sum(xs))}", f"field sqrsum {fmt_num(sum(x * x for x in xs))}"]
    lines += [f"attr {k} {val}" for k, val in attrs]
    lines += [f"bin\t{edge}\t{count}" for edge, count in hist.bins()]
    return lines


def write_scalars(setup: RunSetup, model: AlohaModel | None, duration: float | None) -> None:
    """Write the .sca file; without a model (failed run) only the header and parameters."""
    lines = [run_header(setup), "\n"]
    rng = random.Random(setup.seed + "|positions")
    body: list[str] = [
        'par Aloha.server typename "\\"Server\\""',
        f"par Aloha.server x {rng.uniform(0, 1000):.6g}m", "attr unit m",
        f"par Aloha.server y {rng.uniform(0, 1000):.6g}m", "attr unit m",
        "par Aloha.server animationHoldTimeOnCollision 0s", "attr unit s",
        f'par Aloha.server behaviour {quote_if_needed(chr(34) + setup.behaviour + chr(34))}',
        f"par Aloha.server wallTime {fmt_num(setup.wall_time)}s", "attr unit s",
        f"par Aloha.server cpuTime {fmt_num(setup.cpu_time)}s", "attr unit s",
        f"par Aloha.server meanShift {fmt_num(setup.mean_shift)}",
    ]
    if model is not None and duration is not None:
        st = model.state
        cl = st.collision_length.samples
        utilization = st.received * model.pk_duration / duration if duration > 0 else 0.0
        body += [f"scalar Aloha.server duration {fmt_simtime(duration)}"]
        body += statistic_lines("collisionLength", st.collision_length,
                                [("recordingmode", "histogram"), ("title", '"collision length"')])
        body += [f"scalar Aloha.server collisionLength:mean {fmt_num(sum(cl) / len(cl)) if cl else 'nan'}",
                 "attr recordingmode mean", 'attr title "collision length, mean"',
                 f"scalar Aloha.server collisionLength:sum {fmt_num(sum(cl))}",
                 "attr recordingmode sum", 'attr title "collision length, sum"',
                 f"scalar Aloha.server collisionLength:max {fmt_num(max(cl)) if cl else 'nan'}",
                 "attr recordingmode max", 'attr title "collision length, max"']
        body += statistic_lines("collisionMultiplicity", st.multiplicity,
                                [("recordingmode", "histogram"), ("source", "collision"),
                                 ("title", '"collision multiplicity"')])
        body += [f"scalar Aloha.server collidedFrames:last {st.collided}", "attr recordingmode last",
                 "attr source sum(collision)", 'attr title "collided frames, last"',
                 f"scalar Aloha.server channelUtilization:last {fmt_num(utilization + setup.mean_shift)}",
                 "attr interpolationmode linear", "attr recordingmode last",
                 "attr source timeavg(receive)", 'attr title "channel utilization, last"',
                 f"scalar Aloha.server receivedFrames:last {st.received}", "attr recordingmode last",
                 "attr source sum(receive)", 'attr title "received frames, last"']
    for i in range(setup.num_hosts):
        h = f"Aloha.host[{i}]"
        body += [f'par {h} typename "\\"Host\\""', f"par {h} txRate 9600bps", "attr unit bps",
                 f"par {h} pkLenBits 952b", "attr unit b",
                 f"par {h} iaTime {quote_if_needed(setup.ia_texts[i])}", "attr unit s",
                 f"par {h} slotTime 0s", "attr unit s",
                 f"par {h} x {rng.uniform(0, 1000):.6g}m", "attr unit m",
                 f"par {h} y {rng.uniform(0, 1000):.6g}m", "attr unit m",
                 f"par {h} idleAnimationSpeed 1", f"par {h} transmissionEdgeAnimationSpeed 1e-06",
                 f"par {h} midTransmissionAnimationSpeed 0.1", f"par {h} controlAnimationSpeed true"]
    body += ['par Aloha typename "\\"Aloha\\""', f"par Aloha numHosts {setup.num_hosts}",
             "par Aloha txRate 9600bps", "attr unit bps", "par Aloha slotTime 0ms", "attr unit ms"]
    lines.append("\n".join(body) + "\n\n")
    make_parent(setup.sca_file)
    with open(setup.sca_file, "w", encoding="utf-8") as f:
        f.write("".join(lines))


class Progress:
    """Prints Cmdenv express-mode status blocks."""

    def __init__(self, out: object, setup: RunSetup, runs_tried: int, num_runs: int) -> None:
        self.out = out
        self.setup = setup
        self.runs_tried = runs_tried
        self.num_runs = num_runs
        self.wall0 = time.monotonic()
        self.cpu0 = time.process_time()
        self.last_events = 0
        self.last_wall = self.wall0
        self.last_t = 0.0

    def ratio(self, t: float) -> float | None:
        ratios = [-1.0]
        s = self.setup
        if s.sim_time_limit:
            ratios.append(t / s.sim_time_limit)
        if s.cpu_time_limit:
            ratios.append((time.process_time() - self.cpu0) / s.cpu_time_limit)
        if s.real_time_limit:
            ratios.append((time.monotonic() - self.wall0) / s.real_time_limit)
        r = min(max(ratios), 1.0)
        return None if r == -1.0 else r

    def update(self, event: int, t: float, created: int, present: int, in_fes: int) -> None:
        now = time.monotonic()
        elapsed = now - self.wall0
        interval = now - self.last_wall
        if interval > 0.01 and event > self.last_events:
            evs = (event - self.last_events) / interval
            sims = (t - self.last_t) / interval
            ev_per_sim = (event - self.last_events) / (t - self.last_t) if t > self.last_t else 0
            speed = f"ev/sec={evs:g}   simsec/sec={sims:g}   ev/simsec={ev_per_sim:g}"
        else:
            speed = "ev/sec=0   simsec/sec=0   ev/simsec=0"
        ratio = self.ratio(t)
        pct = ""
        if ratio is not None:
            total = (ratio + self.runs_tried - 1) / self.num_runs
            pct = f"  {int(100 * ratio)}% completed  ({int(100 * total)}% total)"
        elapsed_text = elapsed_str(max(round(elapsed, 6), 1e-6))
        self.out.write(  # type: ignore[attr-defined]
            f"** Event #{event}   t={fmt_simtime(t)}   Elapsed: {elapsed_text}{pct}\n"
            f"     Speed:     {speed}\n"
            f"     Messages:  created: {created}   present: {present}   in FES: {in_fes}\n")
        self.out.flush()  # type: ignore[attr-defined]
        self.last_events, self.last_wall, self.last_t = event, now, t


class Termination:
    """SIGINT/SIGTERM during a run: Cmdenv stops after the current event, calls finish() and exits 2."""

    received = False

    @classmethod
    def handler(cls, signum: int, frame: object) -> None:
        cls.received = True

    @classmethod
    def install(cls) -> None:
        signal.signal(signal.SIGTERM, cls.handler)
        signal.signal(signal.SIGINT, cls.handler)


def burn(setup: RunSetup, progress: Progress) -> None:
    """Spend the configured wall-clock and CPU time (test hooks ``wallTime``/``cpuTime``)."""
    wall_end = time.monotonic() + setup.wall_time
    while time.monotonic() < wall_end and not Termination.received:
        time.sleep(min(0.05, max(0.0, wall_end - time.monotonic())))
    end = time.process_time() + setup.cpu_time
    while time.process_time() < end and not Termination.received:
        if setup.cpu_time_limit and time.process_time() - progress.cpu0 >= setup.cpu_time_limit:
            return
        sum(i * i for i in range(2000))


def hang_forever() -> None:
    """Hang like a model stuck inside an event: only SIGKILL ends it."""
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    while True:
        time.sleep(3600)


def misbehaviour_time(s: RunSetup) -> float:
    """When ``fail``/``crash``/``hang`` strikes: ``failAt``, else half the sim-time-limit."""
    if s.behaviour == "normal":
        return math.inf
    if s.fail_at is not None:
        return s.fail_at
    return (s.sim_time_limit or min(s.max_sim_time, 3600.0)) / 2


def simulate(setup: RunSetup, model: AlohaModel, progress: Progress, out: object) -> str:
    """Advance the model in chunks of simulated time until a limit; return the termination message."""
    s = setup
    st = model.state
    n = s.num_hosts
    progress.update(0, 0.0, n + 1, n + 1, n + 1)
    model.start()
    burn(s, progress)
    end = s.sim_time_limit or math.inf
    # without any limit the real model runs forever; the stand-in's hosts stop at maxSimTime
    last_packets_at = s.max_sim_time if not s.sim_time_limit and not s.cpu_time_limit else math.inf
    misbehave_at = misbehaviour_time(s)
    chunk_end = 0.0
    if not model.heap:  # numHosts = 0: the future event set is empty from the start
        progress.update(0, 0.0, 0, 0, 0)
        return "No more events, simulation completed" + where(st)
    while True:
        chunk_end = min(chunk_end + 50.0, end, last_packets_at, misbehave_at)
        while model.step(chunk_end):
            pass
        if chunk_end >= misbehave_at:
            st.now = misbehave_at
            misbehave(s, model, progress, out)
        if chunk_end >= end:
            st.now = end
            progress.update(st.event, end, n + 1 + st.packets, n + 1, n)
            return "Simulation time limit reached" + where(st)
        if chunk_end >= last_packets_at:
            st.now = st.last_event_time
            model.close_group()
            progress.update(st.event, st.now, n + 1 + st.packets, 0, 0)
            return "No more events, simulation completed" + where(st)
        reason = other_limit_reached(s, progress)
        if reason:
            st.now = st.last_event_time
        if reason or time.monotonic() - progress.last_wall >= s.status_frequency:
            progress.update(st.event, st.now, n + 1 + st.packets, n + 1, n + 1)
        if reason:
            return reason + where(st)


def other_limit_reached(s: RunSetup, progress: Progress) -> str | None:
    """Check the signal flag, CPU and real time limits between chunks (like checkTimeLimits())."""
    if Termination.received:
        return "SIGINT or SIGTERM received, exiting"
    if s.cpu_time_limit and time.process_time() - progress.cpu0 >= s.cpu_time_limit:
        return "CPU time limit reached"
    if s.real_time_limit and time.monotonic() - progress.wall0 >= s.real_time_limit:
        return "Real time limit reached"
    return None


def where(st: ModelState) -> str:
    """The ``-- at t=...s, event #...`` suffix of Cmdenv's termination messages."""
    return f" -- at t={fmt_simtime(st.now)}s, event #{st.event}"


def misbehave(setup: RunSetup, model: AlohaModel, progress: Progress, out: object) -> None:
    """Fail, crash or hang at ``failAt`` as the ``behaviour`` parameter asks."""
    st = model.state
    n = setup.num_hosts
    if setup.behaviour == "crash":
        sys.stdout.flush()
        out.flush()  # type: ignore[attr-defined]
        signal.signal(signal.SIGSEGV, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGSEGV)
    if setup.behaviour == "hang":
        sys.stdout.flush()
        out.flush()  # type: ignore[attr-defined]
        hang_forever()
    progress.update(st.event, st.now, n + 1 + st.packets, n + 1, n + 1)
    raise SimError(
        f'Simulated failure (behaviour="{setup.behaviour}") -- in module (Server) Aloha.server (id=2), '
        f"at t={fmt_simtime(st.now)}s, event #{st.event}")


OMNETPP_INGREDIENTS = "etncklodimparszvyfx0"
INET_INGREDIENTS = "~UNID"  # inet::FingerprintCalculator's own ingredients


def check_fingerprint(expected: str, model: AlohaModel, calculator: str = "") -> str:
    """Return the verdict line like cMultiFingerprintCalculator: the expected value holds
    comma-separated fingerprints, each with space-separated alternatives that share one
    ingredients suffix; all must match (any alternative of each). Malformed text raises."""
    allowed = OMNETPP_INGREDIENTS + (INET_INGREDIENTS if calculator == "inet::FingerprintCalculator" else "")
    verdicts = []
    for element in expected.split(","):
        alternatives = element.split()
        suffixes = {a.partition("/")[2] for a in alternatives if "/" in a}
        if len(suffixes) > 1:
            raise OppError("Fingerprint option suffixes (parts after the '/') must agree")
        ingredients = suffixes.pop() if suffixes else "tplx"
        for ch in ingredients:
            if ch not in allowed:
                raise OppError(f"Unknown fingerprint ingredient character '{ch}'")
        calculated = model.fingerprint(ingredients)
        ok = False
        for item in alternatives or [""]:
            m = re.fullmatch(r"([0-9a-fA-F]{4}-[0-9a-fA-F]{4})(?:/\S*)?", item)
            if not m:
                raise OppError(f'Cannot verify hash: Invalid hash text "{item}" -- during finalization')
            ok = ok or calculated.split("/")[0].lower() == m.group(1).lower()
        verdicts.append((calculated, " ".join(alternatives), ok))
    calculated_all = ", ".join(c for c, _, _ in verdicts)
    if all(ok for _, _, ok in verdicts):
        return f"Fingerprint successfully verified: {calculated_all}"
    expected_all = ", ".join(e for _, e, _ in verdicts)
    return f"Fingerprint mismatch! calculated: {calculated_all}, expected: {expected_all}"


def execute_run(cfg: Config, config: str, run: Run, verbose: bool, runs_tried: int, num_runs: int) -> bool:
    """Run one simulation run like Cmdenv::doRun()'s loop body. Returns True if it finished OK."""
    out = sys.stdout
    redirect_file = None
    try:
        if verbose:
            out.write(f"\nPreparing for running configuration {config}, run #{run.number}...\n")
        iter_vars = run.iterationvars
        if not verbose:
            out.write(f"{config} run {run.number}: {iter_vars}, $repetition={run.repetition}\n")
            out.flush()
        setup = make_setup(cfg, config, run)
        if setup.redirect_output:
            name = setup.out_file
            make_parent(name)
            if verbose:
                out.write(f'Redirecting output to file "{name}"...\n')
            out.flush()
            redirect_file = open(name, "w", encoding="utf-8")  # noqa: SIM115
            out = redirect_file
            if verbose:
                out.write(f"\nRunning configuration {config}, run #{run.number}...\n")
        if verbose:
            if iter_vars:
                out.write(f"Scenario: {iter_vars}, $repetition={run.repetition}\n")
            out.write(f"Assigned runID={run.variables['runid']}\n")
            out.write(f'Setting up network "{NETWORK_NAME}"...\nInitializing...\n\nRunning simulation...\n')
        return simulate_and_finish(setup, out, verbose, runs_tried, num_runs)
    except OppError as e:
        report_error(str(e), redirect_file)
        return False
    finally:
        if redirect_file is not None:
            redirect_file.close()


def report_error(message: str, redirect_file: object | None) -> None:
    if redirect_file is not None:
        sys.stdout.flush()
        console = sys.stdout if Args.errors_to_stdout else sys.stderr
        console.write(f"<!> Error -- see {redirect_file.name} for details\n")  # type: ignore[attr-defined]
        console.flush()
        error(message, redirect_file)
    else:
        error(message)


def simulate_and_finish(setup: RunSetup, out: object, verbose: bool, runs_tried: int, num_runs: int) -> bool:
    vector_list = make_vectors(setup.num_hosts)
    writer = None
    if setup.record_vectors:
        make_parent(setup.vec_file)
        writer = VectorWriter(setup.vec_file, run_header(setup), vector_list)
    model = AlohaModel(setup, writer, vector_list)
    progress = Progress(out, setup, runs_tried, num_runs)
    try:
        message = simulate(setup, model, progress, out)
        out.write(f"\n<!> {message}\n")  # type: ignore[attr-defined]
    except SimError:
        if writer is not None:
            writer.close()
        write_scalars(setup, None, None)
        raise
    duration = model.state.now
    model.close_group()
    if writer is not None:
        writer.close()
    if verbose:
        out.write(f"\nCalling finish() at end of Run #{setup.run.number}...\n")  # type: ignore[attr-defined]
    out.write(f"[INFO]\tduration: {fmt_simtime(duration)}\n")  # type: ignore[attr-defined]
    out.flush()  # type: ignore[attr-defined]
    write_scalars(setup, model, duration)
    if setup.fingerprint:
        verdict = check_fingerprint(setup.fingerprint, model, setup.fingerprint_calculator)
        out.write(f"\n<!> {verdict}\n\n")  # type: ignore[attr-defined]
        out.flush()  # type: ignore[attr-defined]
    return True


# ---------------------------------------------------------------------------
# main


def load_config(args: Args) -> Config:
    validate_options(args.options)
    ini = IniContents()
    files = args.ini_files or ["omnetpp.ini"]
    for name in files:
        read_ini(name, ini)
    validate_ini(ini)
    return Config(ini, args.options)


def load_ned_files(ned_path: str) -> None:
    """Print the "Loading NED files" lines; the stand-in only counts the .ned files."""
    seen: set[str] = set()
    for folder in re.split(r"[:;]", ned_path):
        if folder and folder not in seen:
            seen.add(folder)
            count = sum(name.endswith(".ned") for _, _, names in os.walk(folder) for name in names)
            sys.stdout.write(f"Loading NED files from {folder}:  {count}\n")


def run_all(cfg: Config, args: Args, verbose: bool) -> int:
    config = args.config or "General"
    try:
        if verbose:
            ned_path = args.ned_path or cfg.option("General", "ned-path", {}, "")
            load_ned_files(ned_path or os.environ.get("NEDPATH", "."))
        numbers = resolve_run_filter(cfg, config, args.run_filter)
    except OppError as e:
        error(str(e))
        return 1
    runs = cfg.unroll(config)
    errors = tried = 0
    Termination.install()
    stop_on_error = cfg.option(config, "cmdenv-stop-batch-on-error", {}, "true").lower() != "false"
    for number in numbers:
        tried += 1
        ok = execute_run(cfg, config, runs[number], verbose, tried, len(numbers))
        if not ok:
            errors += 1
        if Termination.received or (not ok and stop_on_error):
            break
    if len(numbers) > 1 and verbose:
        line = f"\nRun statistics: total {len(numbers)}"
        if tried - errors > 0:
            line += f", successful {tried - errors}"
        if errors:
            line += f", errors {errors}"
        if len(numbers) - tried:
            line += f", skipped {len(numbers) - tried}"
        sys.stdout.write(line + "\n")
    return 1 if errors else 2 if Termination.received else 0


def main(argv: list[str]) -> int:
    try:
        args = parse_args(argv)
    except OppError as e:
        error(str(e))
        return 1
    verbose = not args.silent
    if verbose:
        sys.stdout.write(BANNER)
    code = main_body(args, verbose)
    if verbose:
        sys.stdout.write("\nEnd.\n")
    sys.stdout.flush()
    return code


def main_body(args: Args, verbose: bool) -> int:
    try:
        cfg = load_config(args)
        if args.ui not in (None, "Cmdenv"):
            raise OppError(f"Could not start user interface '{args.ui}'")
    except OppError as e:
        error(str(e))
        return 1
    if verbose:
        sys.stdout.write("Setting up Cmdenv...\n\n")
    try:
        if args.help:
            sys.stdout.write("Stand-in simulation (OMNeT++ 6.1 command line). See the source for details.\n")
            return 0
        if args.version:
            sys.stdout.write("Build: 6.1 internal (opp-ci stand-in)\n")
            return 0
        if args.all_configs:
            for name in cfg.config_names():
                sys.stdout.write(f"Config {name}: {len(cfg.unroll(name))}\n")
            return 0
        if args.query:
            return print_run_info(cfg, args.config or "General", args.run_filter, args.query, verbose)
        if args.echo:
            return print_config_value(cfg, args.config or "General", args.run_filter, args.echo)
        return run_all(cfg, args, verbose)
    except OppError as e:
        error(str(e))
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
