"""The actions and workflows: valid against GitHub's schemas, and shaped as the design says.

The schemas are the ones `check-jsonschema --builtin-schema vendor.github-workflows` /
`vendor.github-actions` use (vendored in check-jsonschema), applied in-process: unit tests start no
processes.
"""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from opp_ci.cli import cli

ROOT = Path(__file__).resolve().parents[2]
ACTIONS = sorted((ROOT / "actions").glob("*/action.yml"))
WORKFLOWS = sorted([*(ROOT / ".github" / "workflows").glob("*.yml"), *(ROOT / "examples" / "workflows").glob("*.yml")])
CAMPAIGN = ROOT / ".github" / "workflows" / "campaign.yml"
FORK = "github.event.pull_request.head.repo.full_name"


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    if True in data:  # YAML 1.1 reads the key `on` as True
        data["on"] = data.pop(True)
    return data


def schema(name: str) -> dict[str, Any]:
    vendored = resources.files("check_jsonschema.builtin_schemas.vendor") / f"{name}.json"
    return json.loads(vendored.read_text())


def steps(workflow: dict[str, Any]):
    for job_id, job in workflow["jobs"].items():
        for step in job.get("steps", []):
            yield job_id, job, step


def test_there_are_nine_actions_and_four_example_triggers():
    assert {p.parent.name for p in ACTIONS} == {
        "image-settings", "build-image", "start-cluster", "run-campaign", "publish-results", "stop-cluster",
        "build-model", "merge-shards", "accept"}
    triggers = set()
    for path in (ROOT / "examples" / "workflows").glob("*.yml"):
        triggers |= set(load(path)["on"])
    assert {"push", "pull_request", "workflow_dispatch", "issue_comment"} <= triggers


@pytest.mark.parametrize("path", ACTIONS, ids=lambda p: p.parent.name)
def test_action_is_valid(path):
    jsonschema.validate(yaml.safe_load(path.read_text()), schema("github-actions"))


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_is_valid(path):
    jsonschema.validate(load(path), schema("github-workflows"))


@pytest.mark.parametrize("path", ACTIONS, ids=lambda p: p.parent.name)
def test_action_is_a_thin_documented_composite(path):
    action = load(path)
    assert action["runs"]["using"] == "composite"
    for name, spec in {**action.get("inputs", {}), **action.get("outputs", {})}.items():
        assert spec.get("description"), f"{path.parent.name}: {name} has no description"
    scripts = [s for s in action["runs"]["steps"] if "run" in s]
    assert any("install.sh" in s["run"] for s in scripts), "opp-ci is installed from the action's own checkout"
    for step in scripts:
        # Inputs reach scripts only through env:, never pasted into the shell text.
        assert "${{" not in step["run"], f"{path.parent.name}: expression inside run: {step['run'][:60]}"


def flags_in(script: str) -> set[str]:
    return set(re.findall(r"(?<![\w-])(--[a-z][a-z-]+)", script))


@pytest.mark.parametrize(("action", "command"), [("run-campaign", "run"), ("publish-results", "publish")])
def test_action_flags_exist_on_the_cli(action, command):
    scripts = "\n".join(s.get("run", "") for s in load(ROOT / "actions" / action / "action.yml")["runs"]["steps"])
    known = {opt for p in cli.commands[command].params for opt in getattr(p, "opts", [])}
    used = flags_in(scripts) - {"--disable-pip-version-check"}
    assert used and used <= known, f"unknown flags for opp-ci {command}: {used - known}"


def test_run_campaign_outputs_are_those_the_cli_writes():
    outputs = load(ROOT / "actions" / "run-campaign" / "action.yml")["outputs"]
    assert set(outputs) == {"out-dir", "passed", "failed", "total", "campaign-id"}


def test_artifact_name_is_unique_per_run_attempt_and_job():
    text = (ROOT / "actions" / "publish-results" / "action.yml").read_text()
    assert "github.run_id" in text and "github.run_attempt" in text and "github.job" in text
    assert "actions/upload-artifact@v4" in text


def test_build_image_uses_the_standard_actions_and_a_gha_cache():
    text = (ROOT / "actions" / "build-image" / "action.yml").read_text()
    for uses in ("aws-actions/amazon-ecr-login@", "docker/build-push-action@", "docker/setup-buildx-action@"):
        assert uses in text
    assert "type=gha" in text and "ecr ensure" in text


def test_campaign_workflow_inputs_and_stages():
    workflow = load(CAMPAIGN)
    inputs = workflow["on"]["workflow_call"]["inputs"]
    assert {"configs", "runs", "workers", "backend", "timeout", "project-dir", "python-version"} <= set(inputs)
    assert {"build", "start", "run", "publish", "stop"} <= set(workflow["jobs"])


def test_stop_always_runs_after_start_and_run():
    stop = load(CAMPAIGN)["jobs"]["stop"]
    assert "always()" in stop["if"]
    assert {"start", "run"} <= set(stop["needs"])
    # The campaign id comes from plan, so a start that failed half-way is torn down too.
    assert "needs.plan.outputs.campaign" in json.dumps(stop["steps"])


