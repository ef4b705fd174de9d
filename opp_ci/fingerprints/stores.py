"""Expected fingerprints, kept in the user's repository: the baseline store for fingerprint tests.

Two formats, chosen by the file name:

`opp-ci-fingerprints.json` (the default; any name ending in .json)::

    {"version": 1, "fingerprints": [
      {"config": "AlohaExperiment", "run": 3, "itervars": {"numHosts": "20", "iaMean": "1"},
       "ingredients": "tplx", "fingerprint": "b9aa-4a66"}, ...]}

one entry per config, run number, iteration variables and ingredient set.

INET's fingerprint CSV (any name ending in .csv), read and updated in place so INET-style projects
need not convert::

    # working directory, command line arguments, simulation time limit, fingerprint, expected result, tags
    .,   -f omnetpp.ini -c Ethernet -r 0,   0.2s,   4500-0673/tplx, PASS,   tag1 tag2

Its rows are matched to runs by `-c CONFIG -r N` (and `-f INI` when more than one row matches);
fingerprint groups are separated by `;` (passed to OMNeT++ joined by `,`), alternatives by spaces.
The working directory, time limit and tags are kept but not used: the campaign's own settings apply.
"""

from __future__ import annotations

import csv
import io
import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from opp_ci import options
from opp_ci.errors import UserError
from opp_ci.fingerprints.suites import Action
from opp_ci.fingerprints.verdicts import RESULTS
from opp_ci.records import write_json_atomically

DEFAULT_STORE = options.default("fingerprints")
DEFAULT_INGREDIENTS = options.default("fingerprint-ingredients")
#: Expected by `baseline update`'s recording runs: never matches, so OMNeT++ prints the calculated one.
DUMMY_HASH = "0000-0000"
STORE_VERSION = 1
_HASH = re.compile(r"^[0-9a-fA-F]{4}-[0-9a-fA-F]{4}$")
_INGREDIENTS = re.compile(r"^~?[a-zA-Z0-9]+$")


@dataclass(frozen=True)
class RunId:
    """Which run a fingerprint belongs to."""

    config: str
    run: int
    itervars: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, config: str, run: int, itervars: dict[str, str] | None = None) -> RunId:
        return cls(config, int(run), tuple(sorted((itervars or {}).items())))

    def describe(self) -> str:
        variables = ", ".join(f"${k}={v}" for k, v in self.itervars)
        return f"{self.config} #{self.run}" + (f" ({variables})" if variables else "")


@dataclass(frozen=True)
class Change:
    """What `baseline update` did with one fingerprint."""

    action: Action
    run: RunId
    ingredients: str
    old: str | None
    new: str

    def describe(self) -> str:
        if self.action is Action.UPDATE:
            return f"{self.action.value:<6} {self.run.describe()} /{self.ingredients}: {self.old} -> {self.new}"
        return f"{self.action.value:<6} {self.run.describe()} /{self.ingredients}: {self.new}"


class FingerprintStore(Protocol):
    path: Path

    def expected(self, run: RunId, ingredients: list[str]) -> str | None:
        """The `--fingerprint=` value for a run, or None when the store has no entry for it."""

    def record(self, run: RunId, calculated: dict[str, str]) -> list[Change]:
        """Records calculated fingerprints ({ingredients: hash}); returns what changed."""

    def save(self) -> None: ...


def parse_ingredients(text: str | list[str]) -> list[str]:
    """`"tplx"`, `"tplx,~tNl"` or a list of ingredient sets, checked."""
    items = text if isinstance(text, list) else [t for t in re.split(r"[,\s]+", str(text)) if t]
    if not items:
        raise UserError("fingerprint-ingredients is empty; write e.g. \"tplx\"")
    for item in items:
        if not _INGREDIENTS.match(item):
            raise UserError(f"fingerprint-ingredients: {item!r} is not an ingredient set such as \"tplx\"")
    return list(dict.fromkeys(items))


def dummy_expected(ingredients: list[str]) -> str:
    return ",".join(f"{DUMMY_HASH}/{i}" for i in ingredients)


def is_dummy(expected: str | None) -> bool:
    return bool(expected) and all(item.strip().startswith(DUMMY_HASH) for item in str(expected).split(","))


