"""`opp-ci merge`: the output directories of a sharded campaign's shards joined into one, as if one campaign had run.

Every run of the plan appears once: the records the shards collected (with the shard each came from), and for a
run no shard reported (its shard failed, or was never given, or ended early) a record that says it was not run
and why; the plan each shard keeps in campaign.json names those runs. Result files and logs are copied, the
reports are written by the report writers `run` uses, the run-time histories are joined, the fingerprint suite's
counts added up, the comparison with a baseline and the patch that accepts new fingerprints done again over all
runs.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opp_ci import outdir, output, triage
from opp_ci.errors import UserError
from opp_ci.history import read_history, run_key, save_history, write_history
from opp_ci.naming import new_campaign_id
from opp_ci.records import CAMPAIGN_FILE, Campaign, MalformedRecord, RunRecord, RunStatus
from opp_ci.shards import SHARD_KEY, record_identity

#: What merge keeps of a shard's campaign.json `extra` as it is (the rest is merged or done again).
_MERGED_KEYS = (SHARD_KEY, "suite", "regression", "infrastructure_error", "queue_jobs", "cost", "baseline_update")


@dataclass
class ShardOutput:
    """One shard's output directory and its campaign."""

    directory: Path
    campaign: Campaign

    @property
    def info(self) -> dict[str, Any]:
        return self.campaign.extra[SHARD_KEY]

    @property
    def index(self) -> int:
        return int(self.info["index"])


def read_shards(directories: list[Path]) -> tuple[list[ShardOutput], list[Path]]:
    """The shards' campaigns (by shard number), and the directories that hold no campaign.json (their shard
    did not report); a campaign.json that is not a shard's is an error."""
    found, absent = [], []
    for directory in directories:
        if not (directory / CAMPAIGN_FILE).is_file():
            absent.append(directory)
            continue
        try:
            campaign = Campaign.read(directory)
        except (OSError, ValueError) as error:
            raise UserError(f"cannot read {directory / CAMPAIGN_FILE}: {error}; give the output directories of "
                            f"`opp-ci run --shard I/N`") from None
        if not isinstance(campaign.extra.get(SHARD_KEY), dict) or "index" not in campaign.extra[SHARD_KEY]:
            raise UserError(f"{directory} is not a shard's output (its campaign ran without --shard I/N); merge "
                            f"only the output directories of `opp-ci run --shard I/N`")
        found.append(ShardOutput(directory, campaign))
    return sorted(found, key=lambda s: s.index), absent


def check_shards(shards: list[ShardOutput], absent: list[Path], out: Path) -> None:
    """One campaign's shards, each once, none of them the output directory."""
    if not shards:
        names = ", ".join(str(d) for d in absent)
        raise UserError(f"no shard reported: none of {names} has a campaign.json; give the shards' output "
                        f"directories")
    first = shards[0]
    for shard in shards[1:]:
        if (shard.info.get("plan"), shard.info.get("count")) != (first.info.get("plan"), first.info.get("count")):
            raise UserError(f"{first.directory} and {shard.directory} are shards of different campaigns (plans "
                            f"{first.info.get('plan')} of {first.info.get('count')} and {shard.info.get('plan')} of "
                            f"{shard.info.get('count')}); merge the shards of one campaign")
    seen: dict[int, Path] = {}
    for shard in shards:
        if shard.index in seen:
            raise UserError(f"{seen[shard.index]} and {shard.directory} are both shard {shard.index}/"
                            f"{shard.info['count']}; give each shard once")
        seen[shard.index] = shard.directory
    for directory in [s.directory for s in shards] + absent:
        if directory.resolve() == out.resolve():
            raise UserError(f"--out {out} is one of the shards' directories; choose another --out")


def merge(directories: list[Path], out: Path) -> Campaign:
    """Merges the shards' output directories into `out`; returns the merged campaign."""
    shards, absent = read_shards(directories)
    check_shards(shards, absent, out)
    merged = merged_campaign(shards, absent)  # a malformed plan fails here, before the output directory is touched
    out_dir = outdir.claim(out.resolve(), resume=False)
    try:
        for shard in shards:
            _copy_files(shard, out_dir)
        _merge_history(shards, merged, out_dir)
        _judge_again(shards, merged, out_dir)
        triage.judge(merged, out_dir)  # the gate decided over every shard's runs
        _accept_again(shards, merged, out_dir)
        merged.write(out_dir)
        from opp_ci.report import write_reports

        write_reports(merged, out_dir)
    finally:
        outdir.release(out_dir)
    return merged


