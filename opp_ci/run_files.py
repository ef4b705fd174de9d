"""A run's files as they leave the worker: only what a record may name, its log and the regular files of its
result directory, none of them reached through a link, none shared with a file outside (a simulation, or
a process it left, may have put links there to files of the worker's machine)."""

from __future__ import annotations

import os
import secrets
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

from opp_ci.records import RunOutcome, RunStatus
from opp_ci.store import LOG_NAME, RESULTS_DIR


def own_files(scratch: Path) -> list[str]:
    """Leaves in `scratch` only what a record may name (its log, and the regular files of results/, none
    sharing its data with a file outside results/), and says what it removed that the run left as a result or
    log. Anything else the run wrote into `scratch` is removed without a word: it is no result file.

    By now every process of the run is gone (`run_process`), so what is checked here stays as it is."""
    with os.scandir(scratch) as entries:
        for entry in entries:
            if entry.name not in (RESULTS_DIR, LOG_NAME):
                _remove(Path(entry.path))
    return [*_own_log(scratch / LOG_NAME), *_own_result_dir(scratch / RESULTS_DIR)]


def _own_log(path: Path) -> list[str]:
    status = _lstat(path)
    if status is not None and stat.S_ISREG(status.st_mode) and status.st_nlink == 1:
        return []
    _remove(path)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644))
    what = f"was replaced by {_kind(status)}" if status is not None else "was removed"
    return [f"the run's log ({LOG_NAME}) {what}: not collected"]


def _own_result_dir(result_dir: Path) -> list[str]:
    status = _lstat(result_dir)
    if status is None or not stat.S_ISDIR(status.st_mode):
        _remove(result_dir)
        result_dir.mkdir()
        return [f"{RESULTS_DIR} is {_kind(status)}: not collected"] if status is not None else []
    files, refused = {}, []
    for name, entry in _entries(result_dir):
        status = entry.stat(follow_symlinks=False)
        if stat.S_ISREG(status.st_mode):
            files[name] = status
        else:
            os.unlink(entry.path)
            refused.append(f"{RESULTS_DIR}/{name} is {_kind(status)}: not collected")
    return refused + _unshared(result_dir, files)


def _unshared(result_dir: Path, files: dict[str, os.stat_result]) -> list[str]:
    """Result files that share their data with a file outside `result_dir` (a hard link) are removed; those
    sharing it with each other become copies, so nothing downstream ever links to a file of anyone else's."""
    sharing: dict[tuple[int, int], list[str]] = {}
    for name, status in files.items():
        if status.st_nlink > 1:
            sharing.setdefault((status.st_dev, status.st_ino), []).append(name)
    refused = []
    for names in sharing.values():
        if files[names[0]].st_nlink > len(names):  # the file has a name outside results/
            for name in names:
                os.unlink(result_dir / name)
            refused.append(f"{RESULTS_DIR}/{names[0]} is a hard link to a file outside {RESULTS_DIR}: "
                           f"not collected")
        else:
            for name in names[1:]:
                _copy_in_place(result_dir / name)
    return refused


def _entries(directory: Path, prefix: str = "") -> Iterator[tuple[str, os.DirEntry]]:
    """(name relative to `directory`, entry) of everything below it that is not a directory; a symbolic link
    (to a directory, too) is an entry, never followed."""
    with os.scandir(directory) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                yield from _entries(Path(entry.path), f"{prefix}{entry.name}/")
            else:
                yield prefix + entry.name, entry


def _kind(status: os.stat_result) -> str:
    """What a file that is not a run's own regular file is, for a message."""
    mode = status.st_mode
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISREG(mode):
        return "a hard link to another file"
    return "not a regular file"


def _lstat(path: Path) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None


def same_file(path: Path, before: os.stat_result) -> bool:
    status = _lstat(path)
    return status is not None and (status.st_dev, status.st_ino) == (before.st_dev, before.st_ino)


def _remove(path: Path) -> None:
    """Removes `path` (a directory with what it holds; a link, never what it points to); nothing when absent."""
    status = _lstat(path)
    if status is not None and stat.S_ISDIR(status.st_mode):
        shutil.rmtree(path)
    elif status is not None:
        os.unlink(path)


def _copy_in_place(path: Path) -> None:
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    shutil.copyfile(path, temporary, follow_symlinks=False)
    os.replace(temporary, path)


def read_log(path: Path) -> str:
    with open(os.open(path, os.O_RDONLY | os.O_NOFOLLOW), errors="replace") as log:
        return log.read()


def refuse(outcome: RunOutcome, refused: list[str]) -> None:
    """A run that left links or other things that are no files of its own among its results failed (they are
    not collected), and its error says what they were."""
    if not refused:
        return
    said = "; ".join(refused[:3]) + (f" (and {len(refused) - 3} more)" if refused[3:] else "")
    if outcome.status is RunStatus.PASSED:
        outcome.status, outcome.error = RunStatus.FAILED, said
    else:
        outcome.error = f"{outcome.error}; {said}" if outcome.error else said


