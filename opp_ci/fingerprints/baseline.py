"""`opp-ci baseline update`: its two targets, each with `of` (from the spec), `update` (from a recording
campaign), `counts` and `written`. `StoreFile` records every run's calculated fingerprints in the store
(`opp-ci-fingerprints.json` or an INET CSV); `SuiteFiles` rewrites the fingerprint fields of suite CSVs in place."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from opp_ci.fingerprints.checks import FingerprintCheck
from opp_ci.fingerprints.log import run_output
from opp_ci.fingerprints.stores import Change, FingerprintStore, RunId, describe_changes, split_calculated
from opp_ci.fingerprints.suites import Action, RowChange, SuiteUpdate, read_suite, update_suite, write_update
from opp_ci.fingerprints.verdicts import Expected
from opp_ci.records import Campaign


def update_from_campaign(store: FingerprintStore, campaign: Any) -> tuple[list[Change], list[str]]:
    """Records every run's calculated fingerprints; returns the changes and the runs that had none."""
    changes: list[Change] = []
    skipped: list[str] = []
    for record in sorted(campaign.runs, key=lambda r: r.key):
        run = RunId.of(record.config, record.run, record.itervars)
        calculated = split_calculated(record.fingerprint_calculated)
        if not calculated:
            skipped.append(f"{run.describe()}: no calculated fingerprint ({record.error or record.status.value})")
            continue
        changes += store.record(run, calculated)
    return changes, skipped


@dataclass
class StoreFile:
    """`baseline update` of the fingerprint store (`opp-ci-fingerprints.json` or an INET CSV): every run of the
    recording campaign expects a dummy fingerprint, and its calculated ones are kept, inserted or updated."""

    check: FingerprintCheck
    note: str = ("recording fingerprints: every run expects a dummy fingerprint, so the progress line counts them "
                 "as failed until they are judged at the end")

    @classmethod
    def of(cls, spec: Any) -> StoreFile:
        # every run expects a dummy fingerprint, and fails: none is run again to confirm it
        spec.checks = replace(spec.checks, check=[], baseline=None, record_fingerprints=True, confirm=0)
        return cls(FingerprintCheck.from_spec(spec))  # checks the ingredients, too

    @property
    def written(self) -> str:
        return str(self.check.store.path)

    def update(self, campaign: Any, out_dir: Path) -> tuple[list[Change], list[str]]:
        changes, skipped = update_from_campaign(self.check.store, campaign)
        self.check.store.save()
        return changes, skipped

    @staticmethod
    def counts(changes: list[Change]) -> str:
        counts = describe_changes(changes)["counts"]
        return f"{counts['KEEP']} kept, {counts['INSERT']} inserted, {counts['UPDATE']} updated"


def update_suites(project_dir: Path, files: list[str], campaign: Campaign, out_dir: Path
                  ) -> tuple[list[RowChange], list[str]]:
    """Rewrites the fingerprint fields of the suite files in place with what the campaign's runs
    calculated (the first repetition of each row); returns the changes and the rows that had none."""
    updates, skipped = suite_updates(project_dir, files, campaign, out_dir)
    changes: list[RowChange] = []
    for file, update in updates.items():
        write_update(Path(project_dir) / file, update)
        changes += update.changes
    return changes, skipped


def suite_updates(project_dir: Path, files: list[str], campaign: Campaign, out_dir: Path
                  ) -> tuple[dict[str, SuiteUpdate], list[str]]:
    """The new text of each suite file (by its name in `files`) with what the campaign's runs calculated,
    nothing written; and the rows that had no calculated fingerprint."""
    updates: dict[str, SuiteUpdate] = {}
    skipped: list[str] = []
    for file in files:
        path = Path(project_dir) / file
        rows = [replace(row, file=Path(file)) for row in read_suite(path)]
        by_line = {row.line: row for row in rows}
        calculated = {}
        for record in campaign.runs:
            if record.suite_row and record.suite_row.rpartition(":")[0] == file and record.repeat == 0:
                found = run_output(record, out_dir).log.calculated
                line = int(record.suite_row.rpartition(":")[2])
                if found:
                    calculated[line] = found
                elif line in by_line and by_line[line].expected is not Expected.ERROR:  # an error row has none
                    skipped.append(f"{record.suite_row} {record.test}: no calculated fingerprint "
                                   f"({record.error or record.status.value})")
        updates[file] = update_suite(path.read_text(encoding="utf-8"), rows, calculated)
    return updates, skipped


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