def merged_campaign(shards: list[ShardOutput], absent: list[Path]) -> Campaign:
    """Every shard's records, and one for each planned run without one; the metadata of all shards."""
    first, count = shards[0], int(shards[0].info["count"])
    records = []
    for shard in shards:
        for record in shard.campaign.runs:
            record.shard = shard.index
            records.append(record)
    reported = {shard.index: shard for shard in shards}
    have = {record_identity(r) for r in records}
    plan = [entry for entry in planned_runs(first, count) if entry["id"] not in have]
    records += [_not_run(first, entry, _why_not_run(entry["shard"], count, reported, absent)) for entry in plan]
    missing = [index for index in range(1, count + 1) if index not in reported]
    campaign = Campaign(
        campaign=new_campaign_id(), runs=records, backend=first.campaign.backend, command=first.campaign.command,
        started_at=min((s.campaign.started_at for s in shards if s.campaign.started_at), default=None),
        finished_at=max((s.campaign.finished_at for s in shards if s.campaign.finished_at), default=None),
        wall_seconds=max(s.campaign.wall_seconds for s in shards),  # the shards ran side by side
        extra={k: v for k, v in first.campaign.extra.items() if k not in _MERGED_KEYS},
    )
    campaign.extra[SHARD_KEY] = {
        "count": count, "plan": first.info.get("plan"), "missing": missing,
        "merged": [_shard_summary(s) for s in shards], "not_reported": [str(d) for d in absent],
        "runs": first.info.get("runs", []),
    }
    _merge_suite_counts(shards, campaign)
    _add_up(shards, campaign)
    return campaign


def _add_up(shards: list[ShardOutput], campaign: Campaign) -> None:
    """What the shards count or cost together: their queue jobs, their cloud cost (each shard's stays in
    `shard.merged`)."""
    jobs = [s.campaign.extra["queue_jobs"] for s in shards if isinstance(s.campaign.extra.get("queue_jobs"), int)]
    if jobs:
        campaign.extra["queue_jobs"] = sum(jobs)
    costs = [s.campaign.extra["cost"] for s in shards if isinstance(s.campaign.extra.get("cost"), dict)]
    if costs:
        total = round(sum(float(c.get("total_usd", 0)) for c in costs), 6)
        campaign.extra["cost"] = {"currency": "USD", "total_usd": total,
                                  "description": f"AWS Fargate, {len(costs)} shard(s)"}


def _shard_summary(shard: ShardOutput) -> dict[str, Any]:
    summary = {"index": shard.index, "campaign": shard.campaign.campaign, "directory": str(shard.directory),
               "started_at": shard.campaign.started_at, "finished_at": shard.campaign.finished_at,
               "wall_seconds": shard.campaign.wall_seconds, "runs": len(shard.campaign.runs)}
    for key in ("infrastructure_error", "cost"):
        if shard.campaign.extra.get(key):
            summary[key] = shard.campaign.extra[key]
    return summary


def _why_not_run(index: int, count: int, reported: dict[int, ShardOutput], absent: list[Path]) -> str:
    if index in reported:
        problem = reported[index].campaign.extra.get("infrastructure_error")
        return f"not run: shard {index}/{count} ended before running it" + (f" ({problem})" if problem else "")
    names = ", ".join(str(d) for d in absent)
    where = f"no campaign.json in {names}" if absent else "its output directory was not given"
    return f"not run: shard {index}/{count} did not report ({where})"


def planned_runs(shard: ShardOutput, count: int) -> list[dict[str, Any]]:
    """The plan a shard keeps (every run of the campaign and its shard), each entry's id and shard checked."""
    entries = shard.info.get("runs", [])
    for entry in entries if isinstance(entries, list) else [None]:
        if not (isinstance(entry, dict) and isinstance(entry.get("id"), str) and isinstance(entry.get("shard"), int)
                and 1 <= entry["shard"] <= count):
            raise UserError(f"{shard.directory / CAMPAIGN_FILE}: its shard plan is malformed (shard.runs); give "
                            f"the output directories of `opp-ci run --shard I/N` as they wrote them")
    return entries


