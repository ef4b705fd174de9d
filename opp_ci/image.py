"""The model's build and its image: one build command, the same on every path.

`opp-ci.toml` may carry an `[image]` table::

    [image]
    base = "ghcr.io/omnetpp/omnetpp:u24.04-6.2.0"   # the OMNeT++ base image
    build = "make makefiles && make MODE=release -j$(nproc)"   # e.g. INET; run in the project dir
    packages = ["libpcap-dev"]                       # extra Debian packages for the image

The build command runs once per campaign: at image build time (worker/Dockerfile, for the ECS
workers and for the local backend in CI), and, when `build` is set, by `opp-ci run` on the local
backend before it asks the simulation for its runs. Without `build`, the image uses
`default_build_command`, and `opp-ci run` builds nothing (the model is yours to build).
"""

from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from opp_ci import __version__, options
from opp_ci.errors import UserError

DEFAULT_BASE = options.default("image.base")
#: An opp_makemake project with no Makefile of its own; release mode, as the OMNeT++ images ship only that.
MAKEMAKE_BUILD = "opp_makemake -f --deep -O out && make MODE=release -j$(nproc)"
#: A project with its own Makefile (e.g. INET after `make makefiles`, or the stand-in).
MAKE_BUILD = "make MODE=release -j$(nproc)"

IMAGE_DEFAULTS: dict[str, Any] = {o.name: options.default(o.key) for o in options.table_options("image")}
#: Debian's ccache compiler wrappers (gcc, g++, clang, clang++): first on PATH, the build uses ccache.
CCACHE_WRAPPERS = "/usr/lib/ccache"
#: Builders `opp-ci image build` looks for, in this order.
BUILDERS = ("docker", "podman", "buildah")
#: The directory in the build context that receives opp-ci's wheel (worker/Dockerfile's OPP_CI_DIST).
DIST_DIR = ".opp-ci-dist"


@dataclass(frozen=True)
class ImageSettings:
    """What the image is made of: the base image, the build command, extra Debian packages."""

    base: str
    build: str
    packages: tuple[str, ...] = ()


def file_settings(project_dir: Path) -> dict[str, Any]:
    """The `[image]` table of the project's opp-ci.toml, checked; {} when there is none."""
    table = options.read_file(Path(project_dir)).get("image", {})  # unknown keys and kinds checked there
    for key, value in table.items():
        if key not in IMAGE_DEFAULTS:
            raise UserError(f"{Path(project_dir) / options.SPEC_FILE}: [image] has no key {key!r} "
                            f"(known: {', '.join(IMAGE_DEFAULTS)})")
        if key == "packages" and not (isinstance(value, list) and all(isinstance(p, str) for p in value)):
            raise UserError(f"[image] packages must be a list of Debian package names, not {value!r}")
        if key != "packages" and not (isinstance(value, str) and value.strip()):
            raise UserError(f"[image] {key} must be a non-empty string, not {value!r}")
    return table


def default_build_command(project_dir: Path) -> str:
    """`make` when the project has a Makefile, else opp_makemake first; its executable gets the name of
    opp-ci.toml's `command = "./NAME"` (opp_makemake would name it after the directory)."""
    if (Path(project_dir) / "Makefile").is_file():
        return MAKE_BUILD
    command = options.read_file(Path(project_dir)).get("command")
    words = shlex.split(command) if isinstance(command, str) else command or []
    if len(words) == 1 and words[0].startswith("./") and "/" not in words[0][2:]:
        return MAKEMAKE_BUILD.replace("-O out", f"-O out -o {shlex.quote(words[0][2:])}")
    return MAKEMAKE_BUILD


def resolve(project_dir: Path, base: str | None = None, build: str | None = None,
            packages: tuple[str, ...] | list[str] = ()) -> ImageSettings:
    """Flags (or workflow inputs) over opp-ci.toml's [image] over the defaults."""
    table = file_settings(project_dir)
    chosen = list(packages) or table.get("packages", [])
    return ImageSettings(
        base=base or table.get("base") or DEFAULT_BASE,
        build=build or table.get("build") or default_build_command(project_dir),
        packages=tuple(p for item in chosen for p in item.replace(",", " ").split()),
    )


def local_build_command(project_dir: Path, flag: str | None, skip: bool) -> str | None:
    """What `opp-ci run` builds with before the runs: --build-command, else [image] build, else nothing."""
    if skip:
        return None
    return flag or file_settings(project_dir).get("build")


