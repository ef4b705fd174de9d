"""`opp-ci accept check` and `opp-ci accept reply`: the two steps of examples/workflows/accept.yml that talk
to GitHub (the rest is actions/checkout, actions/download-artifact, `opp-ci baseline update --from` and git)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click

from opp_ci import output
from opp_ci.errors import UserError


def _github_options(function: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed([
        click.option("--event", "event_path", envvar="GITHUB_EVENT_PATH", metavar="FILE",
                     help="The issue_comment event (default $GITHUB_EVENT_PATH)."),
        click.option("--repository", envvar="GITHUB_REPOSITORY", metavar="OWNER/NAME",
                     help="The repository (default $GITHUB_REPOSITORY, else the event's)."),
        click.option("--api-url", envvar="GITHUB_API_URL", default="https://api.github.com", metavar="URL",
                     help="GitHub API URL (default $GITHUB_API_URL or api.github.com)."),
    ]):
        function = option(function)
    return function


@contextlib.contextmanager
def _github(api_url: str, repository: str) -> Iterator[Any]:
    """The repository through PyGithub (token from $GITHUB_TOKEN, never printed); a refusal of the API is one line."""
    try:
        from github import GithubException
    except ImportError:
        raise UserError("`opp-ci accept` needs PyGithub: pip install 'opp-ci[github]'") from None
    from opp_ci.github import make_client

    token = os.environ.get("GITHUB_TOKEN")
    if not token:
        raise UserError("`opp-ci accept` needs a token in GITHUB_TOKEN (the workflow's github.token)")
    try:
        yield make_client(api_url, token).get_repo(repository)
    except GithubException as problem:
        message = (problem.data or {}).get("message") if isinstance(problem.data, dict) else problem.data
        raise UserError(f"GitHub API refused `opp-ci accept` ({problem.status}): {message}", exit_code=1) from None


@click.group("accept")
def accept_group() -> None:
    """Accept a campaign's new fingerprints from a pull request comment (`/opp-ci accept`).

    examples/workflows/accept.yml: `check`, then the PR's branch checked out, the campaign's artifact downloaded,
    `opp-ci baseline update --from DIR`, one commit pushed, and `reply`.
    """


@accept_group.command("check")
@_github_options
@click.option("--github-output", envvar="GITHUB_OUTPUT", type=click.Path(dir_okay=False, path_type=Path),
              help="Append pr, head-ref, head-repo, head-sha, same-repo, run-id, artifact (or problem) to this file "
                   "(default $GITHUB_OUTPUT).")
def check_command(event_path: str | None, repository: str | None, api_url: str, github_output: Path | None) -> None:
    """Check a `/opp-ci accept` comment: on a pull request, by someone with write access (else exit 1); find the
    pull request's head and the newest campaign artifact of its head commit; write them as step outputs."""
    from opp_ci import accept
    from opp_ci.github import write_outputs

    request = accept.AcceptRequest.from_event(accept.read_event(event_path), repository)
    with _github(api_url, request.repository) as repo:
        try:
            permission = accept.check_permission(repo, request)
            target = accept.find_target(repo, request)
        except UserError as problem:  # the answer on the pull request
            write_outputs(github_output, {"problem": problem.message})
            raise
    write_outputs(github_output, target.outputs())
    where = "this repository" if target.same_repo else f"the fork {target.head_repo or '(deleted)'}"
    output.info(f"@{request.commenter} ({permission}) accepts on pull request #{target.pr}: branch {target.head_ref} "
                f"of {where} at {target.head_sha[:12]}, campaign artifact {target.artifact} of run {target.run_id}")


@accept_group.command("reply")
@_github_options
@click.option("--pr", type=int, metavar="N", help="The pull request (default: the event's).")
@click.option("--from", "from_dir", type=click.Path(exists=True, file_okay=False, path_type=Path), metavar="DIR",
              help="The campaign's artifact: without --pushed, answer with its patch (a fork's pull request).")
@click.option("--pushed", metavar="SHA", help="Say that this commit was pushed to the pull request's branch.")
@click.option("--branch", metavar="NAME", help="With --pushed: the branch it was pushed to.")
@click.option("--message", metavar="TEXT", help="Answer with this text instead (e.g. check's problem).")
def reply_command(event_path: str | None, repository: str | None, api_url: str, pr: int | None,
                  from_dir: Path | None, pushed: str | None, branch: str | None, message: str | None) -> None:
    """Answer the `/opp-ci accept` comment on the pull request: the commit pushed, or (a fork) the patch."""
    from opp_ci import accept

    event = accept.read_event(event_path) if event_path or pr is None else {}
    pr = pr or (event.get("issue") or {}).get("number")
    repository = repository or (event.get("repository") or {}).get("full_name")
    if not isinstance(pr, int) or not repository:
        raise UserError("no pull request or repository: give --pr N and --repository OWNER/NAME, or the event")
    proposal, patch = accept.read_proposal(from_dir) if from_dir else (None, "")
    if message:
        body = message
    elif pushed:
        body = accept.pushed_reply(pushed, branch or "the pull request's branch", proposal)
    elif from_dir:
        body = accept.patch_reply(proposal, patch)
    else:
        raise UserError("nothing to say: give --pushed SHA, --from DIR or --message TEXT")
    with _github(api_url, repository) as repo:
        comment = accept.post_reply(repo, pr, body)
    output.info(f"answered on pull request #{pr}: comment {comment}")
