"""Everything opp-ci tells GitHub, and GitHub's limits on it.

Step outputs, the step summary, workflow commands (`::error::`, `::group::`), the check run with
its annotations and the pull-request comment all go through this module. The PyGithub client is
a parameter (made by `make_client`, lazily, from the API URL), never a module-level object, so tests
point it at a mock server.
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from opp_ci.errors import UserError
from opp_ci.output import warning
from opp_ci.records import Campaign, RunRecord, RunStatus
from opp_ci.safe_text import md_url, plain_text
from opp_ci.triage import GATE_KEY, let_pass

if TYPE_CHECKING:
    from github import Github
    from github.Repository import Repository

DEFAULT_API_URL = "https://api.github.com"
DEFAULT_SERVER_URL = "https://github.com"
DEFAULT_CHECK_NAME = "opp-ci campaign"
#: The hidden line that identifies opp-ci's comment on a pull request, so later pushes edit it.
COMMENT_MARKER = "<!-- opp-ci: campaign comment -->"

# GitHub's limits (docs.github.com: workflow commands, checks API, issue comments).
#: $GITHUB_STEP_SUMMARY: at most 1 MiB per step; larger summaries are not shown at all.
STEP_SUMMARY_BYTES = 1024 * 1024
#: A check-run create or update request carries at most 50 annotations.
ANNOTATIONS_PER_REQUEST = 50
#: An annotation's message and raw_details: at most 64 KiB each; its title: 255 characters.
ANNOTATION_MESSAGE_BYTES = 64 * 1024
ANNOTATION_TITLE_CHARS = 255
#: A check run's output summary and text: at most 65535 characters each.
CHECK_OUTPUT_CHARS = 65535
#: An issue comment's body: at most 65536 characters.
COMMENT_CHARS = 65536


# --- the run's context: repository, commit, pull request ---


@dataclass(frozen=True)
class GitHubContext:
    """Where to publish: taken from the GITHUB_* environment, overridden by CLI flags."""

    repository: str | None = None
    sha: str | None = None
    pr: int | None = None
    api_url: str = DEFAULT_API_URL
    server_url: str = DEFAULT_SERVER_URL
    run_id: str | None = None
    run_attempt: str | None = None
    step_summary: Path | None = None
    output: Path | None = None
    token: str | None = field(default=None, repr=False)  # never printed

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> GitHubContext:
        event = _read_event(env.get("GITHUB_EVENT_PATH"))
        pull = event.get("pull_request") or {}
        return cls(
            repository=env.get("GITHUB_REPOSITORY") or None,
            sha=(pull.get("head") or {}).get("sha") or env.get("GITHUB_SHA") or None,
            pr=pull.get("number"),
            api_url=env.get("GITHUB_API_URL") or DEFAULT_API_URL,
            server_url=env.get("GITHUB_SERVER_URL") or DEFAULT_SERVER_URL,
            run_id=env.get("GITHUB_RUN_ID") or None,
            run_attempt=env.get("GITHUB_RUN_ATTEMPT") or None,
            step_summary=_path_or_none(env.get("GITHUB_STEP_SUMMARY")),
            output=_path_or_none(env.get("GITHUB_OUTPUT")),
            token=env.get("GITHUB_TOKEN") or None,
        )

    def with_flags(self, **flags: Any) -> GitHubContext:
        """This context with every flag that was given (not None) replacing the environment's value."""
        return replace(self, **{k: v for k, v in flags.items() if v is not None})

    @property
    def run_url(self) -> str | None:
        if not (self.repository and self.run_id):
            return None
        return f"{self.server_url}/{self.repository}/actions/runs/{self.run_id}"


def _read_event(path: str | None) -> dict[str, Any]:
    if not path:
        return {}
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}


def _path_or_none(value: str | None) -> Path | None:
    return Path(value) if value else None


def make_client(api_url: str, token: str) -> Github:
    """A PyGithub client for `api_url`; lazy, so objects get URLs built from api_url, not from replies."""
    from github import Auth, Github

    return Github(auth=Auth.Token(token), base_url=api_url.rstrip("/"), lazy=True)


# --- sizes ---


def cut_bytes(text: str, limit: int, note: str = "") -> str:
    """`text` if it fits in `limit` UTF-8 bytes, else its longest prefix that fits together with `note`.

    The cut falls on a line end when one is near, and never inside a multi-byte character.
    """
    data = text.encode()
    if len(data) <= limit:
        return text
    room = max(0, limit - len(note.encode()))
    head = data[:room].decode("utf-8", errors="ignore")
    line_end = head.rfind("\n")
    if line_end >= len(head) // 2:
        head = head[: line_end + 1]
    return head + note


def cut_chars(text: str, limit: int, note: str = "") -> str:
    """`text` if it has at most `limit` characters, else a prefix that fits together with `note`."""
    if len(text) <= limit:
        return text
    return text[: max(0, limit - len(note))] + note


