"""Fingerprint suites: OMNeT++/INET fingerprint CSV files read and selected exactly as `opp_fingerprinttest`
(OMNeT++ 6.1, src/utils/opp_fingerprinttest) and INET's `bin/inet_fingerprinttest` do, a row's command line
split into what a campaign runs (`row_parts`: the planner builds every row's job from it), and their
fingerprint fields updated in place. Rows are judged in `opp_ci.fingerprints.checks`.

A row is six comma-separated fields (Python's csv, `"` quotes, `skipinitialspace`); everything
from the first `#` (with the spaces before it) is a comment, as in the tools' `' *#.*$'`::

    # workingdir,      cmdLine,                                   simtimelimit, fingerprint,         expected, tags
    /samples/aloha/,   ./aloha -f omnetpp.ini -c PureAloha1 -r 0, 5000s,        bb79-95ff/tplx,      PASS,
    /examples/aodv/,   -f omnetpp.ini -c Static -r 0, 50s, 13b7-47d5/tplx;c303-2955/~tNl, PASS, wireless

Fingerprint field: ingredient sets separated by `;` (INET), alternatives of one set by spaces;
OMNeT++ gets the chosen sets as one `--fingerprint=` joined by `, ` (INET's
formatFingerprintGroupForOmnetpp) and checks them all in the same run (cMultiFingerprintCalculator).
"""

from __future__ import annotations

import csv
import re
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from opp_ci.errors import UserError
from opp_ci.fingerprints.verdicts import RESULTS, Expected

_COMMENT = re.compile(r" *#.*$")
#: As OMNeT++'s cHasher::parse reads one: hex digits, '-' and ':' ignored (`0` is 0000-0000).
_HASH = r"[0-9a-fA-F][0-9a-fA-F:\-]*"
_ITEM = re.compile(rf"^({_HASH})(?:/([A-Za-z0-9~]+))?$")


@dataclass(frozen=True)
class FingerprintSet:
    """One ingredient set of a row: its ingredients (`tplx`, `~tNl`) and accepted hashes."""

    ingredients: str
    hashes: tuple[str, ...]

    def text(self) -> str:
        return " ".join(f"{h}/{self.ingredients}" for h in self.hashes)


@dataclass(frozen=True)
class SuiteRow:
    """One test of a fingerprint suite CSV: one simulation run."""

    file: Path
    line: int  # 1-based, as csv.reader's line_num
    workingdir: str
    command_line: str  # the second field as written, executable included
    sim_time_limit: str
    fingerprint: str  # the fourth field as written
    fingerprints: tuple[FingerprintSet, ...]
    expected: Expected
    tags: tuple[str, ...]
    executable: str | None = None  # `./aloha` when the command line names one
    args: tuple[str, ...] = ()  # the command line after the executable, split like `sh -c`

    @property
    def title(self) -> str:
        """What -m/-x match and the test is named by: `workingdir + " " + command line`."""
        return f"{self.workingdir} {self.command_line}"

    def where(self) -> str:
        return f"{self.file}:{self.line}"

    def directory(self, root: Path) -> Path:
        """The working directory: relative to ROOT (opp_fingerprinttest -C), also when it starts with /."""
        return Path(root) / self.workingdir.lstrip("/")

    def chosen(self, ingredients: Sequence[str] = ()) -> tuple[FingerprintSet, ...]:
        """The sets to verify: those with the chosen ingredients (all when none are chosen), in row order."""
        return tuple(s for s in self.fingerprints if not ingredients or s.ingredients in ingredients)


# --- reading ---


def read_suite(path: Path) -> list[SuiteRow]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise UserError(f"{path}: cannot read the fingerprint suite ({error})") from None
    return parse_suite(text.removeprefix("\ufeff"), path)  # a spreadsheet's byte order mark


def parse_suite(text: str, path: Path) -> list[SuiteRow]:
    """The rows of a suite; a malformed row is a UserError naming file:line and the fix."""
    lines = (_COMMENT.sub("", line) for line in text.splitlines(keepends=True))
    reader = csv.reader(lines, delimiter=",", quotechar='"', skipinitialspace=True)
    rows = []
    try:
        for fields in reader:
            if fields:
                rows.append(_row(Path(path), reader.line_num, fields))
    except csv.Error as error:
        raise UserError(f"{path}:{reader.line_num}: {error}; fix the quoting of this row") from None
    return rows


