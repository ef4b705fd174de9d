"""Triage: why each run that did not pass failed, and whether that fails the campaign (the judge stage's last step).

Every record that did not pass gets `triage` in campaign.json::

    {"finding": "nondeterministic" | "baseline-outdated" | "changed" | "unknown",
     "evidence": ["one line each", ...],
     "results": [what each attempt produced, the first run's first],   # with --confirm
     "environment": {"omnetpp": ["6.1.0", "6.2.0"], ...},              # baseline-outdated, when it differs
     "quarantine": {"entry": NAME, "reason": ..., "expires": DATE}}   # when an entry covers it

The order of the questions: results that differ between attempts of the same build (`--confirm`) are
nondeterministic, whatever the baseline says; a stable result the baseline campaign (`--baseline`, the base
branch's artifact) produced as well is baseline-outdated (the base branch fails the same way); one it did not
is changed; without a baseline it is unknown. What a run produced is compared, never its verdict: its
calculated fingerprints, its exit code and its scalars.

The gate (`--fail-on`, `[quarantine]`) is kept in campaign.json with its settings, so that `report --recheck`
and `merge` decide it again from the file alone.
"""

from __future__ import annotations

import datetime
import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from opp_ci.errors import UserError
from opp_ci.records import Campaign, RunRecord, RunStatus

#: campaign.json's key of the gate: its settings and its decision.
GATE_KEY = "gate"
#: Environment keys that say nothing about the simulation's behaviour (they differ between any two commits).
UNCOMPARED_ENVIRONMENT = ("commit", "image")
#: How long the quarantine entry a nondeterministic finding proposes lasts.
PROPOSED_QUARANTINE_DAYS = 30


#: How many times more a failed run runs in a pull request's workflow, unless `confirm` says otherwise.
PULL_REQUEST_CONFIRM = 2


def default_confirm(environ: Mapping[str, str]) -> int:
    """`confirm`'s default: PULL_REQUEST_CONFIRM in a pull request's workflow (where a failure's cause decides
    whether the change may merge), else 0."""
    return PULL_REQUEST_CONFIRM if environ.get("GITHUB_EVENT_NAME", "").startswith("pull_request") else 0


class Finding(StrEnum):
    NONDETERMINISTIC = "nondeterministic"  # results differ between attempts on the same build
    BASELINE_OUTDATED = "baseline-outdated"  # the baseline campaign produced the same: not this change's doing
    CHANGED = "changed"  # the baseline produced something else (or did not have the run)
    UNKNOWN = "unknown"  # no baseline to compare with


#: What `--fail-on changed` still fails on.
CHANGE_FINDINGS = (Finding.CHANGED, Finding.UNKNOWN)


# --- what a run produced ---


def produced(record: RunRecord, out_dir: Path) -> dict[str, Any]:
    """What one attempt of a run produced, comparable between attempts and campaigns: the exit code (or
    `timeout`), the calculated fingerprints, and a digest of its scalars."""
    from opp_ci.fingerprints.log import run_output

    fingerprints = record.fingerprint_calculated
    if record.suite_row:
        fingerprints = ", ".join(run_output(record, out_dir).log.calculated) or fingerprints
    result: dict[str, Any] = {"exit": "timeout" if record.execution is RunStatus.TIMEOUT else record.exit_code}
    if fingerprints:
        result["fingerprints"] = fingerprints
    scalars = scalar_digest(out_dir / name for name in record.result_files if name.endswith(".sca"))
    if scalars:
        result["scalars"] = scalars
    return result


def scalar_digest(files: Iterable[Path]) -> str | None:
    """A short digest of every scalar in these files (module, name, value; sorted); None without any."""
    from opp_ci.results import read_all_runs

    values = sorted((s.module, s.name, repr(s.value)) for run in read_all_runs([f for f in files if f.is_file()])
                    for s in run.scalars)
    if not values:
        return None
    return hashlib.sha256(json.dumps(values).encode()).hexdigest()[:16]


