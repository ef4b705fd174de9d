"""The `opp-ci` command line. It only parses options and calls the pipeline modules."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from opp_ci import __version__
from opp_ci.errors import UserError


class _Group(click.Group):
    """Turns a UserError into one line on stderr and its exit code, without a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except UserError as error:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            click.secho(f"opp-ci: error: {error.message}", fg="red", err=True)
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


# --- campaign commands: run, worker, report ---


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


# --- cloud commands: cluster, janitor, ecr ---


# --- GitHub: publish ---


def main() -> None:
    cli(prog_name="opp-ci")
