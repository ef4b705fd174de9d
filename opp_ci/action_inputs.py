"""The inputs of opp-ci's GitHub actions, turned into command-line arguments in one place.

Each action hands opp-ci all its inputs at once (`OPP_CI_INPUTS: ${{ toJSON(inputs) }}` on the step
that calls it) instead of mapping each input to a flag in bash. An input's name is the long flag of
the command it calls without `--` (or the flag's plural, `ALIASES`); its value becomes that flag, so
an input ranks like a flag, above opp-ci.toml and the environment. '' means "not given". The rules
the bash mapping had are kept: booleans are 'true' or 'false', repeatable flags are split on
whitespace, `configs` also on commas, `args` one per line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, MutableMapping

import click

from opp_ci.errors import UserError
from opp_ci.options import _hint

#: The environment variable holding the calling action's inputs as a JSON object.
ENV_VAR = "OPP_CI_INPUTS"

#: Inputs the actions use themselves; they never become flags.
ACTION_ONLY = frozenset({
    "python",  # every action: the interpreter actions/install.sh installs opp-ci with
    "github-token",  # publish-results: the step's GITHUB_TOKEN
    "upload", "artifact-name", "retention-days",  # publish-results: actions/upload-artifact
    "publish",  # publish-results: whether the publishing step runs at all
    "repository",  # build-image: the ECR repository, for `opp-ci ecr ensure` and the build's cache scope
    "step",  # accept: which of `opp-ci accept check` and `opp-ci accept reply` it calls
})

#: Inputs named for what they hold (a list), where the repeatable flag is singular.
ALIASES = {"configs": "config", "args": "arg", "packages": "package"}


def _words(value: str) -> list[str]:
    return value.split()


def _configs(value: str) -> list[str]:
    return [item for item in re.split(r"[,\s]+", value) if item]


def _lines(value: str) -> list[str]:
    """One item per line, kept as written (an OMNeT++ option may contain spaces); blank lines skipped."""
    return [line for line in value.split("\n") if line]


#: How a repeatable flag's input is split into items (default: on whitespace).
SPLITS: dict[str, Callable[[str], list[str]]] = {"configs": _configs, "args": _lines}


def parameters(command: click.Command) -> dict[str, click.Parameter]:
    """The command's parameters by input name: long flags without `--`, arguments in kebab-case."""
    found: dict[str, click.Parameter] = {}
    for param in command.params:
        if isinstance(param, click.Argument):
            found[(param.name or "").replace("_", "-")] = param
            continue
        for opt in param.opts:
            if opt.startswith("--"):
                found[opt[2:]] = param
    return found


def _flag_value(name: str, value: str) -> bool:
    if value not in ("true", "false"):
        raise UserError(f"action input {name}: {value!r} must be true or false")
    return value == "true"


def to_arguments(command: click.Command, inputs: Mapping[str, object], where: str) -> list[str]:
    """The arguments that give `command` these inputs; an input it has no flag for is an error."""
    known = parameters(command)
    arguments: list[str] = []
    for name, raw in inputs.items():
        value = str(raw).lower() if isinstance(raw, bool) else "" if raw is None else str(raw)
        if name in ACTION_ONLY or value == "":
            continue
        param = known.get(ALIASES.get(name, name))
        if param is None:
            raise UserError(f"action input {name!r} is not an option of {where}{_hint(name, known)}")
        flag = "--" + ALIASES.get(name, name)
        if isinstance(param, click.Argument):
            arguments.append(value)
        elif getattr(param, "is_flag", False):
            arguments += [flag] if _flag_value(name, value) else []
        elif param.multiple:
            arguments += [f"{flag}={item}" for item in SPLITS.get(name, _words)(value)]
        else:
            arguments.append(f"{flag}={value}")
    return arguments


def leaf(group: click.Group, args: list[str]) -> tuple[click.Command, str]:
    """The subcommand the arguments name (`cluster up` → its command) and its name for messages."""
    command: click.Command = group
    names = ["opp-ci"]
    for word in args:
        if not isinstance(command, click.Group):
            break
        if word in command.commands:
            command = command.commands[word]
            names.append(word)
    return command, " ".join(names)


def expand(group: click.Group, args: list[str], environ: MutableMapping[str, str]) -> list[str]:
    """ARGS with the calling action's inputs appended as flags. The variable is taken out of the
    environment, so the processes opp-ci starts (workers, the build) never see the inputs."""
    text = environ.pop(ENV_VAR, None)
    if not text:
        return args
    try:
        inputs = json.loads(text)
    except json.JSONDecodeError as error:
        raise UserError(f"{ENV_VAR} is not JSON ({error.msg}); set it to ${{{{ toJSON(inputs) }}}}") from None
    if not isinstance(inputs, dict):
        raise UserError(f"{ENV_VAR} must be a JSON object of input names and values")
    command, where = leaf(group, args)
    return [*args, *to_arguments(command, inputs, where)]
