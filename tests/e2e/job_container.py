"""Runs one job of a GitHub Actions workflow the way GitHub runs a job with `container:`, with podman.

The image is started with `--entrypoint tail … -f /dev/null`; every `run:` step (also inside composite
actions) is `podman exec`ed as `bash --noprofile --norc -eo pipefail FILE` with GitHub's default variables
and fresh $GITHUB_OUTPUT/$GITHUB_ENV/$GITHUB_PATH/$GITHUB_STEP_SUMMARY files, which are read back as GitHub
does. Remote actions are Python stubs run on the host (`DEFAULT_STUBS`); composite actions come from local
copies (`actions`). A small evaluator of GitHub expressions (`evaluate`, `substitute`, `evaluate_if`) decides
`if:`, `env:`, `with:` and outputs.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import math
import posixpath
import re
import shlex
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

PODMAN = ["podman", "--storage-driver", "vfs", "--cgroup-manager", "cgroupfs", "--runtime", "runc"]
STATUS = "\0status"  # the key of the job's (or composite action's) status in a context: no expression reaches it
CONTEXTS = ("github", "inputs", "needs", "steps", "env", "matrix", "secrets", "runner", "job", "jobs", "vars",
            "strategy")


class ExpressionError(ValueError):
    """An expression that does not parse or evaluate."""


class HarnessError(RuntimeError):
    """The workflow asks for something this harness cannot do (no container, an unknown action)."""


# --- expressions ---

_TOKEN = re.compile(r"""\s*(?:(?P<num>-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)|(?P<str>'(?:[^']|'')*')
    |(?P<op>==|!=|<=|>=|&&|\|\||[<>!()\[\].,*])|(?P<id>[A-Za-z_][A-Za-z0-9_-]*))""", re.X)
_LITERALS = {"true": True, "false": False, "null": None}


class _Filtered(list):
    """The result of `.*`: a following property applies to every element."""


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens, pos = [], 0
    while text[pos:].strip():
        match = _TOKEN.match(text, pos)
        if not match:
            raise ExpressionError(f"unexpected {text[pos:].strip()[:20]!r} in {text!r}")
        tokens.append((match.lastgroup, match.group(match.lastgroup)))
        pos = match.end()
    return tokens


class _Parser:
    """Recursive descent to tuples: ('lit', v), ('ctx', name), ('prop', obj, key), ('star', obj),
    ('call', name, args), ('not', x), ('and'|'or', a, b), ('cmp', op, a, b)."""

    def __init__(self, text: str):
        self.text, self.tokens, self.i = text, _tokens(text), 0

    def peek(self) -> str | None:
        return self.tokens[self.i][1] if self.i < len(self.tokens) and self.tokens[self.i][0] == "op" else None

    def take(self, op: str | None = None) -> tuple[str, str]:
        if self.i >= len(self.tokens) or (op and self.peek() != op):
            raise ExpressionError(f"expected {op or 'more'} in {self.text!r}")
        self.i += 1
        return self.tokens[self.i - 1]

    def parse(self) -> tuple:
        node = self.binary(0)
        if self.i < len(self.tokens):
            raise ExpressionError(f"unexpected {self.tokens[self.i][1]!r} in {self.text!r}")
        return node

    _LEVELS = (("||",), ("&&",), ("==", "!="), ("<", "<=", ">", ">="))

    def binary(self, level: int) -> tuple:
        if level == len(self._LEVELS):
            return self.unary()
        node = self.binary(level + 1)
        while (op := self.peek()) in self._LEVELS[level]:
            self.take()
            right = self.binary(level + 1)
            node = ("or" if op == "||" else "and" if op == "&&" else "cmp", *(() if level < 2 else (op,)), node, right)
        return node

    def unary(self) -> tuple:
        if self.peek() == "!":
            self.take()
            return ("not", self.unary())
        node = self.primary()
        while self.peek() in (".", "["):
            if self.take()[1] == ".":
                kind, value = self.take()
                if kind != "id" and value != "*":
                    raise ExpressionError(f"bad property {value!r} in {self.text!r}")
                node = ("star", node) if value == "*" else ("prop", node, ("lit", value))
            elif self.peek() == "*":
                self.take(), self.take("]")
                node = ("star", node)
            else:
                node = ("prop", node, self.binary(0))
                self.take("]")
        return node

    def primary(self) -> tuple:
        kind, value = self.take()
        if kind == "num":
            return ("lit", float(value))
        if kind == "str":
            return ("lit", value[1:-1].replace("''", "'"))
        if value == "(":
            node = self.binary(0)
            self.take(")")
            return node
        if kind != "id":
            raise ExpressionError(f"unexpected {value!r} in {self.text!r}")
        if value.lower() in _LITERALS:
            return ("lit", _LITERALS[value.lower()])
        if self.peek() == "(":
            self.take()
            args = []
            while self.peek() != ")":
                args.append(self.binary(0))
                if self.peek() != ")":
                    self.take(",")
            self.take(")")
            return ("call", value.lower(), args)
        if value.lower() not in CONTEXTS:
            raise ExpressionError(f"unknown context {value!r} in {self.text!r}")
        return ("ctx", value.lower())


def _num(value: Any) -> float:
    if value is None or isinstance(value, bool | int | float):
        return float(value or 0)
    if isinstance(value, str):
        text = value.strip()
        try:
            return float(text or 0)
        except ValueError:
            return math.nan
    return math.nan


def to_str(value: Any) -> str:
    """A value as GitHub turns it into a string (`${{ }}` in text, env, with)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return json.dumps(value, indent=2) if isinstance(value, dict | list) else str(value)


