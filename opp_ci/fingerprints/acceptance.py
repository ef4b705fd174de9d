"""Accepting new fingerprints in one step: at the end of a campaign whose runs failed their fingerprint check,
what `opp-ci baseline update --from OUT_DIR` would change in the project, computed without touching it.

The updated files go to `OUT/baseline-update/<path in the project>` and a unified diff of them to
`OUT/baseline-update.patch` (paths `a/...` `b/...` relative to the project directory, no `diff --git` header,
so `git apply` in the project directory applies it, also when the project is a subdirectory of its
repository). campaign.json keeps what the summary shows under `baseline_update`: the files, the number of
rows (runs of the store, rows of a suite) that change, and the start of the patch (the PR comment's part).
"""

from __future__ import annotations

import copy
import difflib
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opp_ci import output
from opp_ci.fingerprints.baseline import suite_updates, update_from_campaign
from opp_ci.fingerprints.checks import FingerprintCheck, SuiteCheck
from opp_ci.fingerprints.suites import Action
from opp_ci.fingerprints.verdicts import FingerprintVerdict
from opp_ci.records import Campaign, RunStatus

#: Where the updated files go, in the output directory.
UPDATE_DIR = "baseline-update"
#: The unified diff of the updated files, in the output directory.
PATCH_FILE = "baseline-update.patch"
#: campaign.json's key for what the summary shows.
KEY = "baseline_update"
#: How much of the patch campaign.json keeps for the summary (the PR comment is at most 65,536 characters).
PREVIEW_CHARS = 20_000
#: What a maintainer comments on the pull request to accept (examples/workflows/accept.yml).
ACCEPT_COMMENT = "/opp-ci accept"


@dataclass(frozen=True)
class FileUpdate:
    """One file of the project as it is (None: it does not exist yet) and as accepting would leave it."""

    path: str  # relative to the project directory, `/`-separated
    old: str | None
    new: str
    rows: int
    suite: bool = False


def needs_update(campaign: Campaign) -> bool:
    """A run failed because its calculated fingerprint differs from the expected one."""
    return any(r.fingerprint is FingerprintVerdict.MISMATCH and r.status is not RunStatus.PASSED
               for r in campaign.runs)


def propose(checks: list[Any], campaign: Campaign, out_dir: Path) -> list[FileUpdate]:
    """When runs failed their fingerprint check: the updated files and the patch written to `out_dir`, and
    recorded in the campaign; the project directory is only read."""
    project = campaign.extra.get("project")
    if not project or not needs_update(campaign):
        return []
    updates: list[FileUpdate] = []
    for check in checks:
        if isinstance(check, FingerprintCheck) and not check.recording:
            updates += store_updates(check, Path(project), campaign)
        elif isinstance(check, SuiteCheck):
            files = sorted({key.rpartition(":")[0] for key in check.rows})
            updates += suite_file_updates(Path(project), files, campaign, out_dir)
    if updates:
        write_proposal(updates, campaign, out_dir)
    return updates


def store_updates(check: FingerprintCheck, project: Path, campaign: Campaign) -> list[FileUpdate]:
    """The fingerprint store with every run's calculated fingerprints recorded, as `baseline update --from`
    records them, on a copy of the store (its file is not written)."""
    store = copy.deepcopy(check.store)
    path = Path(store.path)
    relative = _relative(path, project)
    if relative is None:
        return []
    changes, _skipped = update_from_campaign(store, campaign)
    rows = len({change.run for change in changes if change.action is not Action.KEEP})
    if not rows:
        return []
    old = path.read_text(encoding="utf-8") if path.is_file() else None
    with tempfile.TemporaryDirectory(prefix="opp-ci-accept-") as scratch:
        store.path = Path(scratch) / path.name
        store.save()
        new = store.path.read_text(encoding="utf-8")
    return [FileUpdate(relative, old, new, rows)]


def suite_file_updates(project: Path, files: list[str], campaign: Campaign, out_dir: Path) -> list[FileUpdate]:
    """The suite CSVs with the rows' calculated fingerprints, as `baseline update --from --suite` writes them."""
    found, _skipped = suite_updates(project, files, campaign, out_dir)
    updates = []
    for file, update in found.items():
        rows = sum(change.action is Action.UPDATE for change in update.changes)
        relative = _relative(project / file, project)
        if rows and relative is not None:
            updates.append(FileUpdate(relative, (project / file).read_text(encoding="utf-8"), update.text, rows, True))
    return updates


def _relative(path: Path, project: Path) -> str | None:
    try:
        return path.resolve().relative_to(project.resolve()).as_posix()
    except ValueError:
        output.warning(f"{path} is outside the project {project}: no patch to accept it is made")
        return None


def write_proposal(updates: list[FileUpdate], campaign: Campaign, out_dir: Path) -> None:
    """OUT/baseline-update/<path>, OUT/baseline-update.patch, and campaign.json's `baseline_update`."""
    for update in updates:
        target = out_dir / UPDATE_DIR / update.path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(update.new, encoding="utf-8")
    patch = unified_patch(updates)
    (out_dir / PATCH_FILE).write_text(patch, encoding="utf-8")
    campaign.extra[KEY] = {
        "files": [update.path for update in updates], "rows": sum(update.rows for update in updates),
        "suites": [update.path for update in updates if update.suite], "directory": UPDATE_DIR,
        "patch": PATCH_FILE, "patch_chars": len(patch), "preview": preview(patch, PREVIEW_CHARS),
    }


def unified_patch(updates: list[FileUpdate]) -> str:
    """A unified diff of the files (`git apply` and `patch -p1` read it), in the order given."""
    parts = []
    for update in updates:
        before = f"a/{update.path}" if update.old is not None else "/dev/null"
        parts += difflib.unified_diff(_lines(update.old or ""), _lines(update.new), before, f"b/{update.path}")
    return "".join(parts)


def _lines(text: str) -> list[str]:
    """The lines of `text` with their ends; a last line without one carries diff's marker for that."""
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n\\ No newline at end of file\n"
    return lines


def preview(patch: str, limit: int) -> str:
    """The patch, or its first whole lines that fit in `limit` characters."""
    if len(patch) <= limit:
        return patch
    head = patch[:limit]
    return head[: head.rfind("\n") + 1]
