"""`/opp-ci accept` commented on a pull request: who asked and whether they may, which campaign's artifact
holds the patch (opp_ci.fingerprints.acceptance), and the answer on the pull request.

The workflow (examples/workflows/accept.yml) only wires these to actions/checkout, actions/download-artifact,
`opp-ci baseline update --from` and git: each step is one a maintainer can take on a laptop. The PyGithub
repository is a parameter; URLs are built from the client's base URL, never taken from replies.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from opp_ci.errors import UserError
from opp_ci.fingerprints.acceptance import ACCEPT_COMMENT, KEY, PATCH_FILE, preview
from opp_ci.github import COMMENT_CHARS
from opp_ci.safe_text import md_code, md_fence, plain_text

if TYPE_CHECKING:
    from github.Repository import Repository

#: A collaborator's `permission` (GitHub's REST API: admin, write, read or none; maintain counts as write) that
#: may have opp-ci push to a pull request's branch.
MAY_ACCEPT = ("admin", "maintain", "write")
#: The name of a campaign's final artifact (the reusable workflow's run job, or merge of a sharded one).
ARTIFACT = re.compile(r"^opp-ci-(\d+)-(\d+)-run$")
#: How many of the repository's newest artifacts are searched for the pull request head's campaign.
ARTIFACTS_SEARCHED = 1000
#: What a reply leaves around the patch, within GitHub's comment limit.
REPLY_ROOM = 2000


class Refused(UserError):
    """The commenter may not accept (exit 1: the request was understood, and refused)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, exit_code=1)


@dataclass(frozen=True)
class AcceptRequest:
    """The `/opp-ci accept` comment: on which pull request of which repository, by whom."""

    repository: str
    pr: int
    commenter: str

    @classmethod
    def from_event(cls, event: Mapping[str, Any], repository: str | None = None) -> AcceptRequest:
        """From an `issue_comment` event; anything else is a UserError saying what it is."""
        issue, comment = event.get("issue") or {}, event.get("comment") or {}
        if not isinstance(issue, dict) or not issue.get("pull_request") or not isinstance(issue.get("number"), int):
            raise UserError("the event is not a comment on a pull request; `opp-ci accept` answers an issue_comment "
                            "event of a pull request")
        body = str(comment.get("body") or "").strip() if isinstance(comment, dict) else ""
        if body.split("\n", 1)[0].split()[:2] != ACCEPT_COMMENT.split():
            raise UserError(f"the comment does not start with {ACCEPT_COMMENT}: nothing to accept")
        login = ((comment.get("user") or {}).get("login") or "").strip()
        repository = repository or ((event.get("repository") or {}).get("full_name") or "")
        if not login or not repository:
            raise UserError("the event names no commenter or repository (comment.user.login, repository.full_name)")
        return cls(repository, issue["number"], login)


def read_event(path: str | Path | None) -> dict[str, Any]:
    """The workflow's event ($GITHUB_EVENT_PATH), or one line saying why it cannot be read."""
    if not path:
        raise UserError("no event file: set GITHUB_EVENT_PATH (a workflow step has it) or give --event FILE")
    try:
        event = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise UserError(f"cannot read the event file {path}: {error}") from None
    if not isinstance(event, dict):
        raise UserError(f"the event file {path} is not a JSON object")
    return event


@dataclass(frozen=True)
class AcceptTarget:
    """Where the accepted fingerprints go: the pull request's head, and the campaign artifact that has them."""

    pr: int
    head_ref: str
    head_repo: str
    head_sha: str
    same_repo: bool
    run_id: int | None
    artifact: str | None

    def outputs(self) -> dict[str, str]:
        """The step outputs of `opp-ci accept check`."""
        return {"pr": str(self.pr), "head-ref": self.head_ref, "head-repo": self.head_repo,
                "head-sha": self.head_sha, "same-repo": "true" if self.same_repo else "false",
                "run-id": str(self.run_id or ""), "artifact": self.artifact or ""}


def check_permission(repo: Repository, request: AcceptRequest) -> str:
    """The commenter's permission on the repository, when it allows pushing; else Refused."""
    permission = repo.get_collaborator_permission(request.commenter)
    if permission not in MAY_ACCEPT:
        raise Refused(f"@{request.commenter} has {permission or 'no'} access to {request.repository}: accepting "
                      f"new fingerprints needs write access (admin, maintain or write)")
    return permission


