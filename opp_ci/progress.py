"""Showing a campaign's progress: a live bar on a terminal, a status line every few seconds in CI logs."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TextIO

if TYPE_CHECKING:  # rich is imported only for a terminal (it takes 50 ms; CI logs get status lines)
    from rich.console import Console

STATUS_LINE_INTERVAL = 10.0


@dataclass(frozen=True)
class Counts:
    total: int
    done: int = 0
    failed: int = 0
    running: int = 0


class ProgressDisplay(Protocol):
    def update(self, counts: Counts) -> None: ...

    def close(self) -> None: ...


class LiveBar:
    """A rich progress bar with done, failed, running and ETA."""

    def __init__(self, total: int, console: Console) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn("[bold]campaign"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("[red]{task.fields[failed]} failed"),
            TextColumn("[cyan]{task.fields[running]} running"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self._task = self._progress.add_task("runs", total=total, failed=0, running=0)
        self._progress.start()

    def update(self, counts: Counts) -> None:
        self._progress.update(self._task, completed=counts.done, failed=counts.failed, running=counts.running)

    def close(self) -> None:
        self._progress.stop()


class StatusLines:
    """One line every few seconds (and at the end): what CI logs can show."""

    def __init__(self, total: int, stream: TextIO, interval: float = STATUS_LINE_INTERVAL) -> None:
        self._stream = stream
        self._interval = interval
        self._started = time.monotonic()
        self._last_print = self._started
        self._last: Counts = Counts(total)

    def update(self, counts: Counts) -> None:
        self._last = counts
        now = time.monotonic()
        if now - self._last_print >= self._interval:
            self._last_print = now
            self._print(counts)

    def close(self) -> None:
        self._print(self._last)

    def _print(self, counts: Counts) -> None:
        elapsed = time.monotonic() - self._started
        eta = ""
        if 0 < counts.done < counts.total:
            eta = f", ETA {_clock(elapsed / counts.done * (counts.total - counts.done))}"
        print(
            f"opp-ci: {counts.done}/{counts.total} runs done ({counts.failed} failed), "
            f"{counts.running} running, {_clock(elapsed)} elapsed{eta}",
            file=self._stream,
            flush=True,
        )


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def make_display(total: int, stream: TextIO | None = None) -> ProgressDisplay:
    stream = stream or sys.stderr
    if stream.isatty():
        from rich.console import Console

        return LiveBar(total, Console(file=stream))
    return StatusLines(total, stream)