def truthy(value: Any) -> bool:
    """null, false, 0, NaN and '' are falsy; everything else (objects too) truthy."""
    if isinstance(value, bool | int | float):
        return bool(value) and not (isinstance(value, float) and math.isnan(value))
    return value is not None and value != ""


def _kind(value: Any) -> str:
    return ("null" if value is None else "bool" if isinstance(value, bool) else "num" if isinstance(value, int | float)
            else "str" if isinstance(value, str) else "obj")


def _compare(op: str, a: Any, b: Any) -> bool:
    if _kind(a) != _kind(b):
        a, b = _num(a), _num(b)
    elif isinstance(a, str):
        a, b = a.casefold(), b.casefold()
    elif isinstance(a, dict | list):
        return (a is b) == (op == "==") if op in ("==", "!=") else False
    if op in ("==", "!="):
        return (a == b) == (op == "==")
    if isinstance(a, float) and (math.isnan(a) or math.isnan(b)):
        return False
    return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]


def _property(obj: Any, key: Any) -> Any:
    if isinstance(obj, _Filtered):
        return _Filtered(v for v in (_property(o, key) for o in obj) if v is not None)
    if isinstance(obj, dict):
        key = to_str(key)
        if key in obj:
            return obj[key]
        return next((v for k, v in obj.items() if isinstance(k, str) and k.casefold() == key.casefold()), None)
    if isinstance(obj, list) and _kind(key) == "num" and 0 <= _num(key) < len(obj):
        return obj[int(_num(key))]
    return None


def _format(text: str, *args: Any) -> str:
    def one(match: re.Match) -> str:
        if match.group(1) is None:
            return match.group(0)[0]
        if int(match.group(1)) >= len(args):
            raise ExpressionError(f"format({text!r}): no argument {match.group(1)}")
        return to_str(args[int(match.group(1))])
    return re.sub(r"\{\{|\}\}|\{(\d+)\}", one, text)


def _contains(search: Any, item: Any) -> bool:
    if isinstance(search, list):
        return any(_compare("==", element, item) for element in search)
    return to_str(item).casefold() in to_str(search).casefold()


_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "startswith": lambda a, b: to_str(a).casefold().startswith(to_str(b).casefold()),
    "endswith": lambda a, b: to_str(a).casefold().endswith(to_str(b).casefold()),
    "contains": _contains,
    "format": lambda text, *args: _format(to_str(text), *args),
    "join": lambda items, sep=",": to_str(sep).join(map(to_str, items)) if isinstance(items, list) else to_str(items),
    "tojson": lambda value: json.dumps(value, indent=2),
    "fromjson": lambda text: json.loads(to_str(text)),
    "hashfiles": lambda *patterns: hashlib.sha256("\n".join(map(to_str, patterns)).encode()).hexdigest(),
}
_STATUS_FUNCTIONS = {"always": lambda s: True, "success": lambda s: s == "success",
                     "failure": lambda s: s == "failure", "cancelled": lambda s: s == "cancelled"}


def _eval(node: tuple, context: dict[str, Any]) -> Any:
    kind = node[0]
    if kind == "lit":
        return node[1]
    if kind == "ctx":
        return context.get(node[1])
    if kind == "prop":
        return _property(_eval(node[1], context), _eval(node[2], context))
    if kind == "star":
        obj = _eval(node[1], context)
        return _Filtered(obj.values() if isinstance(obj, dict) else obj if isinstance(obj, list) else [])
    if kind == "not":
        return not truthy(_eval(node[1], context))
    if kind in ("and", "or"):
        left = _eval(node[1], context)
        return left if truthy(left) == (kind == "or") else _eval(node[2], context)
    if kind == "cmp":
        return _compare(node[1], _eval(node[2], context), _eval(node[3], context))
    name, args = node[1], [_eval(arg, context) for arg in node[2]]
    if name in _STATUS_FUNCTIONS and not args:
        return _STATUS_FUNCTIONS[name](context.get(STATUS, "success"))
    if name not in _FUNCTIONS:
        raise ExpressionError(f"unknown function {name}() with {len(args)} arguments")
    try:
        return _FUNCTIONS[name](*args)
    except (TypeError, ValueError) as error:
        raise ExpressionError(f"{name}{tuple(args)}: {error}") from error


