"""A test base image built like OMNeT++'s official one (omnetpp/dockerfiles' omnetpp/Dockerfile as of its
6.1.0 and 6.2.0 images, d823a52), from the real OMNeT++ of the real tier: OMNeT++ in /root/omnetpp (/root and
/root/models 775), on PATH only through the entrypoint (`/entrypoint.sh`, `set -e`, sources /root/.profile
and OMNeT++'s setenv) or an interactive bash (.bashrc sources setenv -f), `HOME=/root/`, root,
`WORKDIR /root/models`, no `ENV PATH`; a compiler, make, ccache and
python3 with venv, as `install.sh --no-gui` leaves them. `samples doc test out misc` are left out, as
there. OMNeT++'s tools carry a RUNPATH to the lib/ of the tree they were built in: that path is a
symbolic link to /root/omnetpp in the image (the official image builds them in place).
"""

from __future__ import annotations

import hashlib
import io
import subprocess
import tarfile
from pathlib import Path

from rootfs import debootstrap_tarball

#: What the image has beside Debian's minbase (the official one: clang, ccache, python3-venv, make).
PACKAGES = ("python3", "python3-venv", "make", "g++", "ccache", "ca-certificates")
#: What OMNeT++'s Dockerfile removes after its build (and src/, which no model build reads).
LEFT_OUT = ("samples", "doc", "test", "out", "misc", "src")
ENTRYPOINT = """\
#!/bin/bash
set -e
# As OMNeT++'s images do: the login environment and OMNeT++'s, then the command.
if [ -e /root/.profile ]; then
 source /root/.profile;
fi
if [ -e /root/omnetpp/setenv ]; then
 source /root/omnetpp/setenv;
fi
exec "$@"
"""


def omnetpp_layer(omnetpp_root: Path, target: Path) -> Path:
    """A tarball to add at /: root/omnetpp (the tree, less LEFT_OUT), /entrypoint.sh, root/models, a .bashrc
    that sets OMNeT++ up for interactive shells, and the link that keeps the tools' RUNPATH valid."""
    layer = target / "omnetpp-layer.tar"

    def keep(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
        parts = Path(info.name).parts
        return None if len(parts) > 2 and parts[2] in LEFT_OUT else info

    def entry(name: str, kind: bytes, mode: int, text: str = "", link: str = "") -> tuple[tarfile.TarInfo, bytes]:
        info = tarfile.TarInfo(name)
        info.type, info.mode, info.linkname = kind, mode, link
        data = text.encode()
        info.size = len(data)
        return info, data

    with tarfile.open(layer, "w") as tar:
        for info, data in (entry("root", tarfile.DIRTYPE, 0o775), entry("root/models", tarfile.DIRTYPE, 0o775),
                           entry("entrypoint.sh", tarfile.REGTYPE, 0o755, ENTRYPOINT),
                           entry("root/.bashrc", tarfile.REGTYPE, 0o644,
                                 '[ -z "$PS1" ] && return\n'
                                 '[ -f "$HOME/omnetpp/setenv" ] && source "$HOME/omnetpp/setenv" -f\n')):
            tar.addfile(info, io.BytesIO(data) if data else None)
        tar.add(omnetpp_root, arcname="root/omnetpp", filter=keep)
        link = str(omnetpp_root).lstrip("/")
        for parent in reversed(Path(link).parents[:-1]):
            if str(parent) != "root":  # /root keeps its mode
                tar.addfile(entry(str(parent), tarfile.DIRTYPE, 0o755)[0])
        tar.addfile(entry(link, tarfile.SYMTYPE, 0o777, link="/root/omnetpp")[0])
    return layer


def image_name(omnetpp_root: Path) -> str:
    """The image's name, unique to the OMNeT++ tree it holds (its path and Makefile.inc)."""
    key = hashlib.sha256(str(omnetpp_root).encode() + (omnetpp_root / "Makefile.inc").read_bytes()
                         + ENTRYPOINT.encode() + repr(PACKAGES).encode()).hexdigest()
    return f"localhost/opp-ci-test-omnetpp:{key[:12]}"


def build(buildah: list[str], omnetpp_root: Path, work: Path) -> str:
    """The image (built once per OMNeT++ tree, then reused from buildah's storage)."""
    name = image_name(omnetpp_root)
    if subprocess.run([*buildah, "inspect", "--type", "image", name], capture_output=True).returncode == 0:
        return name
    rootfs = debootstrap_tarball("bookworm-omnetpp-base", PACKAGES)
    layer = omnetpp_layer(omnetpp_root, work)
    container = subprocess.run([*buildah, "from", "scratch"], check=True, capture_output=True,
                               text=True).stdout.strip()
    try:
        for step in (["add", container, str(rootfs), "/"], ["add", container, str(layer), "/"],
                     ["config", "--env", "HOME=/root/", "--workingdir", "/root/models",
                      "--entrypoint", '["/entrypoint.sh"]', "--cmd", '["/bin/bash"]', container],
                     ["commit", "-q", container, name]):
            subprocess.run([*buildah, *step], check=True, capture_output=True, timeout=900)
    finally:
        subprocess.run([*buildah, "rm", container], capture_output=True)
        layer.unlink(missing_ok=True)
    return name
