"""The commands of sharded campaigns: `opp-ci plan` (the runs and their shards, nothing run) and `opp-ci merge`
(the shards' output directories joined into one)."""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from opp_ci import options, output, spec
from opp_ci.errors import UserError

if TYPE_CHECKING:
    from opp_ci.shards import ShardPlan

#: The settings that decide a campaign's run list (and its history), as `opp-ci run` takes them.
PLAN_FLAGS = ("command", "config", "runs", "ini", "arg", "out", "history", "suite", "match", "exclude", "tag",
              "exclude-tag", "repeat")


@click.command("plan")
@click.argument("project_dir", default=".", type=click.Path(file_okay=False, path_type=Path))
@options.click_options(*PLAN_FLAGS, names={k: k.replace("-", "_") for k in PLAN_FLAGS})
@click.option("--shards", "count", type=int, default=1, show_default=True, metavar="N",
              help="Split the campaign into N shards, balanced from the history (as `run --shard I/N` does).")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@click.option("--build-command", metavar="CMD", help="Build the model with this first (default: opp-ci.toml's "
              "[image] build).")
@click.option("--no-build", is_flag=True, help="Do not build the model first (it is already built).")
def plan_command(project_dir: Path, count: int, as_json: bool, build_command: str | None, no_build: bool,
                 **given) -> None:
    """Plan a campaign without running it: its runs, the shard of each and each shard's expected time.

    The run list is obtained as `opp-ci run` obtains it (the simulation asked, the suite rows read and
    filtered); the expected times come from --history (default: the output directory's history).
    """
    from opp_ci import pipeline, planning, shards

    shards.check_count(count)
    campaign_spec = spec.resolve(project_dir, {key: given[key.replace("-", "_")] for key in PLAN_FLAGS})
    if not campaign_spec.settings.given("out"):
        campaign_spec.out = Path.cwd() / campaign_spec.out
    with contextlib.redirect_stdout(sys.stderr):  # the build's progress: stdout is the plan
        pipeline.build_model(campaign_spec, build_command, no_build)
    planned = planning.plan(campaign_spec)
    shard_plan = shards.ShardPlan.make(planned, shards.history_path(campaign_spec.history,
                                                                    campaign_spec.out.resolve()), count)
    click.echo(json.dumps(shard_plan.to_json(), indent=2) if as_json else describe(shard_plan), nl=not as_json)
    if as_json:
        click.echo()


def describe(shard_plan: ShardPlan) -> str:
    """The plan for people: each shard's runs and expected time."""
    expected = shard_plan.expected_by_shard()
    lines = [f"{len(shard_plan.entries)} runs in {shard_plan.count} shard(s), balanced from {shard_plan.history} "
             f"(plan {shard_plan.digest}); expected longest shard {max(expected):.1f}s"]
    for index in range(1, shard_plan.count + 1):
        mine = [e for e in shard_plan.entries if e["shard"] == index]
        lines.append(f"shard {index}/{shard_plan.count}: {len(mine)} runs, expected {expected[index - 1]:.1f}s")
        lines += [f"  {e['id']}  {e['expected_seconds']:.3f}s{'' if e['seen'] else ' (not in the history)'}"
                  for e in mine]
    return "\n".join(lines)


@click.command("merge")
@click.argument("directories", nargs=-1, metavar="DIR...",
                type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--from", "parent", type=click.Path(exists=True, file_okay=False, path_type=Path), metavar="DIR",
              help="Every directory in DIR is a shard's output directory (the shard artifacts a workflow job "
                   "downloaded), besides DIR... .")
@click.option("-o", "--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="The merged output directory.")
@click.option("--github-output", metavar="FILE", help="Append out-dir, campaign-id, total, passed, failed to this "
              "file (a workflow step's $GITHUB_OUTPUT), as `run` does.")
def merge_command(directories: tuple[Path, ...], parent: Path | None, out: Path, github_output: str | None) -> None:
    """Merge the output directories of a campaign's shards (`run --shard I/N`) into one, as if one campaign ran.

    A shard that did not report (its number missing, or its directory without campaign.json) shows its runs
    as not run, with the reason. Exit status: 0 all runs passed, 1 some did not (or were not run), 2 bad input.
    """
    from opp_ci.github import check_github_output, write_campaign_outputs
    from opp_ci.merge import merge

    check_github_output(github_output)
    directories += tuple(sorted(p for p in parent.iterdir() if p.is_dir())) if parent else ()
    if not directories:
        raise UserError(f"no shard output directory to merge{f' in {parent}' if parent else ''}: name them (DIR...) "
                        f"or the directory that holds them (--from DIR)")
    merged = merge(list(directories), out)
    if github_output:
        write_campaign_outputs(Path(github_output), out, merged)
    totals = merged.totals()
    missing = merged.extra["shard"]["missing"]
    output.info(f"merged {len(directories)} shard output(s) into {out}: {totals['passed']}/{totals['total']} runs "
                f"passed" + (f"; shard(s) {', '.join(map(str, missing))} did not report" if missing else ""))
    sys.exit(0 if merged.passed else 1)


COMMANDS = (plan_command, merge_command)
