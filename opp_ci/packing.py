"""The built model as one archive, for machines that run it without building it again (the shard jobs of
the reusable workflow: the model is built once, in the OMNeT++ image, and each shard unpacks it).

Everything under the context is packed, links and modes as they are, except what a run never needs:
version control, object and dependency files (INET's are most of its build tree), and the archive itself.
"""

from __future__ import annotations

import fnmatch
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path

from opp_ci.errors import UserError

#: Directory names never packed.
SKIPPED_DIRS = frozenset({".git", ".hg", ".svn", "__pycache__"})
#: File name patterns never packed: compiler output a run does not read.
SKIPPED_FILES = ("*.o", "*.obj", "*.d", "*.gcda", "*.gcno")


@dataclass(frozen=True)
class Packed:
    archive: Path
    files: int
    size: int  # bytes of the files packed, before compression

    def describe(self) -> str:
        return f"packed {self.files} files ({self.size / 1e6:.1f} MB) into {self.archive}"


def check_archive(archive: Path) -> None:
    """A bad archive name or place fails before the build, not after it; its directory is made."""
    if not archive.name.endswith((".tar", ".tar.gz", ".tgz")):
        raise UserError(f"--archive {archive}: name it .tar, .tar.gz or .tgz")
    try:
        archive.resolve().parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UserError(f"--archive {archive}: cannot make its directory ({error.strerror}); give another "
                        f"place") from None


def pack(context: Path, archive: Path) -> Packed:
    """Packs `context` into `archive` (.tar, or gzip-compressed with .tar.gz / .tgz), paths relative to it."""
    check_archive(archive)
    context, archive = context.resolve(), archive.resolve()
    mode = "w" if archive.name.endswith(".tar") else "w:gz"
    files = size = 0
    options = {"compresslevel": 1} if mode == "w:gz" else {}
    with tarfile.open(archive, mode, **options) as tar:  # type: ignore[call-overload]
        for path in _packed_paths(context, archive):
            info = tar.gettarinfo(str(path), arcname=str(path.relative_to(context)))
            if info is None:  # a socket: nothing a run reads
                continue
            if info.isfile():
                with path.open("rb") as content:
                    tar.addfile(info, content)
                files, size = files + 1, size + info.size
            else:
                tar.addfile(info)
    return Packed(archive, files, size)


def _packed_paths(context: Path, archive: Path):
    """Every directory, file and link below `context`, parents first, none followed."""
    for directory, dirs, names in os.walk(context):
        here = Path(directory)
        links = [d for d in dirs if (here / d).is_symlink()]  # packed as links, not entered
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS and d not in links)
        if here != context:
            yield here
        for name in sorted(names + links):
            path = here / name
            if path != archive and not any(fnmatch.fnmatch(name, pattern) for pattern in SKIPPED_FILES):
                yield path
