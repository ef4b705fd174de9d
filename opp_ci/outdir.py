"""Ownership of the output directory: a lock held while a campaign writes it, and a manifest of the files
opp-ci wrote there (path, size, modification time), so that a new campaign deletes only those.

A file where outputs go (`OUTPUTS`) that no manifest lists, or that changed since, belongs to someone else
(an OMNeT++ project directory ships `results/`; a user's notes; a simulation run by hand): opp-ci refuses
to start rather than delete it or mix into it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

from opp_ci.errors import UserError
from opp_ci.records import CAMPAIGN_FILE
from opp_ci.store import RESULTS_DIR

MANIFEST = ".opp-ci-manifest.json"
LOCK = ".opp-ci-lock"
#: The local backend's store, in the output directory (the same file system as the results: files move, not copy).
STORE_DIR = ".opp-ci-store"
#: What a campaign writes into its output directory.
OUTPUTS = (CAMPAIGN_FILE, "junit.xml", "summary.md", RESULTS_DIR, "logs", "plots", STORE_DIR, "confirm",
           "baseline-update", "baseline-update.patch")

#: opp-ci's own reports, which `opp-ci report` and `compare` rewrite after the campaign: opp-ci's by name.
REPORTS = (CAMPAIGN_FILE, "junit.xml", "summary.md")

#: Lock file descriptors this process holds, by output directory.
_held: dict[Path, int] = {}


def claim(out_dir: Path, resume: bool) -> Path:
    """Creates and locks `out_dir`; refuses, before anything is touched, when a file where outputs go was
    not written by opp-ci; (without resume) removes the files an earlier campaign wrote, and only those;
    then marks the directory as being written by this campaign."""
    out_dir = Path(out_dir)
    _create(out_dir)
    lock(out_dir)
    try:
        entries, owned = _owned(out_dir)
        files = output_files(out_dir)
        foreign = [name for name in OUTPUTS if (out_dir / name).is_dir() and name not in entries]
        foreign += [name for name, info in files.items() if not owned(name, info)]
        if foreign:
            more = f" (and {len(foreign) - 1} more)" if len(foreign) > 1 else ""
            raise UserError(f"{out_dir / foreign[0]}{more} was not written by opp-ci: move it away, or choose "
                            f"another --out")
        kept = files if resume else {}
        if not resume:
            _remove_outputs(out_dir, files)
        _write_manifest(out_dir, {"state": WRITING, "entries": list(OUTPUTS), "started_ns": time.time_ns(),
                                  "files": kept})
    except BaseException:
        release(out_dir, record=False)
        raise
    return out_dir


#: A manifest's states: a campaign is writing the directory, or wrote it and ended.
WRITING, DONE = "writing", "done"
#: What identifies a file opp-ci wrote: its size and modification time, as `os.lstat` gives them.
FileInfo = tuple[int, int]


def output_files(out_dir: Path) -> dict[str, FileInfo]:
    """Every file (or link) where outputs go, by its path relative to `out_dir`; links are not followed."""
    found: dict[str, FileInfo] = {}
    for name in OUTPUTS:
        path = out_dir / name
        if path.is_symlink() or path.is_file():
            found[name] = _info(path)
        elif path.is_dir():
            for directory, subdirectories, names in os.walk(path):
                for entry in names + [d for d in subdirectories if os.path.islink(os.path.join(directory, d))]:
                    full = Path(directory) / entry
                    found[str(full.relative_to(out_dir))] = _info(full)
    return found


def _info(path: Path) -> FileInfo:
    status = os.lstat(path)
    return status.st_size, status.st_mtime_ns


def _remove_outputs(out_dir: Path, files: dict[str, FileInfo]) -> None:
    """Removes those files, then the output directories they leave empty (a directory that still holds
    something is kept)."""
    for name in files:
        (out_dir / name).unlink()
    for name in OUTPUTS:
        path = out_dir / name
        if path.is_dir() and not path.is_symlink():
            for directory, _subdirectories, _names in sorted(os.walk(path), key=lambda e: -len(e[0])):
                with contextlib.suppress(OSError):
                    os.rmdir(directory)


def _create(out_dir: Path) -> None:
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise UserError(f"--out {out_dir}: a file of that name exists; choose another --out") from None
    except NotADirectoryError:
        raise UserError(f"--out {out_dir}: a parent of it is a file, not a directory; choose another --out") from None
    except OSError as error:
        raise UserError(f"--out {out_dir}: cannot create it ({error.strerror}); choose another --out") from None
    if not out_dir.is_dir():
        raise UserError(f"--out {out_dir} is not a directory; choose another --out")
    if not os.access(out_dir, os.W_OK | os.X_OK):
        raise UserError(f"--out {out_dir} is not writable; choose another --out")


def lock(out_dir: Path) -> None:
    """Takes the directory's lock (flock on .opp-ci-lock, released when this process ends); refuses when
    another live campaign holds it."""
    key = out_dir.resolve()
    if key in _held:
        raise UserError(f"--out {out_dir} is already in use by this process; choose another --out")
    path = out_dir / LOCK
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644)
    except OSError as error:
        raise UserError(f"--out {out_dir}: cannot create {LOCK} ({error.strerror}); choose another --out") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise UserError(f"--out {out_dir} is in use by another opp-ci campaign (pid {holder}); wait for it to "
                        f"end, or choose another --out") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    _held[key] = fd


def release(out_dir: Path, record: bool = True) -> None:
    """Records the files this campaign leaves (the next one may remove exactly those), then gives the
    directory's lock up (the lock file stays: removing it would race with a new taker)."""
    key = Path(out_dir).resolve()
    if record and key in _held:
        with contextlib.suppress(UserError, OSError):
            _write_manifest(Path(out_dir), {"state": DONE, "entries": list(OUTPUTS),
                                            "files": output_files(Path(out_dir))})
    fd = _held.pop(key, None)
    if fd is not None:
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        os.close(fd)