def _row(path: Path, line: int, fields: list[str]) -> SuiteRow:
    where = f"{path}:{line}"
    if len(fields) != 6:
        raise UserError(f"{where}: a row must have 6 fields (working directory, command line, sim-time-limit, "
                        f"fingerprint, expected result, tags) but has {len(fields)}; add the missing commas "
                        f"or quote a field that contains one")
    workingdir, command_line, limit, fingerprint, expected, tags = fields
    if expected not in RESULTS:
        raise UserError(f"{where}: the 5th field must be PASS, FAIL or ERROR, not {expected!r}")
    executable, args = split_command_line(command_line, where)
    return SuiteRow(path, line, workingdir, command_line, limit.strip(), fingerprint,
                    parse_fingerprints(fingerprint, where), Expected(expected), tuple(tags.split()),
                    executable, args)


def split_command_line(text: str, where: str = "") -> tuple[str | None, tuple[str, ...]]:
    """Like opp_fingerprinttest: a command line starting with `-` has no executable (then `-e` / the
    spec's command applies); otherwise its first word is the executable."""
    try:
        words = shlex.split(text)
    except ValueError as error:
        raise UserError(f"{where}: cannot split the command line {text!r} ({error}); fix its quotes") from None
    if not words:
        raise UserError(f"{where}: the command line is empty; write e.g. `-f omnetpp.ini -c General -r 0`")
    if text.startswith("-"):
        return None, tuple(words)
    return words[0], tuple(words[1:])


def parse_fingerprints(text: str, where: str = "") -> tuple[FingerprintSet, ...]:
    """`a/tplx b/tplx;c/~tNl` -> sets in order; alternatives of one set must share their ingredients
    (OMNeT++: "Fingerprint option suffixes (parts after the '/') must agree")."""
    sets = []
    for group in text.split(";"):
        items = group.split()
        if not items:
            continue
        parsed = [_ITEM.match(item) for item in items]
        bad = [item for item, m in zip(items, parsed, strict=True) if m is None]
        if bad:
            raise UserError(f"{where}: {bad[0]!r} is not a fingerprint such as 4500-0673/tplx; "
                            f"write 0000-0000/tplx to have `opp-ci baseline update` record it")
        ingredients = {m.group(2) or "tplx" for m in parsed if m}
        if len(ingredients) > 1:
            raise UserError(f"{where}: alternatives {group.strip()!r} have different ingredients; "
                            f"separate ingredient sets with ';'")
        sets.append(FingerprintSet(ingredients.pop(), tuple(_canonical(m.group(1), where) for m in parsed if m)))
    return tuple(sets)


# --- selection ---


def select(rows: Iterable[SuiteRow], match: Sequence[str] = (), exclude: Sequence[str] = (),
           tags: Sequence[str] = (), exclude_tags: Sequence[str] = ()) -> list[SuiteRow]:
    """opp_fingerprinttest -m/-x on the title (any match, no exclude; re.search), then tags: a row
    must carry one of `tags` (when given) and none of `exclude_tags`."""
    include = [_regex(r, "--match") for r in match]
    skip = [_regex(r, "--exclude") for r in exclude]
    return [row for row in rows
            if (not include or any(r.search(row.title) for r in include))
            and not any(r.search(row.title) for r in skip)
            and (not tags or set(tags) & set(row.tags))
            and not set(exclude_tags) & set(row.tags)]


def _regex(text: str, option: str) -> re.Pattern[str]:
    try:
        return re.compile(text)
    except re.error as error:
        raise UserError(f"{option} {text!r}: not a regular expression ({error})") from None


def _canonical(text: str, where: str) -> str:
    """`4500-0673`, `45000673`, `0`: the 32-bit hash OMNeT++ reads, written as OMNeT++ prints it."""
    digits = re.sub(r"[-:]", "", text)
    if len(digits) > 8:
        raise UserError(f"{where}: {text!r} is not a fingerprint (at most 8 hex digits, such as 4500-0673)")
    value = int(digits, 16)
    return f"{value >> 16:04x}-{value & 0xFFFF:04x}"


# --- the command line ---


def fingerprint_option(sets: Sequence[FingerprintSet]) -> str:
    """The `--fingerprint=` value: sets joined by `, `, alternatives by spaces (INET's format)."""
    return ", ".join(s.text() for s in sets)


def _sets(args: Sequence[str], option: str) -> bool:
    return any(re.match(rf"^--(?:[^=]*\.)?{re.escape(option)}(=|$)", a) for a in args)


@dataclass(frozen=True)
class RowParts:
    """A row's command line as a campaign runs it: config, run number, ini files, and `--key=value` options
    (the recording defaults opp_fingerprinttest adds first, so the row's own word wins)."""

    config: str
    run: int
    ini: tuple[str, ...]
    args: tuple[str, ...]


#: Short options a row may use, each followed by its value.
_ROW_OPTIONS = ("-f", "-c", "-r", "-n", "-u")


