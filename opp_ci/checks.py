"""Checks: what judges a campaign's runs beyond how they executed.

A check is one object with two steps: `prepare` may adjust the planned runs before they are queued
(e.g. put the expected fingerprint in each payload), and `judge` returns its verdicts on the
collected records, plus an optional summary kept in campaign.json under the check's name. A
record's status is derived from its execution and all verdicts (`RunRecord.judge`), so judging
again (`opp-ci report --recheck`) is a recomputation, never an undo.

The checks are `opp_ci.fingerprints.checks.FingerprintCheck` and `.SuiteCheck`, and `opp_ci.regression.ComparisonCheck`
(scalar tolerances and statistical tests against a baseline campaign).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from opp_ci.records import Campaign, Verdict

if TYPE_CHECKING:
    from opp_ci.planning import PlannedRun


@dataclass
class Judgements:
    """A check's verdicts, by record (in the campaign's order), and what it says about the campaign."""

    verdicts: list[list[Verdict]]
    summary: dict[str, Any] | None = None
    summary_key: str | None = None


class Check(Protocol):
    name: str

    def prepare(self, planned: list[PlannedRun]) -> list[PlannedRun]:
        """The planned runs, adjusted for this check (or as they are)."""
        ...

    def judge(self, campaign: Campaign, out_dir: Path) -> Judgements:
        ...


def prepare_runs(checks: list[Check], planned: list[PlannedRun]) -> list[PlannedRun]:
    for check in checks:
        planned = check.prepare(planned)
    return planned


def judge_campaign(checks: list[Check], campaign: Campaign, out_dir: Path) -> Campaign:
    """Replaces the verdicts of these checks on every record (keeping other checks' verdicts) and
    derives each record's status again; stores each check's summary in the campaign."""
    names = {check.name for check in checks}
    verdicts = [[v for v in record.verdicts if v.check not in names] for record in campaign.runs]
    for check in checks:
        judged = check.judge(campaign, out_dir)
        for mine, theirs in zip(verdicts, judged.verdicts, strict=True):
            mine.extend(theirs)
        if judged.summary_key:
            campaign.extra.pop(judged.summary_key, None)
            if judged.summary is not None:
                campaign.extra[judged.summary_key] = judged.summary
    for record, found in zip(campaign.runs, verdicts, strict=True):
        record.judge(found)
    return campaign