def split_calculated(text: str | None, default_ingredients: str = DEFAULT_INGREDIENTS) -> dict[str, str]:
    """`"b9aa-4a66/tplx,1234-abcd/~tNl"` as printed by OMNeT++ -> {"tplx": "b9aa-4a66", "~tNl": "1234-abcd"}."""
    result: dict[str, str] = {}
    for item in re.split(r"[,\s]+", text or ""):
        if not item:
            continue
        digest, _, ingredients = item.partition("/")
        if _HASH.match(digest):
            result[ingredients or default_ingredients] = digest.lower()
    return result


def open_store(path: Path) -> FingerprintStore:
    """The store at `path`: INET's CSV format when it ends in .csv, else opp-ci's JSON."""
    path = Path(path)
    if path.suffix.lower() == ".csv":
        return InetCsvStore.load(path)
    return JsonStore.load(path)


# --- opp-ci's JSON store ---


@dataclass
class JsonStore:
    path: Path
    entries: dict[tuple[RunId, str], str] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> JsonStore:
        if not path.exists():
            return cls(path)
        try:
            data = json.loads(path.read_text())
            entries = {(RunId.of(e["config"], e["run"], e.get("itervars")), str(e["ingredients"])):
                       str(e["fingerprint"]).lower() for e in data["fingerprints"]}
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise UserError(f"{path}: not an opp-ci fingerprint file ({error}); "
                            "fix it or delete it and run `opp-ci baseline update`") from None
        return cls(path, entries)

    def expected(self, run: RunId, ingredients: list[str]) -> str | None:
        found = [f"{self.entries[run, i]}/{i}" for i in ingredients if (run, i) in self.entries]
        return ",".join(found) if len(found) == len(ingredients) else None

    def record(self, run: RunId, calculated: dict[str, str]) -> list[Change]:
        changes = []
        for ingredients, digest in calculated.items():
            old = self.entries.get((run, ingredients))
            action = Action.INSERT if old is None else Action.KEEP if old == digest else Action.UPDATE
            self.entries[run, ingredients] = digest
            changes.append(Change(action, run, ingredients, old, digest))
        return changes

    def save(self) -> None:
        rows = [{"config": run.config, "run": run.run, "itervars": dict(run.itervars), "ingredients": ingredients,
                 "fingerprint": digest}
                for (run, ingredients), digest in sorted(self.entries.items(), key=lambda item: (
                    item[0][0].config, item[0][0].run, item[0][0].itervars, item[0][1]))]
        write_json_atomically(self.path, {"version": STORE_VERSION, "fingerprints": rows})


# --- INET's fingerprint CSV ---


@dataclass
class InetRow:
    """One row of an INET fingerprint CSV."""

    line: int  # 1-based line number in the file
    working_dir: str
    args: str
    sim_time_limit: str
    fingerprint: str  # groups separated by ';', alternatives by ' '
    expected_result: str
    tags: str

    @property
    def config(self) -> str | None:
        return _option(self.args, "-c")

    @property
    def run(self) -> int | None:
        value = _option(self.args, "-r")
        return int(value) if value is not None and value.isdigit() else None

    @property
    def ini(self) -> str | None:
        return _option(self.args, "-f")

    def expected(self) -> str:
        """The `--fingerprint=` value: OMNeT++ separates the groups with commas."""
        return ",".join(group.strip() for group in self.fingerprint.split(";") if group.strip())


def _option(args: str, name: str) -> str | None:
    try:
        words = shlex.split(args)
    except ValueError:
        return None
    for index, word in enumerate(words):
        if word == name and index + 1 < len(words):
            return words[index + 1]
        if word.startswith(name) and len(word) > len(name) and name in ("-c", "-r", "-f"):
            return word[len(name):].lstrip("=")
    return None


def parse_inet_csv(text: str, where: str = "fingerprint CSV") -> list[InetRow]:
    """Rows of INET's format: 6 comma-separated fields, `#` comments, blank lines ignored."""
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        content = re.sub(r"\s*#.*$", "", line)
        if not content.strip():
            continue
        fields = [f.strip() for f in next(csv.reader(io.StringIO(content), skipinitialspace=True))]
        if len(fields) != 6:
            raise UserError(f"{where}:{number}: a row must have 6 fields (working directory, arguments, "
                            f"sim-time-limit, fingerprint, expected result, tags), found {len(fields)}")
        if fields[4] not in RESULTS:
            raise UserError(f"{where}:{number}: the expected result must be PASS, FAIL or ERROR, not {fields[4]!r}")
        rows.append(InetRow(number, *fields))
    return rows


