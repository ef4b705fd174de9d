"""The `opp-ci` command line. It only parses options and calls the pipeline modules."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from pathlib import Path

import click

from opp_ci import __version__, options, output, spec
from opp_ci.accept_cli import accept_group
from opp_ci.cloud_cli import COMMANDS
from opp_ci.errors import UserError
from opp_ci.naming import QUEUE_NAME, WORKER_STORE
from opp_ci.processes import pause_collection, resume_collection
from opp_ci.shard_cli import COMMANDS as SHARD_COMMANDS

# The pipeline modules (the orchestrator, Redis, reports) are imported by the commands that need them: a
# worker starts, and `--help` answers, without loading what they never use.


class _Group(click.Group):
    """Turns a UserError into one line on stderr and its exit code, without a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except UserError as error:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            output.error(error.message)
            sys.exit(error.exit_code)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="opp-ci")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors instead of one-line messages.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Run OMNeT++ simulation campaigns on this machine or on AWS ECS, from a laptop or from CI.

    Start with `opp-ci run PROJECT_DIR`: it asks the simulation for its runs, runs them in parallel
    through a Redis queue, and writes campaign.json, results/, logs/, junit.xml and summary.md.
    """
    ctx.obj = {"debug": debug}
    if ctx.invoked_subcommand != "run":  # `run` resumes it once its campaign has started
        resume_collection()


def _comparison_options(function):
    """Options of every command that compares results with a baseline (compare, report --recheck)."""
    function = options.click_options("alpha", "correction", "metrics")(function)
    extra = [
        click.option("--tolerances", "tolerances_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                     help="TOML (or JSON) file with a [tolerances] table: scalar name glob -> {rel, abs}; "
                          "an opp-ci.toml works."),
        click.option("--project", "project_dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
                     help="Read the comparison settings of this project's opp-ci.toml."),
        click.option("--no-plots", is_flag=True, help="Draw no plots."),
    ]
    for option in reversed(extra):
        function = option(function)
    return function


# --- campaign commands: run, worker, report ---

#: The settings `opp-ci run` has flags for, in --help order.
RUN_FLAGS = ("backend", "command", "config", "runs", "ini", "arg", "sim-time-limit", "cpu-time-limit", "timeout",
             "retries", "workers", "redis-url", "store", "out", "resume", "ecs.image", "ecs.region", "ecs.spot",
             "github-output", "check", "baseline", "confirm", "fail-on", "suite", "match", "exclude", "tag",
             "exclude-tag", "ingredients", "repeat", "shard", "history")


@cli.command()
@click.argument("project_dir", default=".", type=click.Path(file_okay=False, path_type=Path))
@options.click_options(*RUN_FLAGS, names={k: k.replace("ecs.", "").replace("-", "_") for k in RUN_FLAGS})
@click.option("--redis-password-parameter", metavar="NAME",
              help="ecs backend with --redis-url: use the cluster `opp-ci cluster up` started, reading its Redis "
                   "password from this SSM parameter (output redis-password-parameter); it is not torn down.")
@click.option("--build-command", metavar="CMD", help="local backend: build the model with this first, once "
              "(default: opp-ci.toml's [image] build; without one nothing is built).")
@click.option("--no-build", is_flag=True, help="Do not build the model first (it is already built).")
def run(project_dir: Path, redis_password_parameter: str | None, build_command: str | None, no_build: bool,
        **given) -> None:
    """Run a campaign: every run of the chosen configs, in parallel, with reports.

    Reads PROJECT_DIR/opp-ci.toml (flags win over it), asks the simulation for its runs, runs them
    through a Redis queue and writes campaign.json, results/, logs/, junit.xml and summary.md.
    Exit status: 0 all runs passed (or every failure is one --fail-on or [quarantine] lets pass), 1 some did
    not, 2 bad input or environment.
    """
    flags = {key: given[key.replace("ecs.", "").replace("-", "_")] for key in RUN_FLAGS}
    if flags["baseline"]:
        flags["baseline"] = str(Path(flags["baseline"]).resolve())
    campaign_spec = spec.resolve(project_dir, flags)
    if not campaign_spec.settings.given("out"):
        campaign_spec.out = Path.cwd() / campaign_spec.out
    if campaign_spec.backend != "local":  # a cloud campaign takes minutes to start: collect as usual
        resume_collection()
    from opp_ci import pipeline
    from opp_ci.github import check_github_output

    check_github_output(campaign_spec.settings["github-output"])

    signal.signal(signal.SIGTERM, _interrupt)
    try:
        result = pipeline.execute(campaign_spec, redis_password_parameter, build_command, no_build)
    except KeyboardInterrupt:
        output.warning("interrupted; everything it started has been stopped")
        sys.exit(130)
    totals = result.totals()
    github_output = campaign_spec.settings["github-output"]
    if github_output:
        from opp_ci.github import write_campaign_outputs

        write_campaign_outputs(Path(github_output), campaign_spec.out, result)
    output.info(f"{totals['passed']}/{totals['total']} runs passed ({totals['failed']} failed, "
                f"{totals['timeout']} timed out, {totals['error']} errors) in {result.wall_seconds:.1f}s; "
                f"outputs in {campaign_spec.out.resolve()}")
    from opp_ci.triage import report_gate

    report_gate(result)
    sys.exit(0 if result.passed else 1)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


@cli.command()
@click.option("--redis-url", envvar="OPP_CI_REDIS_URL", required=True, metavar="URL",
              help="Redis to take jobs from (env OPP_CI_REDIS_URL; password also from OPP_CI_REDIS_PASSWORD).")
@click.option("--project", "project_dir", default=".", type=click.Path(file_okay=False, path_type=Path),
              help="Simulation project with opp-ci.toml (default: current directory).")
@click.option("--command", "command", metavar="CMD", help="Simulation command (default: from opp-ci.toml).")
@click.option("--working-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Directory the simulation runs in (default: from opp-ci.toml).")
@click.option("--store", envvar="OPP_CI_STORE", default=WORKER_STORE, show_default=True, metavar="URL",
              help="Where result files go: a directory or s3://bucket/prefix (env OPP_CI_STORE).")
@click.option("--queue", "queue_name", default=QUEUE_NAME, show_default=True, help="Queue to listen on.")
@click.option("--name", help="Worker name (default: RQ's own).")
@click.option("--burst", is_flag=True, help="Exit when the queue is empty.")
@click.option("--max-idle", type=int, metavar="SECONDS",
              help="Exit after this long without a job (a cloud worker stops billing if nobody stops it).")
@click.option("--scratch", type=click.Path(file_okay=False, path_type=Path),
              help="Where runs execute before their files go to the store (default: the temp directory).")
def worker(redis_url, project_dir, command, working_dir, store, queue_name, name, burst, max_idle, scratch) -> None:
    """Take runs from a Redis queue and execute them (runs nothing but opp-ci's own run function)."""
    from opp_ci.worker import WorkerOptions, run_worker

    run_worker(WorkerOptions(redis_url, project_dir, command, working_dir, store, queue_name, name, burst, max_idle,
                             scratch))


@cli.command()
@click.argument("out_dir", default=options.default("out"),
                type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--recheck", is_flag=True, help="Compare the stored results with the baseline again, under the "
              "settings given here (else those of the last comparison), without re-running anything.")
@click.option("--baseline", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="With --recheck: the baseline output directory (default: the one compared last).")
@_comparison_options
def report(out_dir: Path, recheck: bool, baseline: Path | None, **comparison) -> None:
    """Rebuild junit.xml and summary.md from OUT_DIR/campaign.json."""
    from opp_ci.report import write_reports

    result = _read_campaign(out_dir)
    if recheck:
        from opp_ci import triage

        result = _recheck(out_dir, result, baseline, comparison)
        triage.judge(result, out_dir)
        result.write(out_dir)
    write_reports(result, out_dir)
    output.info(f"wrote {out_dir / 'junit.xml'} and {out_dir / 'summary.md'}")
    sys.exit(0 if result.passed else 1)



# --- result files and regression: export, compare, baseline ---


@cli.command("export")
@click.argument("paths", nargs=-1, required=True, metavar="FILE|DIR...", type=click.Path(path_type=Path))
@click.option("--format", "output_format", type=click.Choice(["csv", "json"]), default="csv",
              show_default=True,
              help="csv: the columns of `opp_scavetool export -T s -F CSV-S`; json: runs with all results.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write to this file instead of standard output.")
def export_command(paths: tuple[Path, ...], output_format: str, output: Path | None) -> None:
    """Export the scalars of .sca files (directories are searched recursively)."""
    from opp_ci import results

    text = results.export_scalars(list(results.read_all_runs(paths)), output_format)
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as error:
        raise UserError(f"{output}: cannot write: {error.strerror}") from None


def _read_campaign(out_dir: Path):
    """OUT_DIR/campaign.json, or one line saying what is wrong with it."""
    from opp_ci.records import Campaign

    try:
        return Campaign.read(out_dir)
    except (OSError, ValueError) as error:
        raise UserError(f"cannot read {out_dir / 'campaign.json'}: {error}; is {out_dir} an opp-ci output "
                        f"directory?") from None


def _comparison_settings(stored: dict | None, given: dict) -> dict:
    """Comparison settings: the defaults, then the stored or project ones, then files and flags."""
    from opp_ci import regression

    layers: list[tuple[str, dict]] = [("stored", dict(stored or {}))]
    if given.get("project_dir"):
        file_settings, _configs = spec.file_layer(given["project_dir"])
        layers.append(("file", file_settings))
    if given.get("tolerances_file"):
        layers.append(("file", {"tolerances": regression.read_tolerances_file(given["tolerances_file"])}))
    layers.append(("flag", {key: given.get(key) for key in ("alpha", "correction", "metrics")}))
    return options.resolve(layers, keys=spec.COMPARISON_KEYS).values


def _compare_and_write(base_dir: Path, cand_dir: Path, settings: dict, given: dict, candidate=None):
    from opp_ci import regression
    from opp_ci.report import write_reports

    result = regression.compare_campaigns(base_dir, cand_dir, regression.Settings.from_mapping(settings),
                                          candidate=candidate, plots=not given.get("no_plots"))
    result.write(cand_dir)
    write_reports(result, cand_dir)
    from opp_ci.comparison import ComparisonSummary

    summary = ComparisonSummary.from_json(result.extra[regression.SUMMARY_KEY])
    output.info(f"{summary.scalars_changed} of {summary.scalars_compared} scalars changed beyond "
                f"tolerance, {summary.significant} of {summary.statistical_tests} statistical tests "
                f"significant; {summary.regressed_runs} run(s) regressed; wrote {cand_dir / 'summary.md'}")
    return result, summary


def _recheck(out_dir: Path, result, baseline: Path | None, given: dict):
    from opp_ci import regression

    stored = result.extra.get(regression.SUMMARY_KEY) or {}
    base_dir = baseline or (Path(stored["baseline"]) if stored.get("baseline") else None)
    if base_dir is None:
        raise UserError("--recheck: this campaign was never compared; give --baseline DIR")
    settings = _comparison_settings(stored.get("settings"), given)
    return _compare_and_write(base_dir, out_dir, settings, given, candidate=result)[0]


@cli.command("compare")
@click.argument("base_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("candidate_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@_comparison_options
def compare_command(base_dir: Path, candidate_dir: Path, **given) -> None:
    """Compare the results of two output directories: CANDIDATE_DIR against BASE_DIR.

    Scalars are compared run by run within their tolerances; scalars chosen with --metrics are compared
    statistically over the repetitions. The verdicts go into CANDIDATE_DIR's campaign.json (key
    `regression`), junit.xml and summary.md. Exit status 1 when anything regressed.
    """
    _result, summary = _compare_and_write(base_dir, candidate_dir, _comparison_settings(None, given), given)
    sys.exit(0 if summary.regressed_runs == 0 else 1)


@cli.group()
def baseline() -> None:
    """Expected fingerprints kept in the project (opp-ci-fingerprints.json or an INET fingerprint CSV)."""


@baseline.command("update")
@click.argument("project_dir", default=".", type=click.Path(file_okay=False, path_type=Path))
@click.option("--ingredients", metavar="SET", help="Fingerprint ingredients, e.g. 'tplx' or 'tplx,~tNl' "
              f"(default: fingerprint-ingredients of opp-ci.toml, else {options.default('fingerprint-ingredients')}).")
@click.option("--from", "from_dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Take the calculated fingerprints from this output directory instead of running the campaign.")
@click.option("--fingerprints", "store", metavar="FILE", help="The store (default: opp-ci-fingerprints.json).")
@click.option("-c", "--config", "configs", multiple=True, metavar="NAME", help="Config to run (repeatable).")
@click.option("-r", "--runs", metavar="FILTER", help="Run filter in OMNeT++'s -r syntax.")
@click.option("--arg", "args", multiple=True, metavar="ARG", help="Extra OMNeT++ option for every run.")
@click.option("-j", "--workers", type=int, metavar="N", help="Local worker processes (default: one per core).")
@click.option("-o", "--out", type=click.Path(file_okay=False, path_type=Path),
              help=f"Output directory of the recording campaign (default {options.default('out')}).")
@click.option("--suite", "suites", multiple=True, metavar="FILE",
              help="Update this fingerprint suite CSV in place (repeatable; default: opp-ci.toml's `suite`): "
                   "its rows are run (or read from --from) and their fingerprint fields rewritten.")
def baseline_update(project_dir: Path, ingredients, from_dir, store, configs, runs, args, workers, out,
                    suites) -> None:
    """Record the runs' calculated fingerprints in the project's fingerprint store.

    Runs the campaign with a dummy expected fingerprint so OMNeT++ prints the calculated ones (or reads
    them from --from OUT_DIR), and reports KEEP, INSERT or UPDATE for each run.
    """
    flags = {"config": configs, "runs": runs, "arg": args, "workers": workers, "out": str(out) if out else None,
             "fingerprints": store, "fingerprint-ingredients": ingredients, "check": [], "baseline": None}
    if suites or (not configs and spec.resolve(project_dir, {}).suites.files):
        from opp_ci.fingerprints.baseline import SuiteFiles as target_kind
    else:
        from opp_ci.fingerprints.baseline import StoreFile as target_kind

        flags["config"] = configs or (("_from",) if from_dir else ())
    campaign_spec = spec.resolve(project_dir, {**flags, "suite": suites})
    target = target_kind.of(campaign_spec)  # its settings checked before anything runs
    if from_dir:
        recorded, out_dir = _read_campaign(from_dir), from_dir
    else:
        from opp_ci import pipeline

        if not out:
            campaign_spec.out = Path.cwd() / campaign_spec.out
        if target.note:
            output.info(target.note)
        recorded, out_dir = pipeline.execute(campaign_spec), campaign_spec.out
    from opp_ci.triage import run_name, without_nondeterministic

    recorded, unstable = without_nondeterministic(recorded)
    changes, skipped = target.update(recorded, out_dir)
    skipped += [f"{run_name(record)}: nondeterministic (its results differ between attempts): quarantine it, "
                f"not its fingerprint" for record in unstable]
    for line in [change.describe() for change in changes] + [f"SKIP   {line}" for line in skipped]:
        click.echo(line)
    output.info(f"{target.counts(changes)}, {len(skipped)} skipped (no fingerprint, or nondeterministic); "
                f"wrote {target.written}")
    sys.exit(1 if skipped else 0)


# --- GitHub: publish ---


@cli.command()
@click.argument("out_dir", default=options.default("out"),
                type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--repository", metavar="OWNER/NAME", help="Repository for the check run (default $GITHUB_REPOSITORY).")
@click.option("--sha", metavar="SHA", help="Commit for the check run (default: the PR head or $GITHUB_SHA).")
@click.option("--pr", type=int, metavar="N", help="Pull request to comment on (default: from the event file).")
@click.option("--check-name", default="opp-ci campaign", show_default=True, help="Name of the check run.")
@click.option("--artifact-url", metavar="URL", help="Link to the uploaded artifact, shown in the report.")
@click.option("--api-url", metavar="URL", help="GitHub API URL (default $GITHUB_API_URL or api.github.com).")
def publish(out_dir: Path, repository, sha, pr, check_name, artifact_url, api_url) -> None:
    """Publish OUT_DIR to GitHub: job summary, check run with annotations, and one PR comment.

    The token comes from $GITHUB_TOKEN (never printed); without it only the job summary is written.
    The PR comment is found again by a hidden marker and edited in place on later pushes.
    """
    import os

    try:
        from github import GithubException
    except ImportError:
        raise UserError("publishing needs PyGithub: pip install 'opp-ci[github]'") from None

    from opp_ci import github

    context = github.GitHubContext.from_env(os.environ).with_flags(
        repository=repository, sha=sha, pr=pr, api_url=api_url)
    try:
        done = github.publish(out_dir, context, check_name=check_name, artifact_url=artifact_url)
    except GithubException as problem:
        message = (problem.data or {}).get("message") if isinstance(problem.data, dict) else problem.data
        output.error(f"GitHub API refused the publication ({problem.status}): {message}")
        raise UserError(f"publishing to GitHub failed with HTTP {problem.status}: {message}", exit_code=1) from None
    output.info(f"published {out_dir}: step summary {'written' if done.summary_written else 'skipped'}, "
               f"check run {done.check_run_id or '-'}, PR comment {done.comment_id or '-'}"
               f"{' (edited)' if done.comment_edited else ''}")


@cli.group("image")
def image_group() -> None:
    """The simulation image: an OMNeT++ base image, the model built once, and opp-ci (worker/Dockerfile)."""


def _image_options(function):
    for option in reversed([
        click.option("--project-dir", default=".", show_default=True, metavar="DIR",
                     help="Directory with opp-ci.toml, relative to the context; the worker runs there."),
        click.option("--base-image", metavar="IMAGE", help="OMNeT++ base image (default: [image] base, or "
                     f"{options.default('image.base')})."),
        click.option("--build-command", metavar="CMD", help="How the model is built (default: [image] build, or "
                     "`make MODE=release` with a Makefile, else opp_makemake first)."),
        click.option("--package", "packages", multiple=True, metavar="PKG",
                     help="Extra Debian package for the image (repeatable; default: [image] packages)."),
    ]):
        function = option(function)
    return function


@image_group.command("build")
@click.argument("context", default=".", type=click.Path(exists=True, file_okay=False, path_type=Path))
@_image_options
@click.option("-t", "--tag", default="opp-ci-simulation:latest", show_default=True, help="Image name and tag.")
@click.option("--builder", metavar="CMD", help="docker, podman or buildah, with options (default: the first on PATH).")
@click.option("--build-opt", "build_opts", multiple=True, metavar="OPT",
              help="Extra option for `<builder> build`, e.g. --build-opt=--isolation=chroot (repeatable).")
@click.option("--with-dependencies", is_flag=True,
              help="Put the wheels of opp-ci's dependencies into the context too: the build needs no package index.")
def image_build(context: Path, project_dir, base_image, build_command, packages, tag, builder, build_opts,
                with_dependencies) -> None:
    """Build the image CI builds, on this machine, from CONTEXT (the model's repository)."""
    from opp_ci import image

    settings = image.resolve(context / project_dir, base_image, build_command, packages)
    image.build_image(context, project_dir, settings, tag, image.find_builder(builder), tuple(build_opts),
                      with_dependencies)
    click.echo(f"opp-ci: built {tag} (base {settings.base}; build: {settings.build})")


@image_group.command("model")
@click.argument("context", default=".", type=click.Path(exists=True, file_okay=False, path_type=Path))
@_image_options
@click.option("--archive", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="Then pack CONTEXT, built, into FILE (.tar, .tar.gz): what a machine unpacks to run the "
                   "model without building it (object files and .git left out).")
def image_model(context: Path, project_dir, base_image, build_command, packages, archive) -> None:
    """Build the model on this machine as the image does (its build command, OMNeT++ found the same way),
    once, in CONTEXT/PROJECT_DIR; with --archive, pack it for the machines that run it."""
    from opp_ci import image, omnetpp_root, packing

    if archive:
        packing.check_archive(archive)
    settings = image.resolve(context / project_dir, base_image, build_command, packages)
    omnetpp_root.activate(omnetpp_root.needs_omnetpp([settings.build], context / project_dir))
    image.build_model(context / project_dir, settings.build)
    if archive:
        click.echo(f"opp-ci: {packing.pack(context, archive).describe()}")


@image_group.command("settings")
@_image_options
@click.option("--github-output", envvar="GITHUB_OUTPUT", metavar="FILE",
              type=click.Path(dir_okay=False, path_type=Path),
              help="Append base-image, build-command, packages to this file (default: $GITHUB_OUTPUT).")
def image_settings(project_dir, base_image, build_command, packages, github_output) -> None:
    """Print the image settings: flags over opp-ci.toml's [image] over the defaults."""
    from opp_ci import image
    from opp_ci.github import write_outputs

    settings = image.resolve(Path(project_dir), base_image, build_command, packages)
    outputs = {"base-image": settings.base, "build-command": settings.build, "packages": " ".join(settings.packages)}
    write_outputs(github_output, outputs)
    for name, value in outputs.items():
        click.echo(f"{name}: {value}")


@image_group.command("digest")
@click.argument("context", default=".", type=click.Path(exists=True, file_okay=False, path_type=Path))
@_image_options
@click.option("--github-output", envvar="GITHUB_OUTPUT", metavar="FILE",
              type=click.Path(dir_okay=False, path_type=Path),
              help="Append content-tag to this file (default: $GITHUB_OUTPUT).")
def image_digest(context: Path, project_dir, base_image, build_command, packages, github_output) -> None:
    """Print the content tag of the image these exact settings build from CONTEXT (nothing is filled in
    from opp-ci.toml: `image settings` does that first): a digest of the context, worker/Dockerfile, the
    settings and opp-ci's version. The build-image action looks for it in ECR before building."""
    from opp_ci import image
    from opp_ci.github import write_outputs

    settings = image.ImageSettings(base_image or "", build_command or "", tuple(packages))
    tag = "content-" + image.content_digest(context, project_dir, settings)
    write_outputs(github_output, {"content-tag": tag})
    click.echo(tag)


@cli.command("omnetpp")
@click.option("--export", "as_exports", is_flag=True,
              help="Print its environment (what its setenv sets) as `export NAME=VALUE` lines for sh.")
@click.option("--if-found", is_flag=True, help="No OMNeT++: print nothing and exit 0 (the image build's base "
              "may be a model that needs none).")
def omnetpp_command(as_exports: bool, if_found: bool) -> None:
    """Where opp-ci finds OMNeT++ (on PATH, in OMNETPP_ROOT, in /root/omnetpp as OMNeT++'s images keep it)
    and its version. `opp-ci run` and `opp-ci worker` apply its environment to the build and every run."""
    from opp_ci import omnetpp_root

    found = omnetpp_root.activate(needed=not if_found, environ=dict(os.environ))
    if found is None:
        return
    if as_exports:
        click.echo(omnetpp_root.export_lines(found), nl=False)
        return
    described = found.describe()
    click.echo(f"OMNeT++ {described['version'] or '(opp_run -v did not answer)'} in {found.root} "
               f"(found in {found.found_in})")


for _command in (*COMMANDS, *SHARD_COMMANDS, accept_group):
    cli.add_command(_command)


def main() -> None:
    pause_collection()
    try:
        cli(args=_arguments(), prog_name="opp-ci")
    except SystemExit as stop:
        exit_now(stop.code)
    exit_now(0)


def _arguments() -> list[str]:
    """The command line, with the inputs of the action that called opp-ci (OPP_CI_INPUTS) as flags."""
    import shlex

    from opp_ci import action_inputs

    args = sys.argv[1:]
    try:
        expanded = action_inputs.expand(cli, args, os.environ)
    except UserError as error:
        output.error(error.message)
        sys.exit(error.exit_code)
    if len(expanded) > len(args):
        output.info("action inputs as flags: " + shlex.join(expanded[len(args):]))
    return expanded


def exit_now(code: int | str | None) -> None:
    """Exits with `code` once the exit handlers ran and stdout and stderr are flushed, without Python's
    finalisation of every module (30-50 ms for redis and asyncio alone, at the end of every campaign);
    with a thread still running, the normal way (it is waited for)."""
    import atexit
    import threading

    if any(not thread.daemon for thread in threading.enumerate() if thread is not threading.main_thread()):
        sys.exit(code)
    if code is not None and not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code or 0)