def evaluate(expression: str, context: dict[str, Any]) -> Any:
    """A bare expression (no `${{ }}`), e.g. `needs.plan.result == 'success'`."""
    return _eval(_Parser(expression).parse(), context)


def _template(text: str) -> list[str | tuple[str]]:
    """Text split into strings and ('expression',) pieces."""
    parts: list[str | tuple[str]] = []
    pos = 0
    while (start := text.find("${{", pos)) >= 0:
        i, quoted = start + 3, False
        while i < len(text) and (quoted or not text.startswith("}}", i)):
            quoted ^= text[i] == "'"
            i += 1
        if i >= len(text):
            raise ExpressionError(f"unterminated ${{{{ in {text!r}")
        parts += [text[pos:start], (text[start + 3:i],)]
        pos = i + 2
    return [*parts, text[pos:]]


def evaluate_value(value: Any, context: dict[str, Any]) -> Any:
    """A YAML value: a string that is one `${{ }}` gives the expression's value, other strings are substituted."""
    if not isinstance(value, str):
        return value
    parts = _template(value)
    if len(parts) == 3 and not parts[0].strip() and not parts[2].strip():
        return evaluate(parts[1][0], context)
    return "".join(p if isinstance(p, str) else to_str(evaluate(p[0], context)) for p in parts)


def substitute(text: str, context: dict[str, Any]) -> str:
    """Every `${{ expression }}` in text replaced by its value as a string."""
    return "".join(p if isinstance(p, str) else to_str(evaluate(p[0], context)) for p in _template(text))


def evaluate_if(condition: Any, context: dict[str, Any]) -> bool:
    """An `if:` (bare or in `${{ }}`); without a status function it means `success() && (…)`."""
    if condition is None or condition == "":
        condition = "success()"
    if not isinstance(condition, str):
        return truthy(condition)
    parts = _template(condition)
    if len(parts) == 3 and not parts[0].strip() and not parts[2].strip():
        condition = parts[1][0]
    elif len(parts) > 1:  # text around `${{ }}`: a non-empty string, as on GitHub
        return truthy(substitute(condition, context))
    if not re.search(r"\b(success|failure|cancelled|always)\s*\(", condition, re.I):
        condition = f"success() && ({condition})"
    return truthy(evaluate(condition, context))


# --- the job ---

@dataclass
class StepRecord:
    id: str
    name: str
    outcome: str = "skipped"
    conclusion: str = "skipped"
    outputs: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    children: list[StepRecord] = field(default_factory=list)  # a composite action's steps


@dataclass
class JobResult:
    conclusion: str  # success, failure or skipped (the job's `if:`)
    container: str  # what `container:` evaluated to (the image GitHub would run)
    steps: list[StepRecord] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)
    log: str = ""
    summaries: list[str] = field(default_factory=list)  # each step's $GITHUB_STEP_SUMMARY, in order
    stub_calls: list[tuple[str, dict[str, str]]] = field(default_factory=list)  # (ref, with) per stub run

    def step(self, step_id: str) -> StepRecord:
        """The step with this id; `parent/child` for a composite action's step."""
        records, found = self.steps, None
        for part in step_id.split("/"):
            found = next(r for r in records if r.id == part)
            records = found.children
        return found

    @property
    def summary(self) -> str:
        return "".join(self.summaries)


#: $RUNNER_TEMP in a job container, as GitHub mounts it.
CONTAINER_TEMP = "/__w/_temp"


