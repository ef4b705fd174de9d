"""Where OMNeT++ is, and the environment its `setenv` makes, for every process that builds or runs a model.

OMNeT++'s official images (`ghcr.io/omnetpp/omnetpp:u24.04-VERSION`) keep OMNeT++ in `/root/omnetpp` and put
it on PATH only through their entrypoint or an interactive bash: a GitHub job container, a Dockerfile `RUN`
line and an ECS task run none of those. opp-ci looks for it itself, in this order: on PATH (`opp_run`),
in `OMNETPP_ROOT`, where the official images keep it; and applies what its `setenv` exports (PATH,
PYTHONPATH, its Python venv, ...) to its own environment, which the build, the listing and every run inherit.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from collections.abc import Iterable, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from shutil import which

from opp_ci.errors import UserError

#: Where OMNeT++'s official images keep it (omnetpp/dockerfiles, omnetpp/Dockerfile).
IMAGE_ROOTS = (Path("/root/omnetpp"),)
#: What bash itself changes while it sources setenv: not part of OMNeT++'s environment.
SHELL_VARIABLES = frozenset({"_", "SHLVL", "PWD", "OLDPWD"})
#: The variables of ours that setenv reads or extends; nothing else of this process reaches it (no secret).
SETENV_INPUTS = ("PATH", "HOME", "PYTHONPATH", "OMNETPP_IMAGE_PATH", "LD_LIBRARY_PATH", "LANG", "LC_ALL",
                 "VIRTUAL_ENV", "__omnetpp_root_dir")
#: A program, build command or Makefile that names one of these needs OMNeT++ (opp_run, opp_makemake,
#: opp_msgc, a Makefile asking opp_configfilepath, ...).
OMNETPP_TOOL = re.compile(r"(?<![\w.-])opp_\w+")


@dataclass(frozen=True)
class Omnetpp:
    """An OMNeT++ installation: its root, how it was found, and what its setenv sets."""

    root: Path
    found_in: str
    environment: dict[str, str] = field(default_factory=dict)

    def version(self) -> str | None:
        """OMNeT++'s version as `opp_run -v` prints it (e.g. "6.1"), None when it does not answer."""
        program = self.root / "bin" / "opp_run"
        try:
            done = subprocess.run([str(program), "-v"], capture_output=True, text=True, timeout=30,
                                  env={**os.environ, **self.environment})
        except (OSError, subprocess.SubprocessError):
            return None
        match = re.search(r"Version:\s*(\S+)", done.stdout) or re.search(r"OMNeT\+\+\S*\s+(\d[\w.]*)", done.stdout)
        return match.group(1).rstrip(",") if match else None

    def describe(self) -> dict[str, str | None]:
        """What campaign.json records: the version and where it is."""
        return {"version": self.version(), "root": str(self.root), "found_in": self.found_in}


def is_root(path: Path) -> bool:
    """An OMNeT++ tree: its setenv and a build (Makefile.inc, written by configure) or its tools. A place this
    user may not look into (/root is 700 for a non-root worker in most images) holds none for it."""
    try:
        return (path / "setenv").is_file() and ((path / "Makefile.inc").is_file()
                                                or (path / "bin" / "opp_run").is_file())
    except OSError:
        return False


def candidates(environ: MutableMapping[str, str]) -> list[tuple[str, Path | None]]:
    """The places looked at, in order, each with the root it names (None: nothing there)."""
    on_path = which("opp_run", path=environ.get("PATH", ""))
    places: list[tuple[str, Path | None]] = [
        ("PATH (opp_run)", Path(os.path.realpath(on_path)).parent.parent if on_path else None)]
    if environ.get("OMNETPP_ROOT"):
        places.append((f"OMNETPP_ROOT={environ['OMNETPP_ROOT']}", Path(environ["OMNETPP_ROOT"])))
    places += [(str(root), root) for root in IMAGE_ROOTS]
    return places


def locate(environ: MutableMapping[str, str] | None = None) -> Omnetpp | None:
    """The first OMNeT++ of `candidates`, with its setenv's environment; None when there is none."""
    environ = os.environ if environ is None else environ
    for place, root in candidates(environ):
        if root is not None and is_root(root):
            return Omnetpp(root.resolve(), place, setenv_environment(root.resolve(), environ))
        if root is not None and place.startswith("PATH"):  # on PATH without a setenv beside it: in use as it is
            return Omnetpp(root.resolve(), place)
    return None


def setenv_environment(root: Path, environ: MutableMapping[str, str]) -> dict[str, str]:
    """What `. ROOT/setenv -q` sets or changes, asked from bash itself (setenv is a bash script that
    may activate OMNeT++'s Python venv and source a setenv_local). {} when it is already applied."""
    if environ.get("__omnetpp_root_dir") == str(root):
        return {}
    given = {k: environ[k] for k in SETENV_INPUTS if k in environ}
    script = 'cd "$1" && . ./setenv -q >/dev/null 2>&1 || exit 3; env -0'
    try:
        done = subprocess.run(["bash", "--noprofile", "--norc", "-c", script, "setenv", str(root)],
                              capture_output=True, env=given, timeout=30)
    except (OSError, subprocess.SubprocessError) as error:
        raise UserError(f"OMNeT++ in {root}: cannot source its setenv with bash ({error}); install bash") from None
    if done.returncode != 0:
        raise UserError(f"OMNeT++ in {root}: its setenv failed (`. {root}/setenv` in bash); is it a configured "
                        f"OMNeT++ tree (configure.user, Version, include/omnetpp.h)?")
    after = dict(entry.split("=", 1) for entry in done.stdout.decode(errors="replace").split("\0") if "=" in entry)
    return {k: v for k, v in after.items() if k not in SHELL_VARIABLES and given.get(k) != v}


def needs_omnetpp(commands: Iterable[str | list[str] | None], project_dir: Path | None = None) -> bool:
    """Whether these commands (a simulation command, a build command) or the project's Makefile name an
    OMNeT++ tool; a stand-in or a built executable alone needs none (it carries a RUNPATH to its libraries)."""
    texts = [c if isinstance(c, str) else shlex.join(c) for c in commands if c]
    makefile = Path(project_dir) / "Makefile" if project_dir else None
    if makefile and makefile.is_file() and any("make" in t for t in texts):
        texts.append(makefile.read_text(errors="replace"))
    return any(OMNETPP_TOOL.search(text) for text in texts)


def activate(needed: bool, environ: MutableMapping[str, str] | None = None) -> Omnetpp | None:
    """Finds OMNeT++ and applies its environment to `environ` (this process's, which every child
    inherits). When it is `needed` and there is none: a UserError naming the places looked at."""
    environ = os.environ if environ is None else environ
    found = locate(environ)
    if found is None:
        if needed:
            looked = ", ".join(place for place, _ in candidates(environ))
            raise UserError(f"OMNeT++ not found (looked in: {looked}): source its setenv, set OMNETPP_ROOT to "
                            f"its directory, or use an OMNeT++ image")
        return None
    environ.update(found.environment)
    return found


def export_lines(found: Omnetpp) -> str:
    """The environment as `export NAME=VALUE` lines for a POSIX shell (worker/Dockerfile's build step)."""
    return "".join(f"export {name}={shlex.quote(value)}\n" for name, value in sorted(found.environment.items()))
