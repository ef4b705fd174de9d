"""The `opp-ci` command line. It only parses options and calls the pipeline modules."""

from __future__ import annotations

import sys

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


# --- cloud commands: cluster, janitor, ecr ---


# --- GitHub: publish ---


def main() -> None:
    cli(prog_name="opp-ci")