@dataclass
class StubContext:
    """What a stub sees: the host side of the job."""
    ref: str
    workspace: Path
    artifacts: Path
    home: Path
    container_workspace: str
    github: dict[str, Any]
    env: dict[str, str]
    log: Callable[[str], None]
    temp: Path | None = None  # the host side of $RUNNER_TEMP (/__w/_temp)

    def host_path(self, path: str) -> Path:
        """A step's path (relative to the workspace, under it in the container, under $RUNNER_TEMP, or ~/…) on
        the host."""
        path = path.strip()
        if path == "~" or path.startswith("~/"):
            return self.home / path[2:]
        if self.temp is not None and posixpath.isabs(path) and posixpath.commonpath(
                [posixpath.normpath(path), CONTAINER_TEMP]) == CONTAINER_TEMP:
            return self.temp / posixpath.relpath(posixpath.normpath(path), CONTAINER_TEMP)
        if posixpath.isabs(path):
            relative = posixpath.relpath(posixpath.normpath(path), self.container_workspace)
            if relative.startswith(".."):
                raise HarnessError(f"{self.ref}: {path} is outside the workspace")
            path = relative
        return self.workspace / path


def _upload_artifact(with_inputs: dict[str, str], context: StubContext) -> dict[str, str]:
    name = with_inputs.get("name") or "artifact"
    sources = [context.host_path(p) for p in with_inputs.get("path", "").splitlines() if p.strip()]
    found = [s for s in sources if s.exists()]
    if not found:
        if with_inputs.get("if-no-files-found") == "error":
            raise FileNotFoundError(f"no files at {with_inputs.get('path')!r}")
        context.log(f"warning: no files at {with_inputs.get('path')!r}, no artifact uploaded")
        return {}
    target = context.artifacts / name
    if target.exists():
        if with_inputs.get("overwrite") != "true":
            raise FileExistsError(f"an artifact named {name} exists already")
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for source in found:
        if source.is_dir():
            shutil.copytree(source, target, dirs_exist_ok=True, symlinks=True)
        else:
            shutil.copy2(source, target / source.name)
    artifact_id = str(len(list(context.artifacts.iterdir())))
    return {"artifact-id": artifact_id, "artifact-url": target.as_uri()}


def _download_artifact(with_inputs: dict[str, str], context: StubContext) -> dict[str, str]:
    target = context.host_path(with_inputs.get("path") or ".")
    if name := with_inputs.get("name"):
        if not (context.artifacts / name).is_dir():
            raise FileNotFoundError(f"no artifact named {name}")
        shutil.copytree(context.artifacts / name, target, dirs_exist_ok=True, symlinks=True)
    else:
        merge = with_inputs.get("merge-multiple") == "true"
        pattern = with_inputs.get("pattern") or "*"
        for artifact in sorted(context.artifacts.glob("*")) if context.artifacts.is_dir() else []:
            if fnmatch.fnmatchcase(artifact.name, pattern):
                shutil.copytree(artifact, target if merge else target / artifact.name, dirs_exist_ok=True)
    return {"download-path": str(target)}


#: checkout: the workspace is the repository already; cache: nothing (its key is in `JobResult.stub_calls`);
#: setup-python: the image's python; upload-artifact/download-artifact: to and from `workspace.parent/artifacts`.
DEFAULT_STUBS: dict[str, Callable[[dict[str, str], StubContext], dict[str, str]]] = {
    "actions/checkout@v4": lambda with_inputs, context: {},
    "actions/cache@v4": lambda with_inputs, context: {"cache-hit": "false"},
    "actions/cache/restore@v4": lambda with_inputs, context: {"cache-hit": "false"},
    "actions/setup-python@v5": lambda with_inputs, context: {"python-version": with_inputs.get("python-version", "")},
    "actions/upload-artifact@v4": _upload_artifact, "actions/download-artifact@v4": _download_artifact,
}


def _read_pairs(path: Path) -> dict[str, str]:
    """`name=value` lines and `name<<DELIM` … `DELIM` blocks, as in $GITHUB_OUTPUT and $GITHUB_ENV."""
    pairs, lines = {}, path.read_text().splitlines() if path.exists() else []
    while lines:
        line = lines.pop(0)
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            value = []
            while lines and lines[0] != delimiter:
                value.append(lines.pop(0))
            if not lines:
                raise HarnessError(f"{path.name}: no closing {delimiter!r} for {name!r}")
            lines.pop(0)
            pairs[name] = "\n".join(value)
        elif "=" in line:
            name, value = line.split("=", 1)
            pairs[name] = value
        elif line.strip():
            raise HarnessError(f"{path.name}: bad line {line!r}")
    return pairs


def _copy_tree(source: Path, target: Path) -> None:
    """The files git would check out (tracked and untracked, not ignored), else everything but .git/.venv."""
    listed = subprocess.run(["git", "-C", str(source), "ls-files", "-co", "--exclude-standard", "-z"],
                            capture_output=True, text=True)
    if listed.returncode:
        shutil.copytree(source, target, symlinks=True, ignore=shutil.ignore_patterns(".git", ".venv", "__pycache__"))
        return
    for name in filter(None, listed.stdout.split("\0")):
        if (source / name).is_symlink() or (source / name).is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source / name, target / name, follow_symlinks=False)