def _owned(out_dir: Path) -> tuple[set[str], Callable[[str, FileInfo], bool]]:
    """The output entries opp-ci made, and which files it wrote: those the manifest lists, unchanged; of a
    campaign that did not end (killed), also those written since it started. Before manifests listed
    files: those campaign.json names (without any manifest, campaign.json vouches for the entries)."""
    manifest = _read_json(out_dir / MANIFEST)
    campaign = _read_json(out_dir / CAMPAIGN_FILE)
    entries = {str(e) for e in manifest.get("entries", []) if isinstance(e, str)} if manifest else (
        set(OUTPUTS) if _named_by_campaign(campaign) else set())
    files = manifest.get("files")
    if isinstance(files, dict):
        listed = {str(k): tuple(v) for k, v in files.items() if isinstance(v, list) and len(v) == 2}
        since = manifest.get("started_ns") if manifest.get("state") == WRITING else None
        since = since if isinstance(since, int) else None
        return entries, lambda name, info: (listed.get(name) == info or (since is not None and info[1] >= since)
                                            or (name in REPORTS and name in entries))
    named = _named_by_campaign(campaign)
    return entries, lambda name, info: name in named or (name in REPORTS and name in entries)


def _read_json(path: Path) -> dict:
    """A JSON object from a regular file; {} for anything else."""
    if path.is_symlink() or not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except (ValueError, OSError):
        return {}
    return data if isinstance(data, dict) else {}


def _named_by_campaign(campaign: dict) -> set[str]:
    """The outputs an earlier opp-ci's campaign.json names: itself, the reports, each run's log and files."""
    if "campaign" not in campaign or not isinstance(campaign.get("runs"), list):
        return set()
    named = {CAMPAIGN_FILE, "junit.xml", "summary.md"}
    for run in campaign["runs"]:
        if isinstance(run, dict):
            named |= {str(f) for f in run.get("result_files") or [] if isinstance(f, str)}
            named |= {str(run["log"])} if isinstance(run.get("log"), str) else set()
    return named


def _write_manifest(out_dir: Path, content: dict) -> None:
    path = out_dir / MANIFEST
    temporary = path.with_name(path.name + ".tmp")
    try:
        temporary.write_text(json.dumps({"tool": "opp-ci", "version": 2, **content}) + "\n")
        temporary.replace(path)
    except OSError as error:
        raise UserError(f"--out {out_dir}: cannot write {MANIFEST} ({error.strerror}); choose another --out") from None


def is_ours(out_dir: Path, name: str) -> bool:
    """Whether the file `name` (relative to `out_dir`) is one opp-ci wrote, unchanged since."""
    path = Path(out_dir) / name
    if not (path.is_file() or path.is_symlink()):
        return False
    _entries, owned = _owned(Path(out_dir))
    return owned(name, _info(path))


def note_written(out_dir: Path, names: list[str]) -> None:
    """Adds files a command wrote after the campaign (plots of a comparison) to the manifest, so that the
    next campaign knows them as opp-ci's."""
    manifest = _read_json(Path(out_dir) / MANIFEST)
    if not isinstance(manifest.get("files"), dict):
        return
    files = dict(manifest["files"])
    for name in names:
        if (Path(out_dir) / name).is_file():
            files[name] = list(_info(Path(out_dir) / name))
    with contextlib.suppress(UserError):
        _write_manifest(Path(out_dir), {k: v for k, v in manifest.items() if k not in ("tool", "version")}
                        | {"files": files})