def build_model(project_dir: Path, command: str) -> None:
    """Runs the build command once in the project directory, with ccache when it is installed (as in
    the image). Its output is progress, so it goes to stdout; a failure is one line on stderr."""
    print(f"opp-ci: building the model in {project_dir}: {command}", flush=True)
    env = dict(os.environ)
    if Path(CCACHE_WRAPPERS).is_dir() and CCACHE_WRAPPERS not in env.get("PATH", "").split(os.pathsep):
        env["PATH"] = CCACHE_WRAPPERS + os.pathsep + env.get("PATH", "")
    sys.stdout.flush()
    done = subprocess.run(["sh", "-c", command], cwd=project_dir, env=env, stdout=sys.stdout, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        raise UserError(f"the model's build command failed (exit {done.returncode}) in {project_dir}: {command}")


# --- the image ---


def dockerfile() -> Path:
    """worker/Dockerfile, shipped inside the package (opp_ci/resources/Dockerfile)."""
    path = Path(str(resources.files("opp_ci") / "resources" / "Dockerfile"))
    if not path.is_file():
        raise UserError(f"opp-ci's Dockerfile is missing from its installation ({path})")
    return path


def find_builder(requested: str | None = None) -> list[str]:
    """The image builder's command line: REQUESTED (e.g. "buildah --storage-driver vfs"), else the
    first of docker, podman, buildah on PATH."""
    if requested:
        words = shlex.split(requested)
        if not words or not shutil.which(words[0]):
            raise UserError(f"image builder {requested!r} is not on PATH")
        return words
    for name in BUILDERS:
        if shutil.which(name):
            return [name]
    raise UserError("no image builder found: install docker, podman or buildah (or pass --builder)")


def build_arguments(settings: ImageSettings, project_dir: str) -> dict[str, str]:
    """worker/Dockerfile's build arguments for these settings."""
    return {"BASE_IMAGE": settings.base, "PROJECT_DIR": project_dir, "BUILD_COMMAND": settings.build,
            "PACKAGES": " ".join(settings.packages), "OPP_CI_DIST": DIST_DIR}


def build_command_line(builder: list[str], context: Path, tag: str, arguments: dict[str, str],
                       options: tuple[str, ...] = ()) -> list[str]:
    """`<builder> build -f Dockerfile --build-arg ... -t TAG CONTEXT`: docker, podman and buildah agree."""
    argv = [*builder, "build", "-f", str(dockerfile()), *options]
    for name, value in arguments.items():
        argv += ["--build-arg", f"{name}={value}"]
    return [*argv, "-t", tag, str(context)]


def write_wheel(context: Path, source: Path | str | None = None, dependencies: bool = False) -> Path:
    """opp-ci's wheel in CONTEXT/.opp-ci-dist, reproducibly (a fixed SOURCE_DATE_EPOCH), so that the
    image layer that installs it is reused while opp-ci does not change; with `dependencies`, its
    dependencies' wheels too, so that the build needs no package index."""
    dist = Path(context) / DIST_DIR
    if dist.exists() and not (dist / ".opp-ci").is_file():
        raise UserError(f"{dist} exists and was not made by opp-ci; move it away")
    shutil.rmtree(dist, ignore_errors=True)
    dist.mkdir()
    (dist / ".opp-ci").write_text("made by opp-ci image build; safe to delete\n")
    env = {**os.environ, "SOURCE_DATE_EPOCH": "315532800"}
    requirement = with_extra(str(source or installed_source()), "aws" if dependencies else None)
    argv = [sys.executable, "-m", "pip", "wheel", "-q", *([] if dependencies else ["--no-deps"]), "-w", str(dist)]
    done = subprocess.run([*argv, requirement], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise UserError(f"could not make opp-ci's wheel: {done.stderr.strip()[-500:]}")
    return dist


def with_extra(requirement: str, extra: str | None) -> str:
    """REQUIREMENT (a path, or `name==version`) with an extra: `path[aws]`, `name[aws]==version`."""
    if not extra:
        return requirement
    name, separator, version = requirement.partition("==")
    return f"{name}[{extra}]{separator}{version}"


def installed_source() -> str:
    """This opp-ci's source tree (a checkout, the action's directory), else this version from the index."""
    root = Path(__file__).resolve().parent.parent
    return str(root) if (root / "pyproject.toml").is_file() else f"opp-ci=={__version__}"


def build_image(context: Path, project_dir: str, settings: ImageSettings, tag: str, builder: list[str],
                options: tuple[str, ...] = (), dependencies: bool = False) -> None:
    """Builds the simulation image from CONTEXT (the model's repository) with worker/Dockerfile."""
    context = Path(context).resolve()
    if not (context / project_dir).is_dir():
        raise UserError(f"project directory {project_dir!r} is not in the build context {context}")
    dist = write_wheel(context, dependencies=dependencies)
    try:
        argv = build_command_line(builder, context, tag, build_arguments(settings, project_dir), options)
        print("opp-ci: " + shlex.join(argv), file=sys.stderr, flush=True)
        done = subprocess.run(argv, stdout=sys.stderr, stderr=sys.stderr)
    finally:
        shutil.rmtree(dist, ignore_errors=True)
    if done.returncode != 0:
        raise UserError(f"the image build failed (exit {done.returncode})")


# --- the content digest: whether ECR already holds this image ---

#: Hex digits of the content digest in the image's tag (`content-` and these).
DIGEST_LENGTH = 20


def context_content(context: Path) -> str:
    """The build context's content: its git tree at HEAD, else every file's sha256 (sha256sum's lines)."""
    tree = subprocess.run(["git", "-C", str(context), "rev-parse", "HEAD:./"], capture_output=True, text=True)
    if tree.returncode == 0:
        return tree.stdout.strip()
    names = sorted((os.path.join(".", os.path.relpath(os.path.join(top, name), context))
                    for top, _dirs, found in os.walk(context) for name in found
                    if not os.path.islink(os.path.join(top, name))), key=os.fsencode)
    files = [name for name in names if not name.startswith("./.git/")]
    return "\n".join(f"{hashlib.sha256((Path(context) / name).read_bytes()).hexdigest()}  {name}" for name in files)


def content_digest(context: Path, project_dir: str, settings: ImageSettings) -> str:
    """A digest of everything the image is made of: the context, worker/Dockerfile, the settings and
    opp-ci's version. It is the same text the build-image action hashed in bash before, so tags in
    ECR stay valid."""
    dockerfile_hash = hashlib.sha256(dockerfile().read_bytes()).hexdigest()
    lines = [context_content(context), f"{dockerfile_hash}  -", settings.base, project_dir, settings.build,
             " ".join(settings.packages), f"opp-ci, version {__version__}"]
    return hashlib.sha256(("\n".join(lines) + "\n").encode()).hexdigest()[:DIGEST_LENGTH]
