"""Ownership of the output directory: a lock held while a campaign writes it, and a manifest of the
entries opp-ci made there, so that a new campaign deletes only what an earlier one wrote.

An entry of `OUTPUTS` that exists but no manifest lists belongs to someone else (an OMNeT++ project
directory ships `results/`): opp-ci refuses to start rather than delete or mix into it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
from pathlib import Path

from opp_ci.errors import UserError
from opp_ci.records import CAMPAIGN_FILE
from opp_ci.store import RESULTS_DIR

MANIFEST = ".opp-ci-manifest.json"
LOCK = ".opp-ci-lock"
#: What a campaign writes into its output directory (".opp-ci-store" is the local backend's store).
OUTPUTS = (CAMPAIGN_FILE, "junit.xml", "summary.md", RESULTS_DIR, "logs", "plots", ".opp-ci-store")

#: Lock file descriptors this process holds, by output directory.
_held: dict[Path, int] = {}


def claim(out_dir: Path, resume: bool) -> Path:
    """Creates and locks `out_dir`, refuses foreign entries where outputs go, and (without resume)
    removes the entries an earlier campaign wrote; then records this campaign's entries."""
    out_dir = Path(out_dir)
    _create(out_dir)
    lock(out_dir)
    try:
        ours = _owned(out_dir)
        for name in OUTPUTS:
            path = out_dir / name
            if (path.exists() or path.is_symlink()) and name not in ours:
                raise UserError(f"{path} was not written by opp-ci (no {MANIFEST} lists it): move it away, "
                                f"or choose another --out")
        if not resume:
            for name in OUTPUTS:
                _remove(out_dir / name)
        _write_manifest(out_dir, list(OUTPUTS))
    except BaseException:
        release(out_dir)
        raise
    return out_dir


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


def release(out_dir: Path) -> None:
    """Gives the directory's lock up (the lock file stays: removing it would race with a new taker)."""
    fd = _held.pop(Path(out_dir).resolve(), None)
    if fd is not None:
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        os.close(fd)


def _owned(out_dir: Path) -> set[str]:
    """The entries a manifest says opp-ci wrote; without a manifest, an earlier opp-ci's campaign.json
    (from before manifests) vouches for the outputs."""
    path = out_dir / MANIFEST
    if path.is_file() and not path.is_symlink():
        try:
            return {str(name) for name in json.loads(path.read_text()).get("entries", [])} & set(OUTPUTS)
        except (ValueError, AttributeError, OSError):
            return set()
    campaign = out_dir / CAMPAIGN_FILE
    if campaign.is_file() and not campaign.is_symlink():
        with contextlib.suppress(ValueError, OSError, AttributeError):
            data = json.loads(campaign.read_text())
            if isinstance(data, dict) and "campaign" in data and isinstance(data.get("runs"), list):
                return set(OUTPUTS)
    return set()


def _write_manifest(out_dir: Path, entries: list[str]) -> None:
    path = out_dir / MANIFEST
    temporary = path.with_name(path.name + ".tmp")
    try:
        temporary.write_text(json.dumps({"tool": "opp-ci", "entries": entries}, indent=2) + "\n")
        temporary.replace(path)
    except OSError as error:
        raise UserError(f"--out {out_dir}: cannot write {MANIFEST} ({error.strerror}); choose another --out") from None


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)