def test_permissions_are_minimal():
    workflow = load(CAMPAIGN)
    assert workflow["permissions"] == {}
    for job_id, job in workflow["jobs"].items():
        permissions = job.get("permissions")
        assert permissions is not None, f"job {job_id} has no explicit permissions"
        assert set(permissions.values()) <= {"read", "write"}
        uses = json.dumps(job.get("steps", []))
        if "configure-aws-credentials" not in uses:
            assert "id-token" not in permissions, f"{job_id} asks for id-token without using AWS"
        if "publish-results" not in uses or job_id != "publish":
            assert "checks" not in permissions and "pull-requests" not in permissions, job_id
    assert workflow["jobs"]["publish"]["permissions"] == {
        "contents": "read", "checks": "write", "pull-requests": "write"}


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_aws_only_through_oidc_roles(path):
    text = path.read_text()
    assert "AWS_SECRET_ACCESS_KEY" not in text and "aws-access-key-id" not in text
    for _, _, step in steps(load(path)):
        if "configure-aws-credentials" in step.get("uses", ""):
            assert "role-to-assume" in step["with"]


def test_aws_steps_run_only_on_the_ecs_backend():
    cloud = ("aws-actions/", *(f"opp-ci/opp-ci/actions/{a}" for a in ("build-image", "start-cluster", "stop-cluster")))
    for job_id, job, step in steps(load(CAMPAIGN)):
        if step.get("uses", "").startswith(cloud):
            condition = f"{job.get('if', '')} {step.get('if', '')}"
            assert "needs.plan.outputs.cloud == 'true'" in condition, (
                f"{job_id}: {step['uses']} may run on the local backend")


def test_a_fork_pull_request_is_switched_to_the_local_backend():
    plan = load(CAMPAIGN)["jobs"]["plan"]
    step = plan["steps"][0]
    assert FORK in step["env"]["FORK"] and "github.repository" in step["env"]["FORK"]
    assert "BACKEND=local" in step["run"]
    assert plan["permissions"] == {"contents": "read", "actions": "read"}  # reads opp-ci.toml, finds the baseline


def test_pull_request_example_gives_forks_no_credentials():
    example = load(ROOT / "examples" / "workflows" / "pull-request.yml")
    call = example["jobs"]["campaign"]
    assert call["uses"].startswith("opp-ci/opp-ci/.github/workflows/campaign.yml@")
    assert f"{FORK} == github.repository && 'ecs' || 'local'" in call["with"]["backend"]
    assert f"{FORK} == github.repository &&" in call["with"]["role-to-assume"]
    assert "secrets" not in call


def test_dispatch_example_has_the_campaign_inputs():
    example = load(ROOT / "examples" / "workflows" / "dispatch.yml")
    assert {"configs", "runs", "workers", "backend", "shards"} <= set(example["on"]["workflow_dispatch"]["inputs"])
    assert example["jobs"]["campaign"]["uses"].startswith("opp-ci/opp-ci/.github/workflows/campaign.yml@")


def test_project_ci_lints_and_runs_the_readme_test_command():
    text = (ROOT / ".github" / "workflows" / "ci.yml").read_text()
    assert "ruff check" in text and "./.ci/run" in text


#: Inputs named like an opp-ci setting but meaning something else (the project directory is an argument,
#: build-image's repository is the ECR repository's name, not the tag value).
NOT_SETTINGS = {"project-dir", "repository"}
#: The reusable workflow decides before installing anything whether to provision AWS, so it states the
#: backend's default itself; it must be opp-ci's.
SAME_AS_OPP_CI = {"backend"}


def _inputs(path: Path) -> dict:
    document = load(path)
    if "runs" in document:
        return document.get("inputs") or {}
    triggers = document.get("on", document.get(True))
    return triggers["workflow_call"].get("inputs") or {}


@pytest.mark.parametrize("path", [*sorted((ROOT / "actions").glob("*/action.yml")),
                                  ROOT / ".github" / "workflows" / "campaign.yml"], ids=lambda p: p.parent.name)
def test_no_input_restates_an_opp_ci_default(path):
    """Defaults live in opp_ci/options.py: an input for a setting is empty unless the user gives it
    (a boolean's false is "flag not given")."""
    from opp_ci import options

    settings = {o.name: o for o in options.OPTIONS} | {"out-dir": options.option("out")}
    for name, spec in _inputs(path).items():
        if name in SAME_AS_OPP_CI:
            assert spec.get("default") in ("", settings[name].default), f"{name}: not opp-ci's default"
        elif name in settings and name not in NOT_SETTINGS:
            assert spec.get("default") in (None, "", False, "false"), (
                f"{path.relative_to(ROOT)} input {name!r} restates a default ({spec.get('default')!r}); "
                f"leave it empty: opp-ci's default is {settings[name].default!r}")


def test_the_run_jobs_debian_packages_are_the_images():
    """worker/Dockerfile's first layer and the run job's step install the same packages the same way (the
    step runs before opp-ci can be installed, as it may be what adds python3-venv, so it cannot call opp-ci)."""
    dockerfile = (ROOT / "worker" / "Dockerfile").read_text()
    step = next(s for s in load(CAMPAIGN)["jobs"]["run"]["steps"] if s.get("name") == "Debian packages for the build")
    for rule in ('command -v ccache >/dev/null || need="$need ccache"',
                 "python3 -c 'import ensurepip' 2>/dev/null || need=\"$need python3-venv\"",
                 "need=$(echo $need)",
                 "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "
                 "--no-install-recommends $need"):
        assert rule in dockerfile and rule in step["run"], rule