def find_target(repo: Repository, request: AcceptRequest) -> AcceptTarget:
    """The pull request's head (branch, repository, commit) and the newest campaign artifact of that commit."""
    pull = repo.get_pull(request.pr)
    head = pull.head
    head_repo = head.repo.full_name if head.repo is not None else ""  # a deleted fork has none
    run_id, artifact = find_artifact(repo, head.sha)
    return AcceptTarget(request.pr, head.ref, head_repo, head.sha,
                        head_repo.lower() == request.repository.lower(), run_id, artifact)


def find_artifact(repo: Repository, sha: str) -> tuple[int, str]:
    """The newest unexpired `opp-ci-RUNID-ATTEMPT-run` artifact of a workflow run of commit `sha`."""
    found: list[tuple[int, int, str]] = []
    for index, artifact in enumerate(repo.get_artifacts()):
        if index >= ARTIFACTS_SEARCHED:
            break
        name = ARTIFACT.match(artifact.name or "")
        run = artifact.workflow_run
        if name and not artifact.expired and run is not None and run.head_sha == sha:
            found.append((int(name[1]), int(name[2]), artifact.name))
    if not found:
        raise UserError(f"no campaign artifact (opp-ci-RUNID-ATTEMPT-run) of commit {sha[:12]} among the "
                        f"repository's {ARTIFACTS_SEARCHED} newest artifacts: wait until its campaign has run, or "
                        f"run it again", exit_code=1)
    run_id, _attempt, name = max(found)
    return run_id, name


# --- the answer on the pull request ---


def read_proposal(out_dir: Path) -> tuple[dict[str, Any] | None, str]:
    """The campaign's `baseline_update` and its patch, from a downloaded campaign artifact."""
    try:
        campaign = json.loads((out_dir / "campaign.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise UserError(f"cannot read {out_dir / 'campaign.json'}: {error}; give the campaign artifact's "
                        f"directory") from None
    proposal = campaign.get(KEY) if isinstance(campaign, dict) else None
    if not isinstance(proposal, dict):
        return None, ""
    try:
        return proposal, (out_dir / str(proposal.get("patch") or PATCH_FILE)).read_text(encoding="utf-8")
    except OSError as error:
        raise UserError(f"{out_dir / PATCH_FILE}: cannot read it ({error.strerror})") from None


def _rows(proposal: dict[str, Any] | None) -> str:
    rows = (proposal or {}).get("rows")
    return f"{rows} row{'' if rows == 1 else 's'}" if isinstance(rows, int) else "?"


def pushed_reply(sha: str, branch: str, proposal: dict[str, Any] | None) -> str:
    what = f" ({_rows(proposal)})" if proposal else ""
    return (f"✅ Accepted the new fingerprints{what}: pushed {md_code(sha)} to {md_code(branch)}. "
            f"A push made with the workflow's token starts no workflow: push again, or re-run the campaign, to "
            f"check it.")


def patch_reply(proposal: dict[str, Any] | None, patch: str) -> str:
    """The answer to a pull request from a fork (opp-ci cannot push there): the patch, collapsed."""
    if not proposal or not patch:
        return "Nothing to accept: this pull request's campaign found no changed fingerprints."
    files = ", ".join(md_code(f) for f in proposal.get("files", []))
    shown = preview(patch, COMMENT_CHARS - REPLY_ROOM)
    lines = ["This pull request comes from a fork: opp-ci cannot push to its branch. Its author can accept the new "
             f"fingerprints by applying this patch with `git apply` in the project directory (it changes {files}), "
             "or with `opp-ci baseline update --from OUT_DIR` and the campaign's artifact.", "",
             f"<details><summary>The patch ({_rows(proposal)})</summary>", "",
             md_fence(shown, "diff"), "", "</details>"]
    if len(shown) < len(patch):
        lines += ["", f"✂️ Cut to fit GitHub's limit ({len(shown)} of {len(patch)} characters shown): the whole patch "
                  f"is {md_code(PATCH_FILE)} in the campaign's artifact."]
    return "\n".join(lines) + "\n"


def post_reply(repo: Repository, pr: int, body: str) -> int:
    """Comments on the pull request; returns the comment's id."""
    return repo.get_issue(pr).create_comment(plain_text(body)[:COMMENT_CHARS]).id