def row_parts(row: SuiteRow, extra: tuple[str, ...] = ()) -> RowParts:
    """The row's config, run, ini files and options (the row's, then `extra`, then the defaults that
    neither sets)."""
    config, run, ini, args = "General", "0", [], []
    words = list(row.args)
    while words:
        word = words.pop(0)
        if word in _ROW_OPTIONS and words:
            value = words.pop(0)
            if word == "-f":
                ini.append(value)
            elif word == "-c":
                config = value
            elif word == "-r":
                run = value
            elif word == "-n":
                args.append(f"--ned-path={value}")
        elif word.startswith("--") and "=" in word:
            args.append(word)
        elif word != "-s":
            raise UserError(f"{row.where()}: opp-ci runs a row's -f, -c, -r, -n and --key=value options, not "
                            f"{word!r}; put it into opp-ci.toml's `command` (e.g. -l libraries)")
    if not run.isdigit():
        raise UserError(f"{row.where()}: -r {run!r} must be one run number, as in a fingerprint test")
    args += extra
    defaults = [f"--{o}={v}" for o, v in (("vector-recording", "false"), ("scalar-recording", "true"))
                if not _sets(args, o)]
    return RowParts(config, int(run), tuple(ini) or ("omnetpp.ini",), tuple(defaults + args))


# --- updating in place ---


class Action(StrEnum):
    """What `baseline update` did to an expected fingerprint (a suite row's is kept or updated, never inserted)."""

    KEEP = "KEEP"
    INSERT = "INSERT"
    UPDATE = "UPDATE"


@dataclass(frozen=True)
class RowChange:
    row: SuiteRow
    action: Action
    old: str
    new: str

    def describe(self) -> str:
        name = f"{self.row.where()} {self.row.title}"
        return f"KEEP   {name}" if self.action is Action.KEEP else f"UPDATE {name}: {self.old} -> {self.new}"


@dataclass
class SuiteUpdate:
    """The new text of a suite file and what happened to each row."""

    text: str
    changes: list[RowChange] = field(default_factory=list)


def update_suite(text: str, rows: Sequence[SuiteRow], calculated: dict[int, Sequence[str]]) -> SuiteUpdate:
    """Puts calculated fingerprints (by row line: `hash/ingredients` items) into the fingerprint
    fields. A set whose calculated hash is among its alternatives is kept as it is; a changed set is
    replaced by the new hash (alternatives dropped); new ingredient sets are appended with `;`.
    Every other byte of the file (alignment, comments, tags, line ends) stays."""
    lines = text.splitlines(keepends=True)
    changes = []
    for row in rows:
        if row.line not in calculated:
            continue
        new_field = merged_field(row, calculated[row.line])
        if new_field == row.fingerprint:
            changes.append(RowChange(row, Action.KEEP, row.fingerprint, new_field))
            continue
        lines[row.line - 1] = _replace_fourth_field(lines[row.line - 1], row, new_field)
        changes.append(RowChange(row, Action.UPDATE, row.fingerprint, new_field))
    return SuiteUpdate("".join(lines), changes)


def merged_field(row: SuiteRow, calculated: Sequence[str]) -> str:
    new = {item.partition("/")[2] or "tplx": item.partition("/")[0].lower() for item in calculated}
    groups = []
    for fp_set in row.fingerprints:
        digest = new.pop(fp_set.ingredients, None)
        groups.append(fp_set.text() if digest is None or digest in fp_set.hashes
                      else f"{digest}/{fp_set.ingredients}")
    groups += [f"{digest}/{ingredients}" for ingredients, digest in new.items()]
    rebuilt = ";".join(groups)
    return row.fingerprint if rebuilt == ";".join(s.text() for s in row.fingerprints) else rebuilt


def _replace_fourth_field(line: str, row: SuiteRow, new: str) -> str:
    """Finds the fourth field's text by walking the fields (quotes respected) and swaps it alone."""
    start = _field_start(line, 3)
    if start is None or not line[start:].lstrip(" \t").startswith(row.fingerprint.strip()):
        raise UserError(f"{row.where()}: cannot find the fingerprint field {row.fingerprint!r} to update; "
                        "put it on the row's line, unquoted")
    begin = start + len(line[start:]) - len(line[start:].lstrip(" \t"))
    old = row.fingerprint.strip()
    return line[:begin] + new + line[begin + len(old):]


def _field_start(line: str, index: int) -> int | None:
    quoted, count = False, 0
    for position, char in enumerate(line):
        if char == '"':
            quoted = not quoted
        elif char == "," and not quoted:
            count += 1
            if count == index:
                return position + 1
    return None


def write_update(path: Path, update: SuiteUpdate) -> None:
    """Writes the file only when a row changed (never touches an unchanged file)."""
    if any(c.action is Action.UPDATE for c in update.changes):
        Path(path).write_text(update.text, encoding="utf-8")