def truncation_note(shown: str, total: int) -> str:
    return (f"\n\n> ✂️ Truncated to fit GitHub's limit: {shown} of {total} bytes shown; "
            "the full report is in the artifact.\n")


# --- workflow commands, outputs, step summary ---


def write_outputs(path: Path | None, outputs: Mapping[str, Any]) -> None:
    """Appends step outputs to $GITHUB_OUTPUT; multi-line values use a random heredoc delimiter."""
    if path is None:
        return
    with open(path, "a", encoding="utf-8") as f:
        for name, value in outputs.items():
            text = "" if value is None else str(value)
            if "\n" in text:
                delimiter = f"opp-ci-{uuid.uuid4().hex}"
                f.write(f"{name}<<{delimiter}\n{text}\n{delimiter}\n")
            else:
                f.write(f"{name}={text}\n")


def check_github_output(path: str | None) -> None:
    """--github-output must be appendable before anything runs, not only after the runs passed."""
    if not path:
        return
    target = Path(path)
    if target.is_dir() or not target.parent.is_dir() or not os.access(target if target.exists() else target.parent,
                                                                        os.W_OK):
        raise UserError(f"--github-output {path}: not a file that can be appended to (is its directory there and "
                        f"writable?); give another file")


def write_campaign_outputs(path: Path, out_dir: Path, campaign: Any) -> None:
    """A campaign's step outputs (`run` and `merge` alike): out-dir, campaign-id, total, passed, failed."""
    totals = campaign.totals()
    try:
        write_outputs(path, {"out-dir": out_dir.resolve(), "campaign-id": campaign.campaign, "total": totals["total"],
                             "passed": totals["passed"], "failed": totals["total"] - totals["passed"]})
    except OSError as error:
        raise UserError(f"--github-output {path}: cannot append to it ({error.strerror}); the campaign's outputs "
                        f"are in {out_dir.resolve()}") from None


def step_summary_text(markdown: str, limit: int = STEP_SUMMARY_BYTES) -> str:
    """The summary, cut cleanly with a note if it would exceed GitHub's step-summary limit; control characters
    as visible escapes (as in `report_markdown`)."""
    markdown = plain_text(markdown)
    total = len(markdown.encode())
    if total <= limit:
        return markdown
    note_room = 300
    shown = cut_bytes(markdown, limit - note_room)
    return shown + truncation_note(str(len(shown.encode())), total)


def write_step_summary(path: Path | None, markdown: str) -> bool:
    """Appends the summary to $GITHUB_STEP_SUMMARY (if set); returns whether it was written."""
    if path is None:
        return False
    with open(path, "a", encoding="utf-8") as f:
        f.write(step_summary_text(markdown))
    return True


# --- check run and annotations ---


def annotation(record: RunRecord, out_dir: Path, workspace: Path, fails_gate: bool = True) -> dict[str, Any]:
    """One annotation for a run that did not pass, pointing at the file a check could not read, else at its log
    file; with the triage's finding and evidence, a warning when the failure does not fail the check."""
    broken = next((v.file for v in record.verdicts if v.file), None)
    target = out_dir / (broken or record.log or "campaign.json")
    with contextlib.suppress(ValueError):
        target = target.resolve().relative_to(workspace.resolve())
    note = "\n…"
    triage = record.triage or {}
    message = plain_text("\n".join([record.error or f"run {record.status.value}", *triage.get("evidence", [])]))
    finding = f" ({triage['finding']})" if triage.get("finding") else ""
    title = plain_text(" ".join(f"{record.config} {record.name}: {record.status.value}{finding}".split()))
    result = {
        "path": plain_text(target),
        "start_line": 1,
        "end_line": 1,
        "annotation_level": "failure" if fails_gate else "warning",
        "title": cut_chars(title, ANNOTATION_TITLE_CHARS, "…"),
        "message": cut_bytes(message, ANNOTATION_MESSAGE_BYTES, note),
    }
    if record.log_tail:
        result["raw_details"] = cut_bytes(plain_text(record.log_tail), ANNOTATION_MESSAGE_BYTES, note)
    return result


def annotations(campaign: Campaign, out_dir: Path, workspace: Path) -> list[dict[str, Any]]:
    bad = sorted((r for r in campaign.runs if r.status is not RunStatus.PASSED), key=lambda r: r.key)
    gate = campaign.extra.get(GATE_KEY) or {}
    return [annotation(r, out_dir, workspace, let_pass(r, gate.get("fail_on", "any")) is None) for r in bad]


def batches(items: list[Any], size: int = ANNOTATIONS_PER_REQUEST) -> list[list[Any]]:
    """`items` in lists of at most `size`; always at least one (possibly empty) list."""
    return [items[i : i + size] for i in range(0, len(items), size)] or [[]]


def headline(campaign: Campaign) -> str:
    totals = campaign.totals()
    return f"{totals['passed']}/{totals['total']} runs passed" + (
        "" if campaign.all_passed else f" ({totals['failed']} failed, {totals['timeout']} timed out, "
        f"{totals['error']} errors)")