@dataclass
class _Scope:
    """The steps of the job, or of one composite action."""
    contexts: dict[str, Any]
    env: dict[str, str]
    action_path: str | None = None
    status: str = "success"
    records: list[StepRecord] = field(default_factory=list)

    def context(self, env: dict[str, str] | None = None) -> dict[str, Any]:
        return {**self.contexts, "env": {**self.env, **(env or {})}, STATUS: self.status}


@dataclass
class _Job:
    podman: list[str]
    container: str
    runner: Path  # on the host: _temp, _actions, home, workflow and job.log
    workspace: Path
    cworkspace: str  # the workspace in the container
    defaults: dict[str, str]  # GitHub's default variables
    actions: dict[str, Path]
    stubs: dict[str, Callable]
    result: JobResult
    step_timeout: float
    added_env: dict[str, str] = field(default_factory=dict)  # from $GITHUB_ENV
    paths: list[str] = field(default_factory=list)  # from $GITHUB_PATH, latest first
    base_path: str | None = None
    nsenter: bool | None = None  # steps run with nsenter, not podman exec (decided at the first step)

    def __post_init__(self):
        self.log_file = (self.runner / "job.log").open("a")

    def log(self, text: str) -> None:
        self.log_file.write(text if text.endswith("\n") else text + "\n")
        self.log_file.flush()

    def run_steps(self, steps: list[dict[str, Any]], scope: _Scope) -> None:
        for index, step in enumerate(steps, 1):
            context = scope.context(self.added_env)
            label = step.get("name") or "Run " + (str(step.get("uses") or step.get("run") or "").strip() + "\n")
            record = StepRecord(id=step.get("id") or str(index), name=substitute(label.splitlines()[0], context))
            start = time.monotonic()
            if evaluate_if(step.get("if"), context):
                env = {**context["env"], **{k: to_str(evaluate_value(v, context))
                                            for k, v in (step.get("env") or {}).items()}}
                self.log(f"##[group]{record.name}")
                record.outcome, record.outputs = self.run_step(step, env, scope, record)
                record.conclusion = record.outcome
                if record.outcome == "failure" and truthy(evaluate_value(step.get("continue-on-error"),
                                                                         {**context, "env": env})):
                    record.conclusion = "success"
                scope.status = "failure" if record.conclusion == "failure" else scope.status
                if scope.action_path is None:  # the job's own steps: job.status follows them
                    scope.contexts["job"] = {**scope.contexts["job"], "status": scope.status}
                self.log(f"##[endgroup] {record.name}: {record.outcome}")
            record.seconds = time.monotonic() - start
            scope.records.append(record)
            if "id" in step:
                scope.contexts["steps"][step["id"]] = {"outputs": record.outputs, "outcome": record.outcome,
                                                       "conclusion": record.conclusion}

    def run_step(self, step: dict, env: dict[str, str], scope: _Scope, record: StepRecord) -> tuple[str, dict]:
        context = {**scope.context(), "env": env}
        if "run" in step:
            return self.run_script(step, env, scope, context)
        ref = step["uses"]
        with_inputs = {k: to_str(evaluate_value(v, context)) for k, v in (step.get("with") or {}).items()}
        if ref in self.stubs:
            self.result.stub_calls.append((ref, with_inputs))
            self.log(f"stub {ref} {with_inputs}")
            stub_context = StubContext(ref, self.workspace, self.workspace.parent / "artifacts", self.runner / "home",
                                       self.cworkspace, scope.contexts["github"], env, self.log, self.runner / "_temp")
            try:
                return "success", dict(self.stubs[ref](with_inputs, stub_context) or {})
            except Exception as error:  # a stub's failure is the step's
                self.log(f"##[error]{ref}: {type(error).__name__}: {error}")
                return "failure", {}
        host, path = self.action(ref)
        found = [p for p in (host / "action.yml", host / "action.yaml") if p.is_file()]
        if not found:
            raise HarnessError(f"{ref}: no action.yml in {host}")
        meta = yaml.safe_load(found[0].read_text())
        if (meta.get("runs") or {}).get("using") != "composite":
            raise HarnessError(f"{ref}: only composite actions run here (runs.using is "
                               f"{(meta.get('runs') or {}).get('using')}); give it a stub")
        github = {**scope.contexts["github"], "action_path": path, "action": step.get("id") or "__run"}
        inner = _Scope({**scope.contexts, "github": github, "inputs": {}, "steps": {}, "defaults": {}}, env,
                       action_path=path)
        defaults = {k: to_str(evaluate_value((v or {}).get("default", ""), inner.context()))
                    for k, v in (meta.get("inputs") or {}).items()}
        inner.contexts["inputs"] = {**defaults, **with_inputs}
        self.run_steps(meta["runs"]["steps"], inner)
        record.children = inner.records
        outputs = {k: to_str(evaluate_value((v or {}).get("value", ""), inner.context()))
                   for k, v in (meta.get("outputs") or {}).items()}
        return inner.status, outputs

    def action(self, ref: str) -> tuple[Path, str]:
        """A composite action's directory on the host and in the container (copied under _actions, as GitHub
        downloads its repository), for `./path` in the workspace or a ref in `actions`."""
        if ref.startswith("./"):
            return self.workspace / ref[2:], posixpath.join(self.cworkspace, ref[2:])
        name, _, version = ref.partition("@")
        parts = name.split("/")
        owner_repo, sub = parts[:2], parts[2:]
        if ref in self.actions:
            directory = Path(self.actions[ref]).resolve()
            if sub and directory.parts[-len(sub):] == tuple(sub):
                root = directory.parents[len(sub) - 1]  # its repository: `$GITHUB_ACTION_PATH/..` works as on GitHub
            else:
                root, owner_repo, sub = directory, parts, []
        elif f"{'/'.join(owner_repo)}@{version}" in self.actions:
            root = Path(self.actions[f"{'/'.join(owner_repo)}@{version}"]).resolve()
        else:
            raise HarnessError(f"{ref}: neither a stub nor in `actions`: give a stub or a local copy")
        relative = posixpath.join(*owner_repo, version)
        if not (self.runner / "_actions" / relative).exists():
            _copy_tree(root, self.runner / "_actions" / relative)
        return self.runner.joinpath("_actions", relative, *sub), posixpath.join("/__w/_actions", relative, *sub)

    def run_script(self, step: dict, env: dict[str, str], scope: _Scope, context: dict) -> tuple[str, dict]:
        script = substitute(str(step["run"]), context)
        shell = substitute(str(step.get("shell") or scope.contexts["defaults"].get("shell") or ""), context)
        template = {"": "bash -e {0}", "bash": "bash --noprofile --norc -eo pipefail {0}", "sh": "sh -e {0}",
                    "python": "python {0}"}.get(shell, shell)
        name = uuid.uuid4().hex
        (self.runner / "_temp" / f"{name}.sh").write_text(script)
        command = [a.replace("{0}", f"/__w/_temp/{name}.sh") for a in shlex.split(template)]
        command += [] if "{0}" in template else [f"/__w/_temp/{name}.sh"]
        workdir = substitute(str(step.get("working-directory") or scope.contexts["defaults"].get(
            "working-directory") or "."), context)
        workdir = posixpath.normpath(posixpath.join(self.cworkspace, workdir))
        files = {k: f"_runner_file_commands/{k.lower()}_{name}" for k in ("OUTPUT", "ENV", "PATH", "STEP_SUMMARY")}
        for path in files.values():
            (self.runner / "_temp" / path).touch()
        variables = {**self.defaults, **env, **{f"GITHUB_{k}": f"/__w/_temp/{v}" for k, v in files.items()}}
        if scope.action_path:
            variables.update(GITHUB_ACTION_PATH=scope.action_path, GITHUB_ACTION=scope.contexts["github"]["action"])
        if self.paths:
            if self.base_path is None:
                self.base_path = self.exec(["printenv", "PATH"], {}, "/").stdout.strip()
            variables["PATH"] = ":".join([*self.paths, variables.get("PATH", self.base_path)])
        self.log(f"$ {' '.join(command)}\n{script}")
        timeout = float(step.get("timeout-minutes") or 0) * 60 or self.step_timeout
        try:
            done = self.exec(command, variables, workdir, timeout)
            self.log(done.stdout + f"(exit status {done.returncode})")
            outcome = "success" if done.returncode == 0 else "failure"
        except subprocess.TimeoutExpired as timed_out:
            output = timed_out.stdout or b""
            self.log(f"{output.decode(errors='replace') if isinstance(output, bytes) else output}"
                     f"##[error]the step timed out after {timeout:.0f} s")
            outcome = "failure"
        temp = self.runner / "_temp"
        self.added_env.update(_read_pairs(temp / files["ENV"]))
        self.paths[:0] = reversed([p for p in (temp / files["PATH"]).read_text().splitlines() if p.strip()])
        if summary := (temp / files["STEP_SUMMARY"]).read_text():
            self.result.summaries.append(summary)
        return outcome, _read_pairs(temp / files["OUTPUT"])

    def exec(self, command: list[str], env: dict[str, str], workdir: str, timeout: float = 60):
        return subprocess.run(self.exec_argv(command, env, workdir), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, errors="replace", timeout=timeout)

    def exec_argv(self, command: list[str], env: dict[str, str], workdir: str) -> list[str]:
        """`podman exec`; where it cannot enter the container (podman under a chroot, as tests/run in a fresh
        root runs it: runc's exec then fails with "chdir to cwd ... no such file or directory"), nsenter into
        the container's namespaces and root, which is what docker exec does, with the container's environment."""
        if self.nsenter is None:
            probe = subprocess.run([*self.podman, "exec", "-w", self.cworkspace, self.container, "true"],
                                   capture_output=True)  # in a mounted directory: where the chroot case fails
            self.nsenter = probe.returncode != 0 and shutil.which("nsenter") is not None
            self.log(f"steps run with {'nsenter' if self.nsenter else 'podman exec'}")
        if not self.nsenter:
            return [*self.podman, "exec", "-w", workdir, *(f"--env={k}={v}" for k, v in env.items()), self.container,
                    *command]
        inspect = subprocess.run([*self.podman, "inspect", "-f", "{{.State.Pid}} {{json .Config.Env}}",
                                  self.container], capture_output=True, text=True, check=True).stdout
        pid, _, image_env = inspect.partition(" ")
        variables = {**dict(e.split("=", 1) for e in json.loads(image_env) if "=" in e), **env}
        # nsenter's --wd resolves its directory before entering the root: the step changes into it itself
        return ["nsenter", f"--target={pid.strip()}", "--mount", "--uts", "--ipc", "--net", "--pid", "--root",
                "--", "/bin/sh", "-c", 'cd "$1" && shift && exec "$@"', "sh", workdir,
                "/usr/bin/env", "-i", *(f"{k}={v}" for k, v in variables.items()), *command]


