"""Where result files go: a directory for the local backend, S3 in the cloud.

Workers upload each run's files under a prefix (the job id); the orchestrator downloads them into
the output directory. Result files never travel through Redis.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol, TypeVar
from urllib.parse import urlparse

from opp_ci.errors import UserError

#: Under a run's prefix in the store, and in the output directory: the run's result files.
RESULTS_DIR = "results"
#: A run's stdout and stderr, under its prefix in the store.
LOG_NAME = "log.txt"


T = TypeVar("T")
#: Waits between attempts at a store operation that failed (the store may be down for a while).
STORE_BACKOFF = (0.5, 1.0, 2.0, 4.0, 8.0, 15.0)


def with_retries(operation: Callable[[], T], backoff: tuple[float, ...] = STORE_BACKOFF) -> T:
    """`operation()`, tried again after each wait in `backoff` while it raises OSError (a store that is
    unreachable or full for a while)."""
    for wait in backoff:
        try:
            return operation()
        except OSError:
            time.sleep(wait)
    return operation()


class Store(Protocol):
    url: str

    def upload_dir(self, local_dir: Path, prefix: str) -> list[str]:
        """Puts every file under `local_dir` at `prefix/` (moved or hard-linked where it can: `local_dir`
        may be gone afterwards); returns their names relative to it."""
        ...

    def download(self, prefix: str, names: list[str], dest: Path) -> None:
        """Puts `prefix/NAME` for each name at `dest/NAME` (a hard link where it can)."""
        ...


class DirectoryStore:
    """A store in a local (or shared, e.g. NFS) directory."""

    def __init__(self, root: Path, move_out: bool = False) -> None:
        self.root = Path(root).resolve()
        self.url = self.root.as_uri()
        self.move_out = move_out  # download moves files (the store is removed afterwards anyway)

    def upload_dir(self, local_dir: Path, prefix: str) -> list[str]:
        target = self.root / safe_prefix(prefix)
        names = relative_files(local_dir)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:  # a run's scratch directory is on the store's file system: one rename moves all of it
            os.rename(local_dir, target)
            return names
        except OSError:  # another file system, or an earlier attempt's files are there: file by file
            pass
        for name in names:
            destination = target / name
            destination.parent.mkdir(parents=True, exist_ok=True)
            link_or_copy(local_dir / name, destination)  # a 1 GB result file is not copied twice
        return names

    def download(self, prefix: str, names: list[str], dest: Path) -> None:
        source = self.root / safe_prefix(prefix)
        for name in names:
            destination = dest / safe_prefix(name)  # a name from a record: never outside dest
            destination.parent.mkdir(parents=True, exist_ok=True)
            if not (self.move_out and moved(source / name, destination)):
                link_or_copy(source / name, destination)
        if self.move_out:
            self._prune(source)

    def _prune(self, directory: Path) -> None:
        """Removes `directory` and its parents up to the root while they are empty (a run's directories once
        its files were moved out: a store of thousands of empty directories is slow to remove at the end)."""
        while directory != self.root and directory.is_relative_to(self.root):
            try:
                directory.rmdir()
            except OSError:  # not empty (the run's log is still there), or gone
                return
            directory = directory.parent


def open_store(url: str, move_out: bool = False) -> Store:
    """A store from its URL: `s3://bucket/prefix`, `file:///path`, or a plain directory path. `move_out`:
    a directory store's downloads move the files out of it (a store removed once the campaign ends)."""
    parsed = urlparse(url)
    if parsed.scheme == "s3":
        from opp_ci.s3store import S3Store

        return S3Store(url)
    if parsed.scheme == "file":
        return DirectoryStore(Path(parsed.path), move_out)
    if parsed.scheme in ("", None) or len(parsed.scheme) == 1:  # a path (or a Windows drive letter)
        return DirectoryStore(Path(url), move_out)
    raise UserError(f"store {url!r}: unknown scheme {parsed.scheme!r}; use a directory or s3://bucket/prefix")


def relative_files(directory: Path) -> list[str]:
    return sorted(name for name, _entry in walk_files(directory))


def walk_files(directory: Path, prefix: str = "") -> Iterator[tuple[str, os.DirEntry]]:
    """(name relative to `directory`, entry) of every file below it, a symlink to a file included, a
    symlink to a directory not followed: what `Path.rglob` and `is_file` give, without pathlib's cost
    (a few tenths of a millisecond per run's directory, twice per run)."""
    with os.scandir(directory) as entries:
        for entry in entries:
            name = prefix + entry.name
            if entry.is_dir(follow_symlinks=False):
                yield from walk_files(Path(entry.path), name + "/")
            elif entry.is_file():
                yield name, entry


def safe_prefix(prefix: str) -> str:
    """Refuses absolute paths and `..`, so a job payload cannot make a worker write elsewhere."""
    parts = Path(prefix).parts
    if Path(prefix).is_absolute() or ".." in parts or not parts:
        raise ValueError(f"unsafe store path {prefix!r}")
    return prefix


def moved(source: Path, destination: Path) -> bool:
    """Whether `source` is now at `destination`: renamed, or by an earlier attempt (False: on another
    file system)."""
    try:
        os.replace(source, destination)
    except FileNotFoundError:
        return destination.exists() and not source.exists()
    except OSError:
        return False
    return True


def link_or_copy(source: Path, destination: Path) -> None:
    """A hard link where possible (vector files are large), else a copy."""
    if destination.exists():
        destination.unlink()
    try:
        os.link(source, destination)
    except OSError:
        shutil.copyfile(source, destination)