def report_markdown(summary: str, artifact_url: str | None, limit: int) -> str:
    """summary.md with a link to the artifact, cut to `limit` characters. summary.md's untrusted texts are
    made safe where it is written (opp_ci.report); control characters are refused here once more, since
    GitHub's API takes no lone surrogates and a summary.md may come from an older opp-ci."""
    url = md_url(artifact_url)
    link = f"\n📦 Result files, logs and JUnit report: [artifact]({url})\n" if url else ""
    note = "\n\n> ✂️ Truncated to fit GitHub's limit; the full summary is in the artifact.\n"
    return cut_chars(plain_text(summary), limit - len(link), note) + link


def check_run_output(campaign: Campaign, summary: str, batch: list[dict[str, Any]]) -> dict[str, Any]:
    return {"title": headline(campaign), "summary": summary, "annotations": batch}


def publish_check_run(repo: Repository, name: str, sha: str, campaign: Campaign, summary: str,
                      all_annotations: list[dict[str, Any]], details_url: str | None = None) -> int:
    """Creates a completed check run; annotations beyond the first 50 are added by updates of 50 each.

    Returns the check run's id.
    """
    first, *rest = batches(all_annotations)
    summary = cut_chars(summary, CHECK_OUTPUT_CHARS)
    extra = {"details_url": details_url} if details_url else {}
    check_run = repo.create_check_run(
        name=name, head_sha=sha, status="completed",
        conclusion="success" if campaign.passed else "failure",
        output=check_run_output(campaign, summary, first), **extra,
    )
    for batch in rest:
        # Built from our own base URL, not from the reply's `url`, so a proxy or mock works alike.
        repo.get_check_run(check_run.id).edit(output=check_run_output(campaign, summary, batch))
    return check_run.id


# --- the pull-request comment ---


def comment_body(summary: str) -> str:
    return COMMENT_MARKER + "\n" + summary


def find_comment(issue: Any, marker: str = COMMENT_MARKER) -> int | None:
    """The id of the first comment on the pull request that carries `marker`."""
    for comment in issue.get_comments():
        if marker in (comment.body or ""):
            return comment.id
    return None


def publish_comment(repo: Repository, pr: int, summary: str) -> tuple[int, bool]:
    """Creates opp-ci's comment on the pull request, or edits it in place if it exists.

    Returns (comment id, whether an existing comment was edited).
    """
    issue = repo.get_issue(pr)
    body = comment_body(summary)
    existing = find_comment(issue)
    if existing is not None:
        issue.get_comment(existing).edit(body)
        return existing, True
    return issue.create_comment(body).id, False


# --- publishing a campaign ---


@dataclass
class Published:
    summary_written: bool = False
    check_run_id: int | None = None
    comment_id: int | None = None
    comment_edited: bool = False


def read_campaign(out_dir: Path) -> tuple[Campaign, str]:
    """The campaign and its summary.md (rebuilt from campaign.json if missing)."""
    try:
        campaign = Campaign.read(out_dir)
    except (OSError, ValueError) as problem:
        raise UserError(f"cannot read {out_dir / 'campaign.json'}: {problem}") from None
    summary_file = out_dir / "summary.md"
    if summary_file.is_file():
        return campaign, summary_file.read_text(encoding="utf-8")
    from opp_ci.report import summary_markdown

    return campaign, summary_markdown(campaign)


def publish(out_dir: Path, context: GitHubContext, check_name: str = DEFAULT_CHECK_NAME,
            artifact_url: str | None = None, client: Github | None = None,
            workspace: Path | None = None) -> Published:
    """Step summary, check run with annotations, and pull-request comment for the campaign in out_dir.

    Without a token or repository only the step summary is written; a pull-request comment needs
    `context.pr`. `client` defaults to one made lazily from `context.api_url`.
    """
    campaign, summary = read_campaign(out_dir)
    result = Published(summary_written=write_step_summary(context.step_summary, summary))
    if not (context.token and context.repository and context.sha):
        warning("opp-ci publish: no GITHUB_TOKEN, repository or commit; only the step summary was written")
        return result
    client = client or make_client(context.api_url, context.token)
    repo = client.get_repo(context.repository)
    found = annotations(campaign, out_dir, workspace or Path.cwd())
    report = report_markdown(summary, artifact_url, CHECK_OUTPUT_CHARS)
    result.check_run_id = publish_check_run(repo, check_name, context.sha, campaign, report, found,
                                            details_url=context.run_url)
    if context.pr is not None:
        body_limit = COMMENT_CHARS - len(COMMENT_MARKER) - 1
        result.comment_id, result.comment_edited = publish_comment(
            repo, context.pr, report_markdown(summary, artifact_url, body_limit))
    write_outputs(context.output, {"check-run-id": result.check_run_id, "comment-id": result.comment_id or ""})
    return result