def _not_run(shard: ShardOutput, entry: dict[str, Any], reason: str) -> RunRecord:
    """A record for a planned run no shard reported, its fields checked as campaign.json's records are."""
    fields = ("config", "run", "itervars", "repetition", "suite_row", "test", "repeat", "shard")
    try:
        return RunRecord.from_json({**{k: entry[k] for k in fields if k in entry}, "attempts": 0,
                                    "status": RunStatus.ERROR.value, "error": reason})
    except MalformedRecord as error:
        raise UserError(f"{shard.directory / CAMPAIGN_FILE}: its shard plan is malformed ({error}); give the "
                        f"output directories of `opp-ci run --shard I/N` as they wrote them") from None


def _merge_suite_counts(shards: list[ShardOutput], campaign: Campaign) -> None:
    """The suite's counts of all shards (their rows are disjoint: a row's repetitions run in one shard), and the
    rows of runs not run."""
    summaries = [s.campaign.extra["suite"] for s in shards if isinstance(s.campaign.extra.get("suite"), dict)]
    not_run = {r.suite_row for r in campaign.runs if r.suite_row and r.attempts == 0}
    if not summaries and not not_run:
        return
    outcomes: dict[str, int] = {}
    for summary in summaries:
        for name, number in summary.get("outcomes", {}).items():
            outcomes[name] = outcomes.get(name, 0) + int(number)
    if not_run:
        outcomes["not run"] = len(not_run)
    files = {f for summary in summaries for f in summary.get("files", [])}
    files |= {str(row).rpartition(":")[0] for row in not_run}
    campaign.extra["suite"] = {"rows": sum(int(s.get("rows", 0)) for s in summaries) + len(not_run),
                               "passed": sum(int(s.get("passed", 0)) for s in summaries),
                               "outcomes": dict(sorted(outcomes.items())), "files": sorted(files)}


def _copy_files(shard: ShardOutput, out_dir: Path) -> None:
    """The shard's result files and logs that its records name, copied to the same places under `out_dir`."""
    for record in shard.campaign.runs:
        for name in [*record.result_files, *([record.log] if record.log else [])]:
            source = shard.directory / name
            if source.is_file() and not source.is_symlink():
                (out_dir / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, out_dir / name)


def _merge_history(shards: list[ShardOutput], merged: Campaign, out_dir: Path) -> None:
    """The histories of all shards (each kept its own and the one it was balanced from); a run's entry is the
    one its own shard wrote (already averaged with the entry before: averaging again would count this
    campaign twice), else (a shard that left no history) this campaign's time is added."""
    joined = read_history(out_dir)
    histories = [read_history(shard.directory) for shard in shards]
    for history in histories:
        joined.update(history)
    written = set()
    for shard, history in zip(shards, histories, strict=True):
        own = {run_key(r.config, r.itervars, r.suite_row) for r in shard.campaign.runs if r.wall_seconds > 0}
        joined.update({key: history[key] for key in own if key in history})
        written |= own & history.keys()
    rest = [r for r in merged.runs if run_key(r.config, r.itervars, r.suite_row) not in written]
    if any(r.wall_seconds > 0 for r in rest):
        write_history(out_dir, rest, joined)
    elif joined:
        save_history(out_dir, joined)


def _judge_again(shards: list[ShardOutput], merged: Campaign, out_dir: Path) -> None:
    """The comparison with the baseline done again over all runs (a shard compared its own runs only)."""
    stored = next((s.campaign.extra["regression"] for s in shards
                   if isinstance(s.campaign.extra.get("regression"), dict)), None)
    if stored is None:
        return
    baseline = Path(str(stored.get("baseline", "")))
    if not (baseline / CAMPAIGN_FILE).is_file():
        output.warning(f"the shards were compared with {baseline}, which is not here: the runs keep their shards' "
                       f"verdicts; to compare them all, run `opp-ci report --recheck --baseline DIR {out_dir}`")
        return
    from opp_ci import regression

    settings = regression.Settings.from_mapping(stored.get("settings") or {})
    regression.compare_campaigns(baseline, out_dir, settings, candidate=merged)


def _accept_again(shards: list[ShardOutput], merged: Campaign, out_dir: Path) -> None:
    """The patch that accepts the new fingerprints, over all runs (each shard's covers its own runs)."""
    from opp_ci.fingerprints.acceptance import merge_proposals

    merge_proposals([(shard.directory, shard.campaign) for shard in shards], merged, out_dir)
