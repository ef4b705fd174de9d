"""What both stores (a directory, S3) share, in a module of its own so that neither imports the other: the
errors of a file a reply names that cannot be collected, and the listing of a run's regular files."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path


class NotCollected(ValueError):
    """A file a reply names that the store does not hold as a regular file: missing, a symbolic link, or not
    a file. Not an OSError, so it is not retried: waiting makes no missing file appear in a directory."""


class Missing(NotCollected):
    """A file or directory a reply names that is not in the store."""


def relative_files(directory: Path) -> list[str]:
    return sorted(name for name, _entry in walk_files(directory))


def walk_files(directory: Path, prefix: str = "") -> Iterator[tuple[str, os.DirEntry]]:
    """(name relative to `directory`, entry) of every regular file below it. A symbolic link is never followed
    and is no file of a run's, whether it points to a file or to a directory (without pathlib's cost: a few
    tenths of a millisecond per run's directory, twice per run)."""
    with os.scandir(directory) as entries:
        for entry in entries:
            name = prefix + entry.name
            if entry.is_dir(follow_symlinks=False):
                yield from walk_files(Path(entry.path), name + "/")
            elif entry.is_file(follow_symlinks=False):
                yield name, entry
