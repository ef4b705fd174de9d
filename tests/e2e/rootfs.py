"""Root filesystems for test images: Debian bookworm minbase (debootstrap, from apt's mirror) with some
packages, cached as tarballs under OPP_CI_TEST_CACHE (default ~/.cache/opp-ci-tests)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

CACHE = Path(os.environ.get("OPP_CI_TEST_CACHE", Path.home() / ".cache" / "opp-ci-tests"))


def debootstrap_tarball(name: str, packages: tuple[str, ...]) -> Path:
    """CACHE/NAME.tar: a minbase root with `packages`, made once."""
    tarball = CACHE / f"{name}.tar"
    if tarball.exists():
        return tarball
    CACHE.mkdir(parents=True, exist_ok=True)
    target = CACHE / f"{name}.tmp"
    shutil.rmtree(target, ignore_errors=True)
    subprocess.run(["debootstrap", "--variant=minbase", f"--include={','.join(packages)}", "bookworm", str(target),
                    debian_mirror()], check=True, capture_output=True, timeout=1800)
    partial = tarball.with_suffix(".partial")
    subprocess.run(["tar", "-C", str(target), "-cf", str(partial), "."], check=True)
    partial.rename(tarball)
    shutil.rmtree(target, ignore_errors=True)
    return tarball


def debian_mirror() -> str:
    """The mirror apt uses on this machine (deb822 or one-line sources), else deb.debian.org."""
    for source in [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]:
        text = source.read_text() if source.is_file() else ""
        for line in text.splitlines():
            words = line.split()
            if words[:1] == ["URIs:"] and "security" not in words[1]:
                return words[1]
            if words[:1] == ["deb"] and "security" not in line:
                return next(w for w in words[1:] if "://" in w)
    return "http://deb.debian.org/debian"