def differences(results: list[dict[str, Any]]) -> list[str]:
    """The fields that differ between attempts, each with every attempt's value."""
    lines = []
    for field in ("exit", "fingerprints", "scalars"):
        values = [str(result.get(field, "-")) for result in results]
        if len(set(values)) > 1:
            lines.append(f"{_FIELD_NAMES[field]} differ between attempts: " + " | ".join(values))
    return lines


_FIELD_NAMES = {"exit": "exit codes", "fingerprints": "calculated fingerprints", "scalars": "scalars (digests)"}


# --- matching a run across campaigns ---


def match_key(record: RunRecord) -> tuple[Any, ...]:
    """What identifies a run in another campaign of the same project: a suite row by its test and repetition (its
    line may move), a config's run by its iteration variables and repetition (its number may change)."""
    if record.test:
        return ("row", record.test, record.repeat)
    variables = tuple(sorted(record.itervars.items()))
    return ("run", record.config, variables, record.repetition, None if variables else record.run)


def run_name(record: RunRecord) -> str:
    """The name a quarantine entry gives a run: a suite row's test (`workingdir args`), else `CONFIG #RUN`."""
    return record.test or f"{record.config} #{record.run}"


# --- the quarantine ---


@dataclass(frozen=True)
class QuarantineEntry:
    pattern: str  # a run name or a glob of run names
    reason: str
    expires: datetime.date

    def covers(self, record: RunRecord) -> bool:
        return fnmatchcase(run_name(record), self.pattern)

    def to_json(self) -> dict[str, str]:
        return {"entry": self.pattern, "reason": self.reason, "expires": self.expires.isoformat()}


def parse_quarantine(table: Mapping[str, Any]) -> list[QuarantineEntry]:
    """The `[quarantine]` table of opp-ci.toml (or campaign.json's copy); a UserError naming the entry and the fix
    for one that is not `NAME = {reason = "...", expires = YYYY-MM-DD}`."""
    entries = []
    for pattern, entry in table.items():
        where = f"quarantine entry {pattern!r}"
        if not isinstance(entry, Mapping) or set(entry) != {"reason", "expires"}:
            raise UserError(f"{where} must be {{ reason = \"why\", expires = YYYY-MM-DD }} and nothing else")
        if not isinstance(entry["reason"], str) or not entry["reason"].strip():
            raise UserError(f"{where}: reason must say why the run is quarantined (an issue, a cause)")
        entries.append(QuarantineEntry(pattern, entry["reason"].strip(), _date(entry["expires"], where)))
    return entries


def _date(value: Any, where: str) -> datetime.date:
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    try:
        return datetime.date.fromisoformat(str(value))
    except ValueError:
        raise UserError(f"{where}: expires {value!r} is not a date; write it as YYYY-MM-DD") from None


