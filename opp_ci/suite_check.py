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
from opp_ci.suites import Outcome, RunOutput, SuiteRow, judge_row, read_run_output, read_suite

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
        counts = {outcome.value: 0 for outcome in Outcome} | {"passed": 0, "rows": len(by_row)}
        for verdict in verdict_of.values():
            counts[verdict.outcome.value] += 1
            counts["passed"] += verdict.judgement is not Judgement.FAIL
        verdicts = [[verdict_of[r.suite_row]] if r.suite_row in verdict_of else [] for r in campaign.runs]
        return Judgements(verdicts, counts if by_row else None, summary_key=SUMMARY_KEY)

    def _verdict(self, row: SuiteRow, records: list[RunRecord], out_dir: Path) -> Verdict:
        if any(r.execution is RunStatus.ERROR for r in records):  # the infrastructure failed, not the row
            return _SuiteVerdict(CHECK, Judgement.FAIL, "not judged: a run of the row did not execute",
                                 outcome=Outcome.ERROR)
        found = judge_row(row, [run_output(r, out_dir) for r in sorted(records, key=lambda r: r.repeat)],
                          self.ingredients)
        text = found.describe()
        if not found.passed:
            return _SuiteVerdict(CHECK, Judgement.FAIL, text, outcome=found.outcome)
        executed = all(r.execution is RunStatus.PASSED for r in records)
        return _SuiteVerdict(CHECK, Judgement.PASS if executed else Judgement.EXPECTED, text, outcome=found.outcome)


@dataclass(frozen=True)
class _SuiteVerdict(Verdict):
    """A verdict that also remembers the row's outcome (only while judging; campaign.json keeps the text)."""

    outcome: Outcome = Outcome.PASS