@dataclass
class InetCsvStore:
    path: Path
    lines: list[str] = field(default_factory=list)
    rows: list[InetRow] = field(default_factory=list)
    ini: str | None = None  # prefer rows with this -f when several match a run

    @classmethod
    def load(cls, path: Path) -> InetCsvStore:
        if not path.exists():
            header = "# working directory, command line arguments, simulation time limit, fingerprint, " \
                     "expected result, tags"
            return cls(path, [header])
        text = path.read_text()
        return cls(path, text.splitlines(), parse_inet_csv(text, str(path)))

    def row_for(self, run: RunId) -> InetRow | None:
        matching = [r for r in self.rows if r.config == run.config and r.run == run.run]
        preferred = [r for r in matching if self.ini and r.ini == self.ini]
        return (preferred or matching or [None])[0]

    def expected(self, run: RunId, ingredients: list[str]) -> str | None:
        """The row's own fingerprints (its ingredients say what to check), whatever `ingredients` are."""
        row = self.row_for(run)
        return row.expected() if row is not None and row.fingerprint else None

    def expected_result(self, run: RunId) -> str:
        row = self.row_for(run)
        return row.expected_result if row is not None else "PASS"

    def record(self, run: RunId, calculated: dict[str, str]) -> list[Change]:
        row = self.row_for(run)
        if row is None:
            return self._insert(run, calculated)
        groups = [g.split() for g in row.fingerprint.split(";") if g.strip()]
        changes = []
        for ingredients, digest in calculated.items():
            changes.append(_record_in_groups(groups, run, ingredients, digest))
        new_text = ";".join(" ".join(g) for g in groups)
        self.lines[row.line - 1] = _replace_field(self.lines[row.line - 1], row.fingerprint, new_text)
        row.fingerprint = new_text
        return changes

    def _insert(self, run: RunId, calculated: dict[str, str]) -> list[Change]:
        text = " ".join(f"{digest}/{ingredients}" for ingredients, digest in calculated.items())
        ini = self.ini or "omnetpp.ini"
        self.lines.append(f".,  -f {ini} -c {run.config} -r {run.run},  ,  {text},  PASS,  ")
        self.rows.append(InetRow(len(self.lines), ".", f"-f {ini} -c {run.config} -r {run.run}", "", text,
                                 "PASS", ""))
        return [Change(Action.INSERT, run, ingredients, None, digest) for ingredients, digest in calculated.items()]

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text("\n".join(self.lines) + "\n")


def _record_in_groups(groups: list[list[str]], run: RunId, ingredients: str, digest: str) -> Change:
    """Replaces the group holding this ingredient set (keeping alternatives only if one matches)."""
    new_item = f"{digest}/{ingredients}"
    for group in groups:
        same = [item for item in group if item.partition("/")[2] == ingredients]
        if not same:
            continue
        if any(item.partition("/")[0].lower() == digest for item in same):
            return Change(Action.KEEP, run, ingredients, same[0].partition("/")[0], digest)
        group[:] = [new_item if item == same[0] else item for item in group if item not in same[1:]]
        return Change(Action.UPDATE, run, ingredients, same[0].partition("/")[0], digest)
    groups.append([new_item])
    return Change(Action.INSERT, run, ingredients, None, digest)


def _replace_field(line: str, old: str, new: str) -> str:
    """The line with its fingerprint field replaced, keeping the rest (alignment, comments) as it was."""
    if old and old in line:
        return line.replace(old, new, 1)
    fields = line.split(",")
    fields[3] = f"  {new}"
    return ",".join(fields)


def store_with_ini(store: FingerprintStore, ini: list[str]) -> FingerprintStore:
    """Lets an INET CSV store prefer rows for the campaign's first ini file."""
    if isinstance(store, InetCsvStore) and ini:
        store.ini = ini[0]
    return store


def describe_changes(changes: list[Change]) -> dict[str, Any]:
    counts = {action.value: sum(c.action is action for c in changes) for action in Action}
    return {"counts": counts, "lines": [c.describe() for c in changes]}


def store_path(project_dir: Path, setting: str | None) -> Path:
    return (Path(project_dir) / (setting or DEFAULT_STORE)).resolve()
