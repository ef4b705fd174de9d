"""Unified diffs of whole files, as `baseline-update.patch` holds them: made (`unified_patch`), split by file
(`by_file`), and undone (`original`: the file before the patch, from the file after it; `opp-ci merge` recovers
the project's file that way, having only the shards' output directories)."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

#: What diff writes after a last line that has no line end.
NO_NEWLINE = "\\ No newline at end of file"
_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


@dataclass(frozen=True)
class FileDiff:
    """One file's part of a patch: its path (without `a/`, `b/`), whether it is new, and its hunk lines."""

    path: str
    new_file: bool
    lines: tuple[str, ...]


def unified_patch(files: list[tuple[str, str | None, str]]) -> str:
    """A unified diff of (path, old text or None for a new file, new text), in the order given, with paths
    `a/PATH` and `b/PATH`: `git apply` and `patch -p1` read it."""
    parts: list[str] = []
    for path, old, new in files:
        before = f"a/{path}" if old is not None else "/dev/null"
        parts += difflib.unified_diff(_lines(old or ""), _lines(new), before, f"b/{path}")
    return "".join(parts)


def _lines(text: str) -> list[str]:
    """The lines of `text` with their ends; a last line without one carries diff's marker for that."""
    lines = text.split("\n")
    ended = [line + "\n" for line in lines[:-1]]
    return ended + ([f"{lines[-1]}\n{NO_NEWLINE}\n"] if lines[-1] else [])


def by_file(patch: str) -> dict[str, FileDiff]:
    """The patch's files by path, each hunk read by its line counts."""
    found: dict[str, FileDiff] = {}
    lines = patch.split("\n")
    index = 0
    while index + 1 < len(lines):
        if not (lines[index].startswith("--- ") and lines[index + 1].startswith("+++ ")):
            index += 1
            continue
        path = lines[index + 1][4:].split("\t")[0].removeprefix("b/")
        new_file = lines[index][4:].startswith("/dev/null")
        index += 2
        body: list[str] = []
        while index < len(lines) and (hunk := _HUNK.match(lines[index])):
            body.append(lines[index])
            index = _hunk_body(lines, index + 1, _count(hunk[2]), _count(hunk[4]), body)
        found[path] = FileDiff(path, new_file, tuple(body))
    return found


def _count(text: str | None) -> int:
    return 1 if text is None else int(text)


def _hunk_body(lines: list[str], index: int, old: int, new: int, body: list[str]) -> int:
    """Appends the hunk's lines (and diff's no-line-end markers) to `body`; returns the index after them."""
    while index < len(lines) and (old > 0 or new > 0 or lines[index] == NO_NEWLINE):
        line = lines[index]
        body.append(line)
        old -= line.startswith((" ", "-"))
        new -= line.startswith((" ", "+"))
        index += 1
    return index


def original(new: str, diff: FileDiff) -> str | None:
    """The file's text before the patch, from its text after it (None: the patch created it)."""
    if diff.new_file:
        return None
    after = re.findall(r"[^\n]*\n|[^\n]+$", new)  # lines with their ends; the last may have none
    before: list[str] = []
    position = 0  # in `after`
    for index, line in enumerate(diff.lines):
        ended = "" if index + 1 < len(diff.lines) and diff.lines[index + 1] == NO_NEWLINE else "\n"
        hunk = _HUNK.match(line)
        if hunk:
            start = int(hunk[3]) - (0 if hunk[4] == "0" else 1)
            before += after[position:start]
            position = start
        elif line.startswith((" ", "-")):
            before.append(line[1:] + ended)
            position += line.startswith(" ")
        elif line.startswith("+"):
            position += 1
    return "".join(before + after[position:])
