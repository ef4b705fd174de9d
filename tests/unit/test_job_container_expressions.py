"""The GitHub expression evaluator of tests/e2e/job_container.py (the harness that runs a workflow's
container job with podman): operators, functions and contexts as GitHub evaluates them, and every
expression in the reusable workflow's run job and the composite actions. No processes."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

from job_container import (  # noqa: E402
    DEFAULT_STUBS,
    STATUS,
    ExpressionError,
    StubContext,
    _read_pairs,
    evaluate,
    evaluate_if,
    evaluate_value,
    load_workflow,
    substitute,
)

CAMPAIGN = ROOT / ".github" / "workflows" / "campaign.yml"
RUN_IF = ("!cancelled() && needs.plan.result == 'success' && "
          "(needs.plan.outputs.cloud != 'true' || needs.start.result == 'success')")
#: The plan job's output `container`, from its own steps' outputs.
CONTAINER = "steps.plan.outputs.in-image == 'true' && steps.image.outputs.base-image || ''"


def plan_outputs(backend: str, run_in_image: Any = True) -> dict[str, str]:
    """What the plan job outputs for this backend (what its first step writes)."""
    cloud = backend == "ecs"
    in_image = str(not cloud and run_in_image is True).lower()
    return {"backend": backend, "cloud": str(cloud).lower(), "fork": "false", "in-image": in_image,
            "container": "ghcr.io/x/y:1" if in_image == "true" else "", "run-workers": "",
            "run-build-command": "" if cloud else "make", "base-image": "ghcr.io/x/y:1", "build-command": "make",
            "sharded": "false", "shards": "1", "shard-list": "[1]"}


def context(backend: str = "local", run_in_image: Any = True, status: str = "success", **more: Any) -> dict[str, Any]:
    return {
        "github": {"event_name": "push", "run_id": "42", "run_attempt": "1", "job": "run", "repository": "o/r",
                   "event": {"pull_request": {"head": {"repo": {"full_name": "fork/r"}}}}},
        "inputs": {"run-in-image": run_in_image, "project-dir": "sim", "workers": "", "python-version": "3.12"},
        "needs": {"plan": {"result": "success", "outputs": plan_outputs(backend, run_in_image)},
                  "start": {"result": "skipped", "outputs": {}}},
        "steps": {"x": {"outputs": {"z": "1"}, "outcome": "success", "conclusion": "success"},
                  "plan": {"outputs": {"in-image": plan_outputs(backend, run_in_image)["in-image"]}},
                  "image": {"outputs": {"base-image": "ghcr.io/x/y:1"}}},
        "env": {"IN_IMAGE": "true"}, "matrix": {"shard": 1}, "secrets": {}, "vars": {}, "runner": {"os": "Linux"},
        "job": {}, STATUS: status, **more}


def test_the_run_jobs_container_is_the_base_image_only_when_local_and_in_image():
    assert CONTAINER in CAMPAIGN.read_text()
    assert evaluate(CONTAINER, context()) == "ghcr.io/x/y:1"
    assert evaluate(CONTAINER, context(backend="ecs")) == ""
    assert evaluate(CONTAINER, context(run_in_image=False)) == ""
    assert evaluate_value("${{ " + CONTAINER + " }}", context()) == "ghcr.io/x/y:1"


def test_and_or_return_their_operands():
    assert evaluate("inputs.project-dir && 'a' || 'b'", context()) == "a"
    assert evaluate("inputs.workers && 'a' || 'b'", context()) == "b"
    assert evaluate("inputs.workers || 0", context()) == 0
    assert evaluate("needs.plan.outputs.backend == 'local' && inputs.run-in-image", context()) is True
    assert evaluate_value("${{ needs.plan.outputs.backend == 'ecs' }}", context()) is False
    assert evaluate_value("${{ needs.plan.outputs.cloud != 'true' }}", context()) is True
    assert evaluate_value("${{ 1 == 1 }}", context()) is True


def test_substitution_inside_a_longer_string():
    text = "opp-ci-ccache-local-${{ inputs.project-dir }}-${{ github.run_id }}-${{ github.run_attempt }}"
    assert substitute(text, context()) == "opp-ci-ccache-local-sim-42-1"
    assert substitute("a ${{ true }} ${{ null }}| ${{ 3 }} ${{ 1.5 }} ${{ '}}' }}", context()) == "a true | 3 1.5 }}"
    assert substitute("no expression", context()) == "no expression"
    assert evaluate_value("gh-${{ github.run_id }}", context()) == "gh-42"
    assert evaluate_value(True, context()) is True


def test_missing_properties_are_null_and_empty():
    assert evaluate("steps.x.outputs.y", context()) is None
    assert substitute("${{ steps.x.outputs.y }}", context()) == ""
    assert substitute("${{ steps.nope.outputs.y }}", context()) == ""
    assert evaluate("steps.x.outputs.z", context()) == "1"
    assert evaluate("steps['x'].outputs['z']", context()) == "1"
    assert evaluate("needs.plan.outputs['base-image']", context()) == "ghcr.io/x/y:1"
    assert evaluate("github.event.pull_request.head.repo.full_name", context()) == "fork/r"
    assert evaluate("GitHub.Run_ID", context()) == "42"  # contexts and properties are case-insensitive


def test_comparisons_as_github():
    assert evaluate("'ABC' == 'abc'", context())
    assert evaluate("'a' != 'b'", context())
    assert evaluate("'1' == 1", context())  # different types compare as numbers
    assert evaluate("null == 0 && true == 1 && '' == 0", context())
    assert not evaluate("'x' == 0", context())
    assert evaluate("1 < 2 && 2 > 1 && 'a' < 'B' && 2 <= 2 && 3 >= 2", context())
    assert evaluate("!(1 == 2)", context()) and evaluate("!''", context()) and not evaluate("!'x'", context())


def test_functions():
    assert evaluate("startsWith(github.event_name, 'pull_request')", context()) is False
    pr = context(github={"event_name": "pull_request_target"})
    assert evaluate("startsWith(github.event_name, 'PULL_request')", pr) is True
    assert evaluate("endsWith('abc', 'BC')", context()) is True
    assert evaluate("contains('Hello', 'ell')", context()) and evaluate("contains(fromJSON('[1, \"a\"]'), 'A')", {})
    assert evaluate("format('opp-ci-{0}-{1}-{2}', github.run_id, github.run_attempt, github.job)", context()) == (
        "opp-ci-42-1-run")
    assert evaluate("format('{{0}} {0}', 'x')", {}) == "{0} x"
    assert evaluate("fromJSON('{\"a\": [1, 2]}').a[1]", {}) == 2
    assert evaluate("toJSON(fromJSON('[1]'))", {}) == "[\n  1\n]"
    assert evaluate("join(fromJSON('[\"a\",\"b\"]'), '-')", {}) == "a-b"
    assert len(evaluate("hashFiles('**/*.cc')", {})) == 64
    assert evaluate("needs.*.result", context()) == ["success", "skipped"]
    assert evaluate("contains(needs.*.result, 'skipped')", context())


def test_status_functions_and_if():
    assert RUN_IF in CAMPAIGN.read_text()
    assert evaluate(RUN_IF, context())
    assert not evaluate(RUN_IF, context(backend="ecs"))  # start skipped
    assert not evaluate(RUN_IF, context(status="cancelled"))
    failed_plan = context()
    failed_plan["needs"]["plan"]["result"] = "failure"
    assert not evaluate(RUN_IF, failed_plan)
    assert evaluate_if("${{ " + RUN_IF + " }}", context(status="failure"))
    assert evaluate_if(None, context()) and not evaluate_if(None, context(status="failure"))
    assert not evaluate_if("env.IN_IMAGE != 'true'", context())
    assert evaluate_if("env.IN_IMAGE == 'true'", context())
    assert not evaluate_if("env.IN_IMAGE == 'true'", context(status="failure"))  # success() && (…)
    assert evaluate_if("always()", context(status="failure")) and evaluate_if("failure()", context(status="failure"))
    assert evaluate_if("${{ !cancelled() }}", context(status="failure"))
    assert evaluate_if(True, context()) and not evaluate_if(False, context())


@pytest.mark.parametrize("bad", ["a.b", "inputs.", "inputs ==", "(1", "nope()", "'open", "1 +", "inputs.x)"])
def test_bad_expressions_are_errors(bad):
    with pytest.raises(ExpressionError):
        evaluate(bad, context())
    with pytest.raises(ExpressionError):
        substitute("${{ x", context())


def test_output_files_are_read_as_github_reads_them(tmp_path):
    path = tmp_path / "out"
    path.write_text("a=1\nb=x=y\nc<<EOF\nline 1\nline 2\nEOF\nd=\n\nsum<<END\nEND\n")
    assert _read_pairs(path) == {"a": "1", "b": "x=y", "c": "line 1\nline 2", "d": "", "sum": ""}
    assert _read_pairs(tmp_path / "missing") == {}


def test_the_artifact_stubs_copy_on_the_host(tmp_path):
    workspace = tmp_path / "ws"
    (workspace / "out" / "logs").mkdir(parents=True)
    (workspace / "out" / "logs" / "a.log").write_text("a")
    stub = StubContext("ref", workspace, tmp_path / "artifacts", tmp_path / "home", "/__w/r/r", {}, {}, print)
    outputs = DEFAULT_STUBS["actions/upload-artifact@v4"]({"name": "n", "path": "/__w/r/r/out"}, stub)
    assert (tmp_path / "artifacts" / "n" / "logs" / "a.log").read_text() == "a" and outputs["artifact-url"]
    DEFAULT_STUBS["actions/download-artifact@v4"]({"pattern": "n*", "merge-multiple": "true", "path": "back"}, stub)
    assert (workspace / "back" / "logs" / "a.log").is_file()
    temp = StubContext("ref", workspace, tmp_path / "artifacts", tmp_path / "home", "/__w/r/r", {}, {}, print,
                       tmp_path / "temp")
    assert temp.host_path("/__w/_temp/opp-ci-model") == tmp_path / "temp" / "opp-ci-model"  # $RUNNER_TEMP
    assert temp.host_path("/__w/r/r/out") == workspace / "out"
    with pytest.raises(FileExistsError):
        DEFAULT_STUBS["actions/upload-artifact@v4"]({"name": "n", "path": "out"}, stub)


def expressions(value: Any, where: str):
    """Every `${{ }}` string and `if:` in a loaded workflow or action, with where it is."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "if":
                yield f"{where}.if", item, True
            else:
                yield from expressions(item, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from expressions(item, f"{where}[{index}]")
    elif isinstance(value, str) and "${{" in value:
        yield where, value, False


SOURCES = [CAMPAIGN, *sorted((ROOT / "actions").glob("*/action.yml"))]


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.parent.name if p.name == "action.yml" else p.name)
def test_every_expression_of_the_workflow_and_actions_evaluates(path):
    data = load_workflow(path) if path == CAMPAIGN else yaml.safe_load(path.read_text())
    found = list(expressions(data, path.name))
    assert found
    for backend in ("local", "ecs"):
        for where, value, is_if in found:
            try:
                evaluate_if(value, context(backend)) if is_if else evaluate_value(value, context(backend))
            except ExpressionError as error:
                pytest.fail(f"{where}: {value!r}: {error}")