def quarantine_table(table: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """The `[quarantine]` table checked (`parse_quarantine`), as campaign.json keeps it (dates as text)."""
    return {e.pattern: {"reason": e.reason, "expires": e.expires.isoformat()} for e in parse_quarantine(table)}


def proposed_entry(record: RunRecord, today: datetime.date) -> str:
    """The `[quarantine]` line that would quarantine a nondeterministic run for PROPOSED_QUARANTINE_DAYS."""
    expires = today + datetime.timedelta(days=PROPOSED_QUARANTINE_DAYS)
    return (f"{json.dumps(run_name(record))} = {{ reason = \"nondeterministic: results differ between attempts\", "
            f"expires = {expires.isoformat()} }}")


# --- the baseline campaign ---


@dataclass
class Baseline:
    """The campaign a pull request is compared with (the base branch's), its records by `match_key`."""

    campaign: Campaign
    out_dir: Path
    records: dict[tuple[Any, ...], RunRecord]

    @classmethod
    def read(cls, out_dir: str | Path | None) -> Baseline | None:
        """The baseline in `out_dir`; None without one (or when it cannot be read: the comparison says why)."""
        if not out_dir or not (Path(out_dir) / "campaign.json").is_file():
            return None
        try:
            campaign = Campaign.read(Path(out_dir))
        except (ValueError, OSError):
            return None
        return cls(campaign, Path(out_dir), {match_key(record): record for record in campaign.runs})

    def environment_differences(self, campaign: Campaign) -> dict[str, list[str]]:
        """The environment values (campaign.json `environment`) that differ: {key: [baseline's, this one's]}."""
        base, ours = self.campaign.extra.get("environment") or {}, campaign.extra.get("environment") or {}
        keys = [k for k in dict.fromkeys([*base, *ours]) if k not in UNCOMPARED_ENVIRONMENT]
        return {k: [str(base.get(k, "-")), str(ours.get(k, "-"))] for k in keys if base.get(k) != ours.get(k)}


# --- the triage of one record ---


def describe_result(result: Mapping[str, Any]) -> str:
    parts = [f"fingerprints {result['fingerprints']}"] if "fingerprints" in result else []
    parts.append("timed out" if result.get("exit") == "timeout" else f"exit code {result.get('exit')}")
    if "scalars" in result:
        parts.append(f"scalars {result['scalars']}")
    return ", ".join(parts)


def triage_record(record: RunRecord, out_dir: Path, baseline: Baseline | None,
                  environment: dict[str, list[str]]) -> dict[str, Any]:
    """The finding on one record that did not pass, its evidence, and every attempt's result."""
    earlier = (record.triage or {}).get("results")
    results = earlier if earlier else [produced(record, out_dir)]
    if len({json.dumps(r, sort_keys=True) for r in results}) > 1:
        finding, evidence, extra = Finding.NONDETERMINISTIC, differences(results), {}
    else:
        stable = f"the same result in {len(results)} attempts" if len(results) > 1 else "not run again (--confirm 0)"
        finding, evidence, extra = _stable(record, results[0], stable, baseline, environment)
    return {"finding": finding.value, "evidence": evidence, "results": results, **extra}


def _stable(record: RunRecord, result: dict[str, Any], stable: str, baseline: Baseline | None,
            environment: dict[str, list[str]]) -> tuple[Finding, list[str], dict[str, Any]]:
    """The finding on a result every attempt produced: from what the baseline's run produced."""
    if record.status is RunStatus.ERROR:
        return Finding.UNKNOWN, ["the infrastructure failed (not the simulation): nothing to compare; run it "
                                 "again"], {}
    if baseline is None:
        return Finding.UNKNOWN, [f"{stable}; no baseline campaign to compare with (--baseline DIR: the base "
                                 f"branch's output)"], {}
    name, base_record = baseline.campaign.campaign, baseline.records.get(match_key(record))
    if base_record is None:
        return Finding.CHANGED, [f"the baseline campaign {name} has no such run; {stable}"], {}
    if base_record.status is RunStatus.ERROR:
        why = (base_record.error or "error").splitlines()[0][:200]
        return Finding.UNKNOWN, [f"the baseline's run has no result to compare (its infrastructure failed: "
                                 f"{why}); {stable}"], {}
    base = produced(base_record, baseline.out_dir)
    if base != result:
        return Finding.CHANGED, [f"the baseline produced {describe_result(base)}; this run "
                                 f"{describe_result(result)} ({stable})"], {}
    evidence = [f"the baseline campaign {name} produced the same: {describe_result(base)}"]
    if not environment:
        return Finding.BASELINE_OUTDATED, evidence, {}
    differs = "; ".join(f"{key} {was} → {now}" for key, (was, now) in environment.items())
    return Finding.BASELINE_OUTDATED, [*evidence, f"environment differs from the baseline's: {differs}"], \
        {"environment": environment}


# --- the gate ---


def judge(campaign: Campaign, out_dir: Path, today: datetime.date | None = None) -> dict[str, Any]:
    """Triages every record that did not pass and decides the gate, both kept in campaign.json. When the baseline
    the campaign was triaged against is not here, the findings it gave are kept (the gate is decided again)."""
    settings = campaign.extra.get(GATE_KEY)
    if not isinstance(settings, dict):
        return {}
    today = today or datetime.date.today()
    baseline = Baseline.read(settings.get("baseline"))
    environment = baseline.environment_differences(campaign) if baseline else {}
    entries = parse_quarantine(settings.get("quarantine") or {})
    keep = baseline is None and bool(settings.get("baseline"))  # a baseline named, not here (`merge` elsewhere)
    for record in campaign.runs:
        if record.status is RunStatus.PASSED:
            record.triage = None
            continue
        if not (keep and (record.triage or {}).get("finding")):
            record.triage = triage_record(record, out_dir, baseline, environment)
        record.triage.pop("quarantine", None)  # a kept finding's entry may be gone from the settings
        entry = next((e for e in entries if e.covers(record)), None)
        if entry is not None:
            record.triage["quarantine"] = {**entry.to_json(), "expired": entry.expires < today}
    decision = decide(campaign.runs, settings.get("fail_on", "any"), entries, today)
    settings.update(decision)
    return decision


def let_pass(record: RunRecord, fail_on: str) -> str | None:
    """Why a failed run does not fail the campaign: "quarantined" (an unexpired entry covers it), "tolerated"
    (`--fail-on changed` and this change did not cause it); None when it fails the campaign."""
    triage = record.triage or {}
    entry = triage.get("quarantine")
    if entry and not entry.get("expired"):
        return "quarantined"
    if fail_on == "any" or not triage or triage.get("finding") in CHANGE_FINDINGS:
        return None
    return "tolerated"


def decide(records: list[RunRecord], fail_on: str, entries: list[QuarantineEntry],
           today: datetime.date) -> dict[str, Any]:
    """Which failures fail the campaign: every one with `any`, only changed and unknown ones with `changed`;
    never one an unexpired quarantine entry covers. An expired entry fails the campaign, whatever its runs did."""
    counts = Counter(let_pass(record, fail_on) for record in records if record.status is not RunStatus.PASSED)
    expired = [f"quarantine entry {e.pattern!r} expired on {e.expires.isoformat()} ({e.reason}): fix the run and "
               f"remove the entry, or extend `expires`" for e in entries if e.expires < today]
    return {"passed": counts[None] == 0 and not expired, "failing": counts[None], "tolerated": counts["tolerated"],
            "quarantined": counts["quarantined"], "expired": expired}


def report_gate(campaign: Campaign) -> None:
    """Says on the console what the gate decided beyond "every run passed": expired entries (errors), failures let
    pass, and the findings' counts."""
    from opp_ci import output

    gate = campaign.extra.get(GATE_KEY)
    if not isinstance(gate, dict) or "passed" not in gate:
        return
    for message in gate.get("expired", []):
        output.error(message)
    findings = [(record.triage or {}).get("finding") for record in campaign.runs if record.triage]
    counts = ", ".join(f"{findings.count(f.value)} {f.value}" for f in Finding if f.value in findings)
    if counts:
        output.info(f"triage: {counts}; {gate['failing']} failing the check, {gate['tolerated']} let pass by "
                    f"--fail-on {gate['fail_on']}, {gate['quarantined']} quarantined")


def without_nondeterministic(campaign: Campaign) -> tuple[Campaign, list[RunRecord]]:
    """The campaign without its runs triaged nondeterministic, and those runs: a fingerprint one attempt happened
    to calculate is not one to accept (`baseline update --from`, the proposed patch); quarantine them instead."""
    def unstable(record: RunRecord) -> bool:
        return (record.triage or {}).get("finding") == Finding.NONDETERMINISTIC.value

    kept = [record for record in campaign.runs if not unstable(record)]
    return replace(campaign, runs=kept), [record for record in campaign.runs if unstable(record)]