def load_workflow(path: Path) -> dict[str, Any]:
    """A workflow file, with `on` as a key (YAML 1.1 reads it as True)."""
    data = yaml.safe_load(Path(path).read_text())
    if True in data:
        data["on"] = data.pop(True)
    return data


def run_job(workflow: Path, job: str, *, image: str, workspace: Path, inputs: dict | None = None,
            needs: dict | None = None, podman: list[str] = PODMAN, actions: dict[str, Path] | None = None,
            stubs: dict[str, Callable] | None = None, event_name: str = "push", github: dict | None = None,
            extra_mounts: Iterable[str] = (), env: dict[str, str] | None = None, contexts: dict | None = None,
            require_container: bool = True, step_timeout: float = 3600) -> JobResult:
    """Runs `job` of `workflow` in `image` (standing in for what its `container:` names) with `podman`.

    inputs: the workflow's inputs (its `workflow_call`/`workflow_dispatch` defaults fill the rest); needs:
    `{job: {"result": …, "outputs": {…}}}`; actions: ref (`owner/repo/path@v` or `owner/repo@v`) → local
    directory; stubs: ref → callable (default `DEFAULT_STUBS`); extra_mounts: `-v` specs; env: more variables
    in the container (every step sees them); contexts: more contexts (secrets, vars, matrix); require_container:
    False runs a job whose `container:` is empty in `image` too. The container is always removed; the runner's
    files (job.log, $RUNNER_TEMP, $HOME) stay in `workspace.parent/runner-JOB-*`."""
    workspace = Path(workspace).resolve()
    data = load_workflow(workflow)
    spec = data["jobs"][job]
    triggers = data.get("on") if isinstance(data.get("on"), dict) else {}
    declared = {**((triggers.get("workflow_dispatch") or {}).get("inputs") or {}),
                **((triggers.get("workflow_call") or {}).get("inputs") or {})}
    given = {**{k: (v or {}).get("default", "") for k, v in declared.items()}, **(inputs or {})}
    all_inputs = {k: str(v).lower() == "true" if (declared.get(k) or {}).get("type") == "boolean" else v
                  for k, v in given.items()}  # a boolean input is a boolean, as on GitHub
    repository = (github or {}).get("repository", "example/model")
    cworkspace = f"/__w/{repository.split('/')[-1]}/{repository.split('/')[-1]}"
    github_context = {
        "event_name": event_name, "event": {}, "repository": repository, "repository_owner": repository.split("/")[0],
        "run_id": "1", "run_number": "1", "run_attempt": "1", "sha": "0" * 40, "ref": "refs/heads/main",
        "ref_name": "main", "base_ref": "", "head_ref": "", "job": job, "workspace": cworkspace, "actor": "test",
        "token": "ghs_test-token", "server_url": "https://github.com", "api_url": "https://api.github.com",
        "workflow": data.get("name", Path(workflow).name), "event_path": "/github/workflow/event.json",
        **(github or {})}
    needs = needs or {}
    base = {"github": github_context, "inputs": all_inputs, "needs": needs, "steps": {},
            "matrix": {}, "secrets": {}, "vars": {}, "strategy": {}, "job": {"status": "success"},
            "runner": {"os": "Linux", "arch": "X64", "name": "job-container", "temp": CONTAINER_TEMP},
            **(contexts or {})}
    results = {str((n or {}).get("result", "success")) for n in needs.values()}
    status = next((s for s in ("failure", "cancelled") if s in results), "success" if results <= {"success"} else "")
    job_context = {**base, "env": {}, STATUS: status}  # success() of a job: every job it needs succeeded
    spec_container = spec.get("container") or ""
    image_spec = spec_container if isinstance(spec_container, dict) else {"image": spec_container}
    container = to_str(evaluate_value(image_spec.get("image", ""), job_context))
    result = JobResult(conclusion="skipped", container=container)
    if not evaluate_if(spec.get("if"), job_context):
        return result
    if not container and require_container:
        raise HarnessError(f"{job}: `container:` is empty here: GitHub would run the job on the bare runner")
    job_env = {k: to_str(evaluate_value(v, job_context)) for k, v in {**(data.get("env") or {}),
                                                                      **(spec.get("env") or {})}.items()}
    defaults = {**((data.get("defaults") or {}).get("run") or {}), **((spec.get("defaults") or {}).get("run") or {})}
    runner = Path(tempfile.mkdtemp(prefix=f"runner-{job}-", dir=workspace.parent))
    for sub in ("_temp/_runner_file_commands", "home", "workflow", "_actions"):
        (runner / sub).mkdir(parents=True)
    (runner / "workflow" / "event.json").write_text(json.dumps(github_context["event"]))
    variables = {
        "CI": "true", "GITHUB_ACTIONS": "true", "HOME": "/github/home", "GITHUB_WORKSPACE": cworkspace,
        "RUNNER_TEMP": CONTAINER_TEMP, "RUNNER_OS": "Linux", "RUNNER_ARCH": "X64", "RUNNER_TOOL_CACHE": "/__t",
        **{f"GITHUB_{k.upper()}": to_str(github_context[k]) for k in (
            "repository", "repository_owner", "run_id", "run_number", "run_attempt", "sha", "ref", "ref_name",
            "base_ref", "head_ref", "event_name", "event_path", "job", "actor", "server_url", "api_url", "workflow")}}
    name = f"job-container-{uuid.uuid4().hex[:8]}"
    mounts = [f"{workspace}:{cworkspace}", f"{runner / '_temp'}:/__w/_temp", f"{runner / '_actions'}:/__w/_actions",
              f"{runner / 'home'}:/github/home", f"{runner / 'workflow'}:/github/workflow", *extra_mounts]
    container_env = {k: to_str(evaluate_value(v, job_context)) for k, v in (image_spec.get("env") or {}).items()}
    command = [*podman, "run", "-d", "--name", name, "--network=host", "--ulimit", "nofile=1024:1024",
               "--ulimit", "nproc=1024:1024", "--entrypoint", "tail", "-w", cworkspace,
               *(f"--env={k}={v}" for k, v in {"HOME": "/github/home", "GITHUB_ACTIONS": "true", "CI": "true",
                                                **container_env, **(env or {})}.items()),
               *(f"--volume={m}" for m in mounts), image, "-f", "/dev/null"]
    state = _Job(podman, name, runner, workspace, cworkspace, variables, actions or {},
                 DEFAULT_STUBS if stubs is None else stubs, result, step_timeout)
    try:
        state.log(f"$ {shlex.join(command)}")
        started = subprocess.run(command, capture_output=True, text=True, timeout=900)
        if started.returncode:
            raise HarnessError(f"podman run failed ({started.returncode}): {started.stderr[-2000:]}")
        scope = _Scope({**base, "defaults": defaults}, job_env, status="success")
        state.run_steps(spec.get("steps") or [], scope)
        result.steps, result.conclusion = scope.records, scope.status
        result.outputs = {k: to_str(evaluate_value(v, scope.context()))
                          for k, v in (spec.get("outputs") or {}).items()}
    finally:
        removed = subprocess.run([*podman, "rm", "-f", "-t", "0", name], capture_output=True, text=True, timeout=300)
        state.log(f"$ podman rm -f {name}: {removed.returncode} {removed.stderr.strip()}")
        state.log_file.close()
        result.log = (runner / "job.log").read_text()
    return result
