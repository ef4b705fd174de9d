"""The checks of fingerprints: `FingerprintCheck` (`opp-ci run --check fingerprints`: every run against the
expected fingerprints of the store) and `SuiteCheck` (a campaign of fingerprint suite rows: each row's verdict as
opp_fingerprinttest gives it, PASS, FAIL or ERROR against the row's expected result, from the logs of its runs;
with --repeat, fingerprints that differ between repetitions fail the row)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from opp_ci.checks import Judgements
from opp_ci.fingerprints.log import RunOutput, run_output
from opp_ci.fingerprints.stores import (
    FingerprintStore,
    InetCsvStore,
    RunId,
    dummy_expected,
    is_dummy,
    open_store,
    parse_ingredients,
    store_path,
    store_with_ini,
)
from opp_ci.fingerprints.suites import FingerprintSet, SuiteRow, read_suite
from opp_ci.fingerprints.verdicts import FingerprintVerdict, Outcome, RowVerdict
from opp_ci.payloads import job_id
from opp_ci.records import Campaign, Judgement, RunRecord, RunStatus, Verdict

#: Where campaign.json keeps the suite's outcome counts (the summary's chart reads them).
SUMMARY_KEY = "suite"

# --- the store's check ---

FINGERPRINTS = "fingerprints"
MISSING_PREFIX = "No expected fingerprint"


@dataclass
class FingerprintCheck:
    """Expected fingerprints in every payload, then a verdict on each run.

    Checking: a run with nothing to check fails and says how to fix it; INET rows expecting FAIL or
    ERROR make that outcome the passing one. Recording (`baseline update`): every run expects a
    dummy fingerprint so OMNeT++ prints the calculated one, and that mismatch is expected.
    """

    store: FingerprintStore
    ingredients: list[str]
    recording: bool = False
    name: str = FINGERPRINTS

    @classmethod
    def from_spec(cls, spec: Any) -> FingerprintCheck:
        settings = spec.checks
        store = store_with_ini(open_store(store_path(spec.project_dir, settings.fingerprints)), spec.ini)
        return cls(store, parse_ingredients(settings.fingerprint_ingredients), settings.record_fingerprints)

    def prepare(self, planned: list[Any]) -> list[Any]:
        """The planned runs with each one's expected fingerprint in its payload (and a job id that
        depends on it): the dummy one when recording, the store's when checking."""
        result = []
        for run in planned:
            expected = dummy_expected(self.ingredients) if self.recording else self.store.expected(
                RunId.of(run.info.config, run.info.number, run.info.itervars), self.ingredients)
            result.append(run if expected is None else _expecting(run, expected))
        return result

    def judge(self, campaign: Campaign, out_dir: Path) -> Judgements:
        verdict = self._recording_verdict if self.recording else self._verdict
        return Judgements([[found] if (found := verdict(record)) else [] for record in campaign.runs])

    def _recording_verdict(self, record: Any) -> Verdict | None:
        if record.fingerprint is FingerprintVerdict.MISMATCH and is_dummy(record.fingerprint_expected):
            return Verdict(FINGERPRINTS, Judgement.EXPECTED, "recording: the dummy fingerprint was meant to mismatch")
        return None

    def _verdict(self, record: Any) -> Verdict | None:
        expected_result = self.store.expected_result(RunId.of(record.config, record.run, record.itervars)) \
            if isinstance(self.store, InetCsvStore) else "PASS"
        checked = record.fingerprint is not FingerprintVerdict.NONE
        if record.execution is RunStatus.PASSED and not checked:
            return Verdict(FINGERPRINTS, Judgement.FAIL, f"{MISSING_PREFIX} for {record.config} #{record.run} in "
                           f"{self.store.path.name}: record one with `opp-ci baseline update`")
        if expected_result == "FAIL" and checked:
            return _expectation(record.fingerprint is FingerprintVerdict.MISMATCH, "a fingerprint mismatch")
        if expected_result == "ERROR":
            return _expectation(record.execution is RunStatus.FAILED and not checked, "an error")
        if record.fingerprint is FingerprintVerdict.VERIFIED:
            return Verdict(FINGERPRINTS, Judgement.PASS, f"verified: {record.fingerprint_calculated}")
        return None


def _expectation(happened: bool, what: str) -> Verdict:
    """An INET row whose expected result is FAIL or ERROR: that outcome passes, anything else fails."""
    if happened:
        return Verdict(FINGERPRINTS, Judgement.EXPECTED, f"{what}, as the fingerprint CSV expects")
    return Verdict(FINGERPRINTS, Judgement.FAIL, f"expected {what} (the fingerprint CSV says so), but it passed")


def _expecting(run: Any, expected: str) -> Any:
    identifier = job_id({"run": run.job_id, "fingerprint": expected})
    payload = replace(run.payload, fingerprint=expected, prefix=identifier)
    return replace(run, job_id=identifier, payload=payload)


# --- the suite's check ---

SUITE = "suite"


