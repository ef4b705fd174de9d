"""Where a campaign ran: what campaign.json records as `environment`, so that two campaigns whose results
differ can be told apart by what they ran on (OMNeT++, compiler, image, opp-ci, Python, OS, the commit).

Every value is a short string read from the machine; a value that cannot be found is left out, never
guessed. Nothing secret is read: no environment variable beyond the image names the workflow sets.
"""

from __future__ import annotations

import os
import platform
import re
import shlex
import subprocess
from collections.abc import Mapping
from pathlib import Path

from opp_ci import __version__
from opp_ci.omnetpp_root import Omnetpp

#: Set by the reusable workflow (and by anyone who wants it recorded): the OMNeT++ image the model was built
#: in, and the simulation image's reference (with its digest when known).
BASE_IMAGE_VARIABLE = "OPP_CI_BASE_IMAGE"
IMAGE_VARIABLE = "OPP_CI_IMAGE_REFERENCE"
#: What `describe` may record, in campaign.json's order.
KEYS = ("opp_ci", "python", "os", "arch", "omnetpp", "compiler", "base_image", "image", "commit")
#: How long any one probe (git, the compiler) may take.
PROBE_TIMEOUT = 10
#: All of this process's environment git and the compiler are given (no secret reaches them).
PROBE_ENVIRONMENT = ("PATH", "HOME", "LANG", "LC_ALL")
#: The longest value kept (a reply from a worker is not trusted to be short).
LONGEST = 200


def describe(project_dir: Path, omnetpp: Omnetpp | None, omnetpp_version: str | None = None,
             environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """This machine's environment for campaign.json (`omnetpp_version`: `opp_run -v`'s, when already asked);
    only what was found."""
    environ = os.environ if environ is None else environ
    probes = {name: environ[name] for name in PROBE_ENVIRONMENT if name in environ}
    found = {
        "opp_ci": __version__,
        "python": platform.python_version(),
        "os": os_name(),
        "arch": platform.machine(),
        "omnetpp": omnetpp_version or (omnetpp.version() if omnetpp else None),
        "compiler": compiler(omnetpp.root, probes) if omnetpp else None,
        "base_image": environ.get(BASE_IMAGE_VARIABLE),
        "image": environ.get(IMAGE_VARIABLE),
        "commit": git_commit(project_dir, probes) or environ.get("GITHUB_SHA"),
    }
    return {key: value[:LONGEST] for key, value in found.items() if value}


def os_name(os_release: Path = Path("/etc/os-release")) -> str:
    """The distribution's PRETTY_NAME (e.g. "Ubuntu 24.04.1 LTS"), else the kernel's name and release."""
    try:
        fields = dict(_assignment(line) for line in os_release.read_text().splitlines() if "=" in line)
    except OSError:
        fields = {}
    return fields.get("PRETTY_NAME") or f"{platform.system()} {platform.release()}"


def _assignment(line: str) -> tuple[str, str]:
    name, _, value = line.partition("=")
    words = shlex.split(value) if value else [""]
    return name.strip(), words[0] if words else ""


def compiler(omnetpp_root: Path, environ: Mapping[str, str]) -> str | None:
    """The C++ compiler OMNeT++ was configured with (its Makefile.inc's CXX) and the first line of its
    `--version` (e.g. "clang++: Ubuntu clang version 18.1.3 (1ubuntu1)")."""
    try:
        makefile = (omnetpp_root / "Makefile.inc").read_text(errors="replace")
    except OSError:
        return None
    match = re.search(r"^CXX\s*=\s*(\S+)", makefile, re.MULTILINE)
    if not match:
        return None
    name = match.group(1)
    version = _first_line([name, "--version"], environ)
    return f"{name}: {version}" if version else name


def git_commit(project_dir: Path, environ: Mapping[str, str]) -> str | None:
    """The commit the project is at, with "+changes" when tracked files differ from it."""
    commit = _first_line(["git", "-C", str(project_dir), "rev-parse", "HEAD"], environ)
    if not commit or not re.fullmatch(r"[0-9a-f]{40,64}", commit):
        return None
    changed = _first_line(["git", "-C", str(project_dir), "status", "--porcelain", "--untracked-files=no"], environ)
    return f"{commit}+changes" if changed else commit


def _first_line(argv: list[str], environ: Mapping[str, str]) -> str | None:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=PROBE_TIMEOUT, stdin=subprocess.DEVNULL,
                              env=dict(environ))
    except (OSError, subprocess.SubprocessError):
        return None
    lines = done.stdout.strip().splitlines() if done.returncode == 0 else []
    return lines[0].strip() if lines else None
