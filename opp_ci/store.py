"""Where result files go: a directory for the local backend, S3 in the cloud.

Workers upload each run's files under a prefix (the job id); the orchestrator downloads them into
the output directory. Result files never travel through Redis.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import shutil
import stat
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol, TypeVar
from urllib.parse import urlparse

from opp_ci.errors import UserError
from opp_ci.store_files import Missing, NotCollected, relative_files

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
        """Puts each regular file `prefix/NAME` at `dest/NAME`; nothing is reached through a symbolic link, and a
        file with other links is copied (`dest` never shares a file with anything outside the store).
        NotCollected says which names were not there as regular files; the others are in place."""
        problems = []
        try:
            root = _opened(str(self.root), os.O_RDONLY | os.O_DIRECTORY, None, str(self.root))
            with _directory_below(root, "", safe_prefix(prefix)) as source:
                for name in names:
                    try:
                        self._fetch(source, prefix, safe_prefix(name), dest / name)
                    except NotCollected as problem:
                        problems.append(str(problem))
        except Missing:  # no file at all; or an earlier attempt moved all of them out
            if not (self.move_out and all(_is_regular(dest / name) for name in names)):
                problems = [f"{_shown(f'{prefix}/{name}')} is not in the store" for name in names]
        if self.move_out:
            self._prune(self.root / prefix)
        if problems:
            raise NotCollected("; ".join(problems[:3]) + (f" (and {len(problems) - 3} more)" if problems[3:] else ""))

    def _fetch(self, source: int, prefix: str, name: str, destination: Path) -> None:
        parent, _, leaf = name.rpartition("/")
        with _directory_below(os.dup(source), prefix, parent) as directory:
            try:
                file = _opened(leaf, os.O_RDONLY | os.O_NONBLOCK, directory, _shown(f"{prefix}/{name}"))
            except Missing:
                if self.move_out and _is_regular(destination):  # moved out by an earlier attempt
                    return
                raise
            try:
                _place(directory, leaf, file, destination, self.move_out, _shown(f"{prefix}/{name}"))
            finally:
                os.close(file)

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


def safe_prefix(prefix: str) -> str:
    """Refuses absolute paths and `..`, so a job payload cannot make a worker write elsewhere."""
    parts = Path(prefix).parts
    if Path(prefix).is_absolute() or ".." in parts or not parts:
        raise ValueError(f"unsafe store path {prefix!r}")
    return prefix


def _shown(path: str) -> str:
    """How a run's file in the store is named in a message: `results/x.sca`, without the job's prefix."""
    parts = path.strip("/").split("/")
    return "/".join(parts[1:]) or parts[0]


def _opened(name: str, flags: int, directory: int | None, shown: str) -> int:
    """`name` below `directory` opened without following a symbolic link; NotCollected when it is missing, a
    link, or (`flags` asking for a directory) not a directory."""
    try:
        return os.open(name, flags | os.O_NOFOLLOW | os.O_NOCTTY, dir_fd=directory)
    except OSError as error:
        if error.errno == errno.ENOENT:
            raise Missing(f"{shown} is not in the store") from None
        if error.errno in (errno.ELOOP, errno.ENOTDIR):
            what = "a symbolic link" if _is_link(name, directory) else "not a directory"
            raise NotCollected(f"{shown} is {what}: not collected") from None
        raise


def _is_link(name: str, directory: int | None) -> bool:
    with contextlib.suppress(OSError):
        return stat.S_ISLNK(os.lstat(name, dir_fd=directory).st_mode)
    return False


def _is_regular(path: Path) -> bool:
    with contextlib.suppress(OSError):
        return stat.S_ISREG(os.lstat(path).st_mode)
    return False


@contextlib.contextmanager
def _directory_below(start: int, base: str, relative: str) -> Iterator[int]:
    """The directory `relative` below `start`, the open directory `base` (which it takes over), each step
    opened without following a symbolic link: a directory replaced by a link leads nowhere."""
    current, path = start, base
    try:
        for part in [p for p in relative.split("/") if p]:
            path = f"{path}/{part}"
            step = _opened(part, os.O_RDONLY | os.O_DIRECTORY, current, _shown(path))
            os.close(current)
            current = step
        yield current
    finally:
        os.close(current)


def _place(directory: int, leaf: str, file: int, destination: Path, move: bool, shown: str) -> None:
    """Puts the open file `file`, named `leaf` in `directory`, at `destination`: moved (`move`) or hard-linked
    when it has no other link, else copied; whatever is at `destination` is replaced, never written through."""
    status = os.fstat(file)
    if not stat.S_ISREG(status.st_mode):
        raise NotCollected(f"{shown} is not a regular file: not collected")
    destination.parent.mkdir(parents=True, exist_ok=True)
    if status.st_nlink == 1 and _linked(directory, leaf, destination, move, status):
        return
    _copy(file, destination)


def _linked(directory: int, leaf: str, destination: Path, move: bool, status: os.stat_result) -> bool:
    """Whether `leaf` is now at `destination` and is still the file that was checked (False: on another file
    system, or it changed in between and what arrived was removed again)."""
    try:
        if move:
            os.rename(leaf, destination, src_dir_fd=directory)
        else:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(destination)
            os.link(leaf, destination, src_dir_fd=directory, follow_symlinks=False)
        arrived = os.lstat(destination)
    except OSError:
        return False
    if (arrived.st_dev, arrived.st_ino) == (status.st_dev, status.st_ino):
        return True
    os.unlink(destination)
    return False


def _copy(file: int, destination: Path) -> None:
    """A copy of the open file at `destination`, through a temporary file (atomic, and never through a link)."""
    temporary = destination.with_name(f".{destination.name}.{secrets.token_hex(4)}")
    try:
        with os.fdopen(os.dup(file), "rb") as source, open(temporary, "xb") as target:
            source.seek(0)
            shutil.copyfileobj(source, target, 1 << 20)
        os.replace(temporary, destination)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def link_or_copy(source: Path, destination: Path) -> None:
    """A hard link where possible (vector files are large), else a copy; a link is never followed."""
    with contextlib.suppress(FileNotFoundError):
        destination.unlink()
    try:
        os.link(source, destination, follow_symlinks=False)
    except OSError:
        shutil.copyfile(source, destination, follow_symlinks=False)
