"""The check of a campaign of fingerprint suite rows: each row's verdict as opp_fingerprinttest gives
it (PASS, FAIL, ERROR against the row's expected result), from the logs of its runs (several with
--repeat: fingerprints that differ between repetitions fail the row)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from opp_ci.checks import Judgements
from opp_ci.records import Campaign, Judgement, RunRecord, RunStatus, Verdict
from opp_ci.suites import (
    Action,
    Expected,
    Outcome,
    RowChange,
    RunOutput,
    SuiteRow,
    judge_row,
    read_run_output,
    read_suite,
    update_suite,
    write_update,
)

CHECK = "suite"
#: Where campaign.json keeps the suite's outcome counts (the summary's chart reads them).
SUMMARY_KEY = "suite"


def rows_of(project_dir: Path, files: list[str]) -> dict[str, SuiteRow]:
    """The rows of the suite files, by `FILE:LINE` as records name them."""
    rows = {}
    for file in files:
        for row in read_suite(Path(project_dir) / file):
            rows[f"{file}:{row.line}"] = replace(row, file=Path(file))
    return rows


def run_output(record: RunRecord, out_dir: Path) -> RunOutput:
    """What the run printed (its log, else the tail kept in the record), read as the tool reads it."""
    log = out_dir / record.log if record.log else None
    text = log.read_text(errors="replace") if log is not None and log.is_file() else record.log_tail
    return read_run_output(text, record.exit_code, record.execution is RunStatus.TIMEOUT)


@dataclass
class SuiteCheck:
    rows: dict[str, SuiteRow]
    ingredients: list[str]
    name: str = CHECK

    @classmethod
    def from_spec(cls, spec: Any) -> SuiteCheck:
        return cls(rows_of(spec.project_dir, spec.suites.files), list(spec.suites.ingredients))

    def prepare(self, planned: list[Any]) -> list[Any]:
        return planned

    def judge(self, campaign: Campaign, out_dir: Path) -> Judgements:
        by_row: dict[str, list[RunRecord]] = defaultdict(list)
        for record in campaign.runs:
            if record.suite_row in self.rows:
                by_row[record.suite_row].append(record)
        verdict_of = {key: self._verdict(self.rows[key], records, out_dir) for key, records in by_row.items()}
        outcomes: dict[str, int] = defaultdict(int)
        for verdict in verdict_of.values():
            outcomes[verdict.category] += 1
        summary = {"rows": len(by_row), "passed": sum(v.judgement is not Judgement.FAIL for v in verdict_of.values()),
                   "outcomes": dict(sorted(outcomes.items())), "files": sorted({k.rpartition(":")[0] for k in by_row})}
        verdicts = [[verdict_of[r.suite_row]] if r.suite_row in verdict_of else [] for r in campaign.runs]
        return Judgements(verdicts, summary if by_row else None, summary_key=SUMMARY_KEY)

    def _verdict(self, row: SuiteRow, records: list[RunRecord], out_dir: Path) -> _SuiteVerdict:
        if any(r.execution is RunStatus.ERROR for r in records):  # the infrastructure failed, not the row
            return _SuiteVerdict(CHECK, Judgement.FAIL, "not judged: a run of the row did not execute",
                                 outcome=Outcome.ERROR, category="not judged")
        found = judge_row(row, [run_output(r, out_dir) for r in sorted(records, key=lambda r: r.repeat)],
                          self.ingredients)
        text = found.describe()
        if not found.passed:
            return _SuiteVerdict(CHECK, Judgement.FAIL, text, outcome=found.outcome, category=found.category)
        executed = all(r.execution is RunStatus.PASSED for r in records)
        return _SuiteVerdict(CHECK, Judgement.PASS if executed else Judgement.EXPECTED, text, outcome=found.outcome,
                             category=found.category)


@dataclass(frozen=True)
class _SuiteVerdict(Verdict):
    """A verdict that also remembers the row's outcome and its category (only while judging; campaign.json keeps
    the text)."""

    outcome: Outcome = Outcome.PASS
    category: str = "PASS"


def update_suites(project_dir: Path, files: list[str], campaign: Campaign, out_dir: Path
                  ) -> tuple[list[RowChange], list[str]]:
    """Rewrites the fingerprint fields of the suite files in place with what the campaign's runs
    calculated (the first repetition of each row); returns the changes and the rows that had none."""
    changes: list[RowChange] = []
    skipped: list[str] = []
    for file in files:
        path = Path(project_dir) / file
        rows = [replace(row, file=Path(file)) for row in read_suite(path)]
        by_line = {row.line: row for row in rows}
        calculated = {}
        for record in campaign.runs:
            if record.suite_row and record.suite_row.rpartition(":")[0] == file and record.repeat == 0:
                found = run_output(record, out_dir).calculated
                line = int(record.suite_row.rpartition(":")[2])
                if found:
                    calculated[line] = found
                elif line in by_line and by_line[line].expected is not Expected.ERROR:  # an error row has none
                    skipped.append(f"{record.suite_row} {record.test}: no calculated fingerprint "
                                   f"({record.error or record.status.value})")
        update = update_suite(path.read_text(encoding="utf-8"), rows, calculated)
        write_update(path, update)
        changes += update.changes
    return changes, skipped


@dataclass
class SuiteFiles:
    """`baseline update` of fingerprint suite CSVs: their rows run (or read from --from), their fingerprint
    fields rewritten in place."""

    project_dir: Path
    files: list[str]
    note: str = ""

    @classmethod
    def of(cls, spec: Any) -> SuiteFiles:
        return cls(spec.project_dir, list(spec.suites.files))

    @property
    def written(self) -> str:
        return ", ".join(self.files)

    def update(self, campaign: Campaign, out_dir: Path) -> tuple[list[RowChange], list[str]]:
        return update_suites(self.project_dir, self.files, campaign, out_dir)

    @staticmethod
    def counts(changes: list[RowChange]) -> str:
        updated = sum(c.action is Action.UPDATE for c in changes)
        return f"{len(changes) - updated} kept, {updated} updated"