def rows_of(project_dir: Path, files: list[str]) -> dict[str, SuiteRow]:
    """The rows of the suite files, by `FILE:LINE` as records name them."""
    rows = {}
    for file in files:
        for row in read_suite(Path(project_dir) / file):
            rows[f"{file}:{row.line}"] = replace(row, file=Path(file))
    return rows


@dataclass
class SuiteCheck:
    rows: dict[str, SuiteRow]
    ingredients: list[str]
    name: str = SUITE

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
        found = {key: self.row_verdict(self.rows[key], records, out_dir) for key, records in by_row.items()}
        outcomes: dict[str, int] = defaultdict(int)
        for verdict in found.values():
            outcomes[verdict.category] += 1
        summary = {"rows": len(by_row), "passed": sum(v.passed for v in found.values()),
                   "outcomes": dict(sorted(outcomes.items())), "files": sorted({k.rpartition(":")[0] for k in by_row})}
        verdict_of = {key: _check_verdict(verdict, by_row[key]) for key, verdict in found.items()}
        verdicts = [[verdict_of[r.suite_row]] if r.suite_row in verdict_of else [] for r in campaign.runs]
        return Judgements(verdicts, summary if by_row else None, summary_key=SUMMARY_KEY)

    def row_verdict(self, row: SuiteRow, records: list[RunRecord], out_dir: Path) -> RowVerdict:
        """The row's verdict from its runs' logs; not judged when one of them did not execute (the
        infrastructure failed, not the row)."""
        if any(r.execution is RunStatus.ERROR for r in records):
            return RowVerdict.not_judged(row.expected)
        runs = [run_output(r, out_dir) for r in sorted(records, key=lambda r: r.repeat)]
        return judge_row(row, runs, self.ingredients)


def _check_verdict(found: RowVerdict, records: list[RunRecord]) -> Verdict:
    """The suite check's verdict on each run of a row: a row not as expected fails its runs; a row as expected
    passes them, or is the expected outcome of runs that did not pass (a FAIL or ERROR row)."""
    if not found.passed:
        return Verdict(SUITE, Judgement.FAIL, found.describe())
    executed = all(r.execution is RunStatus.PASSED for r in records)
    return Verdict(SUITE, Judgement.PASS if executed else Judgement.EXPECTED, found.describe())


def judge_row(row: SuiteRow, runs: Sequence[RunOutput], ingredients: Sequence[str] = ()) -> RowVerdict:
    """The row's verdict from its repetitions (`--repeat N`), as FingerprintTestCase.runTest: the
    first error wins; then a mismatch in any repetition, or repetitions that disagree, fail."""
    expected_sets = row.chosen(ingredients)
    seen: list[tuple[str, ...]] = []
    for run in runs:
        error = _error(row, run, bool(expected_sets))
        if error:
            return RowVerdict(Outcome.ERROR, row.expected, error, run.log.calculated)
        seen.append(run.log.calculated)
    last = seen[-1] if seen else ()
    if any(run.log.fingerprint_ok is False for run in runs):
        return RowVerdict(Outcome.FAIL, row.expected, mismatch_message(expected_sets, seen), last)
    if len(set(seen)) > 1:
        return RowVerdict(Outcome.FAIL, row.expected,
                       f"fingerprints differ between repetitions: {' | '.join(', '.join(s) for s in seen)}", last)
    return RowVerdict(Outcome.PASS, row.expected, "", last)


def _error(row: SuiteRow, run: RunOutput, checked: bool) -> str | None:
    if run.timed_out:
        return "timed out (wall clock); the process group was killed"
    if run.exit_code != 0 and not _only_mismatch(run):
        return f"runtime error with exitcode={run.exit_code}: " + "\n".join(run.log.errors)
    if run.log.cpu_time_limit_reached:
        return "cpu time limit exceeded"
    if run.log.simulated_time == 0 and row.sim_time_limit != "0s":
        return "zero time simulated"
    if checked and run.log.fingerprint_ok is None:
        return "other"
    return None


def _only_mismatch(run: RunOutput) -> bool:
    """OMNeT++ after 6.1 reports a mismatch as an error (exit 1); INET's tool still calls it FAIL."""
    return run.exit_code == 1 and run.log.fingerprint_ok is False and \
        all("Fingerprint mismatch" in e or "limit reached" in e or "No more events" in e for e in run.log.errors)


def mismatch_message(expected: Sequence[FingerprintSet], seen: Sequence[Sequence[str]]) -> str:
    """INET's words: `some fingerprint mismatch: actual 'A', expected: 'E'`, listing only the sets
    whose calculated values match none of the expected alternatives."""
    actual: list[str] = []
    for calculated in seen:
        actual += [c for c in calculated if c not in actual]
    bad_actual, bad_expected = [], []
    for fp_set in expected:
        mine = [c for c in actual if c.partition("/")[2] == fp_set.ingredients]
        if not any(c.partition("/")[0].lower() in fp_set.hashes for c in mine) or len(mine) > 1:
            bad_actual.append(" ".join(mine))
            bad_expected.append(fp_set.text())
    return f"some fingerprint mismatch: actual '{';'.join(bad_actual)}', expected: '{';'.join(bad_expected)}'"


