"""How opp-ci talks to the user: progress and messages on stderr, as GitHub workflow commands when
running in GitHub Actions (annotations, groups), as `opp-ci: ...` lines elsewhere. Standard output
is left to what a command is asked to print.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import Any, TextIO

PREFIX = "opp-ci: "


def in_github_actions() -> bool:
    return os.environ.get("GITHUB_ACTIONS") == "true"


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def workflow_command(command: str, message: str = "", stream: TextIO | None = None, **properties: Any) -> None:
    """Prints `::command prop=value,...::message`, escaped as the runner expects."""
    props = ",".join(f"{k}={escape_property(str(v))}" for k, v in properties.items() if v is not None)
    line = f"::{command}{' ' + props if props else ''}::{escape_data(message)}"
    print(line, file=stream or sys.stderr, flush=True)


def info(message: str) -> None:
    print(PREFIX + message, file=sys.stderr, flush=True)


def _annotation(kind: str, message: str, **properties: Any) -> None:
    if in_github_actions():
        workflow_command(kind, message, **properties)
    else:
        where = ":".join(str(properties[k]) for k in ("file", "line") if properties.get(k) is not None)
        print(f"{PREFIX}{kind}: {where + ': ' if where else ''}{message}", file=sys.stderr, flush=True)


def error(message: str, **properties: Any) -> None:
    """An error, as an annotation (`file=`, `line=`, `title=`) in GitHub Actions."""
    _annotation("error", message, **properties)


def warning(message: str, **properties: Any) -> None:
    _annotation("warning", message, **properties)


def notice(message: str, **properties: Any) -> None:
    _annotation("notice", message, **properties)


@contextlib.contextmanager
def group(title: str) -> Iterator[None]:
    """A collapsible section of the log in GitHub Actions; a heading line elsewhere."""
    if not in_github_actions():
        info(title)
        yield
        return
    workflow_command("group", title)
    try:
        yield
    finally:
        workflow_command("endgroup")
