"""Every default is stated once, in Python (`opp_ci.options`, `opp_ci.image`, `opp_ci.naming`); where YAML or the
Dockerfile must carry a copy (a `docker build` without arguments, an action's input), it is checked here."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from opp_ci import image, options
from opp_ci.naming import WORKER_STORE
from opp_ci.worker import WorkerOptions

ROOT = Path(__file__).resolve().parents[2]
#: Where defaults are copied for users: the actions, the reusable workflow, the Dockerfile, the package's texts.
COPIES = [*ROOT.glob("actions/*/action.yml"), *ROOT.glob(".github/workflows/*.yml"), ROOT / "worker" / "Dockerfile",
          *ROOT.glob("opp_ci/**/*.py")]
#: An OMNeT++ image reference with a version (`u24.04-VERSION` in a text is a pattern, not a default).
OMNETPP_IMAGE = re.compile(r"ghcr\.io/omnetpp/omnetpp:u[0-9.]+-[0-9]+(?:\.[0-9]+)*")


def dockerfile_arg(name: str) -> str:
    [value] = re.findall(rf"^ARG {name}=(.*)$", (ROOT / "worker" / "Dockerfile").read_text(), re.MULTILINE)
    return value.strip('"')


def action_input(action: str, name: str) -> str:
    return yaml.safe_load((ROOT / "actions" / action / "action.yml").read_text())["inputs"][name]["default"]


def test_the_base_image_is_the_options_default_wherever_it_is_named():
    base = options.default("image.base")
    assert dockerfile_arg("BASE_IMAGE") == base
    assert action_input("build-image", "base-image") == base
    named = {(path.relative_to(ROOT).as_posix(), found) for path in COPIES for found in OMNETPP_IMAGE.findall(
        path.read_text()) if found != base}
    assert named == set(), "another OMNeT++ image named as the default"


def test_the_build_command_with_a_makefile_is_images_own():
    assert dockerfile_arg("BUILD_COMMAND") == image.MAKE_BUILD
    assert action_input("build-image", "build-command") == image.MAKE_BUILD


def test_the_workers_store_is_named_once():
    assert WorkerOptions.store == WORKER_STORE
    texts = {path.relative_to(ROOT).as_posix() for path in ROOT.glob("opp_ci/**/*.py")
             if f'"{WORKER_STORE}"' in path.read_text()}
    assert texts == {"opp_ci/naming.py"}


def test_the_workflows_campaign_id_is_one_cloud_names_accept():
    """The reusable workflow names its campaign itself (`gh-RUN-ATTEMPT`); `cluster up` checks ids by one rule."""
    from opp_ci.cloud.tags import check_campaign_id

    workflow = (ROOT / ".github" / "workflows" / "campaign.yml").read_text()
    [template] = re.findall(r"CAMPAIGN: (gh-.+)$", workflow, re.MULTILINE)
    longest = template.replace("${{ github.run_id }}", "9" * 11).replace("${{ github.run_attempt }}", "99")
    assert check_campaign_id(longest) == longest
