"""The actions' inputs: every one is a flag of the command its action calls (or one the action keeps for
itself), no default or description restates opp-ci's differently, and the one generic mapping turns them
into flags with the splitting rules the bash mapping had. No processes."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from opp_ci import action_inputs, image, options, spec
from opp_ci.cli import RUN_FLAGS, cli
from opp_ci.cloud_cli import CLUSTER_FLAGS
from opp_ci.errors import UserError

ROOT = Path(__file__).resolve().parents[2]
ACTIONS = sorted((ROOT / "actions").glob("*/action.yml"))
#: The command each action hands its inputs to.
COMMANDS = {"run-campaign": "run", "image-settings": "image settings", "start-cluster": "cluster up",
            "stop-cluster": "cluster down", "publish-results": "publish", "build-image": "image digest",
            "build-model": "image model", "merge-shards": "merge",
            "accept": "accept reply"}
#: The settings behind each command's flags (for their declared defaults).
SETTINGS = {"run": RUN_FLAGS, "cluster up": (*CLUSTER_FLAGS, "ecs.region"), "cluster down": ("ecs.region",),
            "image settings": ("image.base", "image.build", "image.packages"),
            "image digest": ("image.base", "image.build", "image.packages"),
            "image model": ("image.base", "image.build", "image.packages")}
#: Defaults an action states that are not a flag's default, and the Python constant they must equal.
NAMED_DEFAULTS = {("build-image", "build-command"): image.MAKE_BUILD, ("build-image", "base-image"): image.DEFAULT_BASE,
                  ("image-settings", "base-image"): image.DEFAULT_BASE}


def action(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def command_of(name: str) -> click.Command:
    return action_inputs.leaf(cli, COMMANDS[name].split())[0]


def declared(command: str, flag: str) -> options.Option | None:
    """The setting behind `--flag` of the command, if it is one."""
    found = [options.BY_KEY[k] for k in SETTINGS.get(command, ()) if options.BY_KEY[k].flag == flag]
    return found[0] if found else None


@pytest.mark.parametrize("path", ACTIONS, ids=lambda p: p.parent.name)
def test_an_action_hands_opp_ci_its_inputs_through_the_one_mapping(path):
    name = path.parent.name
    steps = [s for s in action(path)["runs"]["steps"] if "$OPP_CI\"" in s.get("run", "")]
    calls = [s for s in steps if s["env"].get("OPP_CI_INPUTS") == "${{ toJSON(inputs) }}"]
    assert calls, f"{name}: no step gives opp-ci its inputs as OPP_CI_INPUTS"
    assert any(f'"$OPP_CI" {COMMANDS[name]}' in s["run"] for s in calls), f"{name} calls another command"
    for step in steps:  # by hand, only what the action keeps for itself (build-image's ECR repository)
        by_hand = {k.removeprefix("INPUT_").lower().replace("_", "-") for k in step["env"] if k.startswith("INPUT_")}
        assert by_hand <= action_inputs.ACTION_ONLY, f"{name}: inputs mapped by hand: {by_hand}"


@pytest.mark.parametrize("path", ACTIONS, ids=lambda p: p.parent.name)
def test_every_action_input_is_a_flag_of_its_command_or_the_actions_own(path):
    name = path.parent.name
    known = action_inputs.parameters(command_of(name))
    for input_name in action(path)["inputs"]:
        flag = action_inputs.ALIASES.get(input_name, input_name)
        assert input_name in action_inputs.ACTION_ONLY or flag in known, (
            f"{name}: input {input_name!r} is no flag of opp-ci {COMMANDS[name]} (nor in ACTION_ONLY)")


def _default_of(name: str, input_name: str) -> Any:
    """What opp-ci itself would use when the input is not given."""
    if (name, input_name) in NAMED_DEFAULTS:
        return NAMED_DEFAULTS[(name, input_name)]
    flag = "--" + action_inputs.ALIASES.get(input_name, input_name)
    setting = declared(COMMANDS[name], flag)
    if setting is not None:
        return setting.default
    param = action_inputs.parameters(command_of(name)).get(flag[2:])
    plain = param is not None and isinstance(param.default, str | int | float | list | tuple)
    return param.default if plain else None  # click's "no default" is a sentinel


@pytest.mark.parametrize("path", ACTIONS, ids=lambda p: p.parent.name)
def test_an_input_default_is_empty_or_opp_cis_own(path):
    name = path.parent.name
    for input_name, spec_ in action(path)["inputs"].items():
        if input_name in action_inputs.ACTION_ONLY or spec_.get("default") in (None, "", "false"):
            continue
        expected = _default_of(name, input_name)
        assert spec_["default"] == expected, (
            f"{name}: input {input_name!r} defaults to {spec_['default']!r}, opp-ci to {expected!r}; leave it ''")


@pytest.mark.parametrize("path", [*ACTIONS, ROOT / ".github" / "workflows" / "campaign.yml"],
                         ids=lambda p: p.parent.name)
def test_a_description_that_names_a_default_names_opp_cis(path):
    text = path.read_text()
    for base in re.findall(r"ghcr\.io/omnetpp/omnetpp:[\w.-]*\w", text):
        assert base == options.default("image.base"), f"{path.name}: {base} is not opp-ci's base image"
    if path.name != "action.yml":
        return
    name = path.parent.name
    for input_name, spec_ in action(path)["inputs"].items():
        default = _default_of(name, input_name) if input_name not in action_inputs.ACTION_ONLY else None
        description = spec_["description"]
        if default in (None, "", [], False) or "default" not in description:
            continue
        shown = ", ".join(default) if isinstance(default, list) else str(default)
        assert shown in description or "docs/options.md" in description or "resolves the default" in description, (
            f"{name}: input {input_name!r} names a default other than opp-ci's {shown!r}: {description}")


# --- the mapping ---


def arguments(command: str, **inputs: Any) -> list[str]:
    return action_inputs.to_arguments(action_inputs.leaf(cli, command.split())[0], inputs, command)


def test_configs_split_on_commas_spaces_and_newlines_files_on_whitespace_args_per_line():
    assert arguments("run", configs="A, B\nC  D") == ["--config=A", "--config=B", "--config=C", "--config=D"]
    assert arguments("run", ini="a.ini\tb.ini\nc.ini") == ["--ini=a.ini", "--ini=b.ini", "--ini=c.ini"]
    assert arguments("run", suite="x.csv y.csv", ingredients="tplx ~tNl") == [
        "--suite=x.csv", "--suite=y.csv", "--ingredients=tplx", "--ingredients=~tNl"]
    assert arguments("run", args="--**.x=1\n\n-r 0 ..2\n") == ["--arg=--**.x=1", "--arg=-r 0 ..2"]
    assert arguments("image settings", packages="zip  unzip") == ["--package=zip", "--package=unzip"]


def test_booleans_empty_inputs_and_arguments():
    assert arguments("run", spot="true", resume="false", **{"no-build": "true"}) == ["--spot", "--no-build"]
    assert arguments("run", spot=True) == ["--spot"]  # a JSON boolean, as a workflow may pass one
    assert arguments("run", runs="", timeout="10m", **{"project-dir": "sim"}) == ["--timeout=10m", "sim"]
    assert arguments("run", runs="$numHosts==10") == ["--runs=$numHosts==10"]  # no shell in between
    assert arguments("publish", **{"out-dir": "o", "check-name": "c", "github-token": "ghs_x", "python": "p"}) == [
        "o", "--check-name=c"]
    with pytest.raises(UserError, match="action input spot: 'yes' must be true or false"):
        arguments("run", spot="yes")


def test_an_unknown_input_is_one_line_with_a_hint():
    with pytest.raises(UserError) as caught:
        arguments("run", timout="1m")
    assert caught.value.message == "action input 'timout' is not an option of run (did you mean 'timeout'?)"
    assert caught.value.exit_code == 2


def test_expand_appends_the_inputs_and_takes_them_out_of_the_environment():
    environ = {action_inputs.ENV_VAR: json.dumps({"campaign": "c1", "region": "", "python": "python3"}), "X": "1"}
    assert action_inputs.expand(cli, ["--debug", "cluster", "down"], environ) == [
        "--debug", "cluster", "down", "--campaign=c1"]
    assert environ == {"X": "1"}  # the processes opp-ci starts never see the inputs
    assert action_inputs.expand(cli, ["run"], {}) == ["run"]
    for bad, message in (("{", "is not JSON"), ("[1]", "must be a JSON object")):
        with pytest.raises(UserError, match=message):
            action_inputs.expand(cli, ["run"], {action_inputs.ENV_VAR: bad})


def test_inputs_rank_like_flags_above_the_file_and_the_environment(tmp_path):
    (tmp_path / "opp-ci.toml").write_text('command = "./sim"\ntimeout = "5m"\nretries = 3\n[configs.A]\n')
    args = arguments("run", timeout="10m", workers="0", **{"project-dir": str(tmp_path)})
    given = cli.commands["run"].make_context("run", args).params
    flags = {key: given[key.replace("ecs.", "").replace("-", "_")] for key in RUN_FLAGS}
    resolved = spec.resolve(given["project_dir"], flags, environ={"OPP_CI_TIMEOUT": "7m", "OPP_CI_RETRIES": "2"})
    assert resolved.configs[0].timeout == 600 and resolved.settings.sources["timeout"] == "flag"
    assert resolved.configs[0].retries == 2 and resolved.settings.sources["retries"] == "environment"
    assert resolved.workers == 0  # --workers 0 given as a flag: no local workers (from the file it would not be)
