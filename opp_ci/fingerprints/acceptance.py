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
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opp_ci import output
from opp_ci.fingerprints import patches
from opp_ci.fingerprints.baseline import suite_updates, update_from_campaign
from opp_ci.fingerprints.checks import FingerprintCheck, SuiteCheck
from opp_ci.fingerprints.stores import FingerprintStore, InetCsvStore, open_store
from opp_ci.fingerprints.suites import Action
from opp_ci.fingerprints.verdicts import FingerprintVerdict
from opp_ci.records import Campaign, RunStatus
from opp_ci.triage import without_nondeterministic

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
    ini: str | None = None  # an INET CSV store: the ini file whose rows it prefers (InetCsvStore.ini)


def needs_update(campaign: Campaign) -> bool:
    """A run failed because its calculated fingerprint differs from the expected one."""
    return any(r.fingerprint is FingerprintVerdict.MISMATCH and r.status is not RunStatus.PASSED
               for r in campaign.runs)


def propose(checks: list[Any], campaign: Campaign, out_dir: Path) -> list[FileUpdate]:
    """When runs failed their fingerprint check: the updated files and the patch written to `out_dir`, and
    recorded in the campaign; the project directory is only read."""
    clear(out_dir)
    campaign.extra.pop(KEY, None)
    project = campaign.extra.get("project")
    if not project:
        return []
    recorded = campaign
    campaign, _ = without_nondeterministic(campaign)
    if not needs_update(campaign):
        return []
    updates: list[FileUpdate] = []
    for check in checks:
        if isinstance(check, FingerprintCheck) and not check.recording:
            updates += store_updates(check, Path(project), campaign)
        elif isinstance(check, SuiteCheck):
            files = sorted({key.rpartition(":")[0] for key in check.rows})
            updates += suite_file_updates(Path(project), files, campaign, out_dir)
    if updates:
        write_proposal(updates, recorded, out_dir)
    return updates


def clear(out_dir: Path) -> None:
    """Removes an earlier proposal (of a campaign resumed in the same output directory, which opp-ci claimed:
    the files there are its own)."""
    if (out_dir / PATCH_FILE).is_file() and not (out_dir / PATCH_FILE).is_symlink():
        (out_dir / PATCH_FILE).unlink()
    if (out_dir / UPDATE_DIR).is_dir() and not (out_dir / UPDATE_DIR).is_symlink():
        shutil.rmtree(out_dir / UPDATE_DIR)


def store_updates(check: FingerprintCheck, project: Path, campaign: Campaign) -> list[FileUpdate]:
    """The fingerprint store with every run's calculated fingerprints recorded, as `baseline update --from`
    records them, on a copy of the store (its file is not written)."""
    return store_update(copy.deepcopy(check.store), project, campaign)


def store_update(store: FingerprintStore, project: Path, campaign: Campaign) -> list[FileUpdate]:
    """`store` (a copy: it is changed) with the campaign's calculated fingerprints, when any changed."""
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
    return [FileUpdate(relative, old, new, rows, ini=getattr(store, "ini", None))]


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
        "ini": {update.path: update.ini for update in updates if update.ini},
        "patch": PATCH_FILE, "patch_chars": len(patch), "preview": preview(patch, PREVIEW_CHARS),
    }


def unified_patch(updates: list[FileUpdate]) -> str:
    """A unified diff of the files (`git apply` and `patch -p1` read it), in the order given."""
    return patches.unified_patch([(update.path, update.old, update.new) for update in updates])


def preview(patch: str, limit: int) -> str:
    """The patch, or its first whole lines that fit in `limit` characters."""
    if len(patch) <= limit:
        return patch
    head = patch[:limit]
    return head[: head.rfind("\n") + 1]


# --- `opp-ci merge`: the shards' proposals done again over all runs ---


def merge_proposals(shards: list[tuple[Path, Campaign]], merged: Campaign, out_dir: Path) -> list[FileUpdate]:
    """The proposal of the merged campaign: each file as the project had it (undone from a shard's updated file
    and patch: the merge job has no checkout), updated with every shard's runs, as one campaign would be."""
    clear(out_dir)
    originals: dict[str, tuple[str | None, dict[str, Any]]] = {}
    for directory, campaign in shards:
        proposal = campaign.extra.get(KEY)
        if not isinstance(proposal, dict):
            continue
        diffs = patches.by_file((directory / str(proposal.get("patch") or PATCH_FILE)).read_text(encoding="utf-8"))
        for path in proposal.get("files", []):
            if path not in originals and path in diffs:
                updated = (directory / UPDATE_DIR / path).read_text(encoding="utf-8")
                originals[path] = (patches.original(updated, diffs[path]), proposal)
    accepted, _ = without_nondeterministic(merged)
    if not originals or not needs_update(accepted):
        return []
    with tempfile.TemporaryDirectory(prefix="opp-ci-accept-") as scratch:
        updates = [update for path, (text, proposal) in originals.items()
                   for update in _again(Path(scratch), path, text, proposal, accepted, out_dir)]
    if updates:
        write_proposal(updates, merged, out_dir)
    return updates


def _again(project: Path, path: str, text: str | None, proposal: dict[str, Any], merged: Campaign,
           out_dir: Path) -> list[FileUpdate]:
    """One file's update, computed on its original text put at its place in a scratch project."""
    if text is not None:
        (project / path).parent.mkdir(parents=True, exist_ok=True)
        (project / path).write_text(text, encoding="utf-8")
    if path in (proposal.get("suites") or []):
        return suite_file_updates(project, [path], merged, out_dir)
    store = open_store(project / path)
    if isinstance(store, InetCsvStore):
        store.ini = (proposal.get("ini") or {}).get(path)
    return store_update(store, project, merged)
