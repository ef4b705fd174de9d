"""The records a campaign produces: one `RunRecord` per simulation run, and the campaign file.

`campaign.json` in the output directory is::

    {"version": 1, "campaign": ID, "backend": "local", "command": [...], "started_at": ISO,
     "finished_at": ISO, "wall_seconds": float, "totals": {"passed": n, ...}, "runs": [RunRecord...]}

Reports (JUnit, summary), regression checks and publishing read only this file and the result
files it names, so they work the same whichever backend ran the campaign.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

CAMPAIGN_FILE = "campaign.json"
FORMAT_VERSION = 1


class RunStatus(StrEnum):
    PASSED = "passed"
    FAILED = "failed"  # the simulation failed: error exit, or a fingerprint mismatch
    ERROR = "error"  # the infrastructure failed: worker died, executable missing, store unreachable
    TIMEOUT = "timeout"  # killed after the wall-clock timeout


class FingerprintVerdict(StrEnum):
    NONE = "none"  # no fingerprint was checked
    VERIFIED = "verified"
    MISMATCH = "mismatch"


@dataclass
class RunRecord:
    """What is known about one run after it ended. Plain JSON-compatible fields only."""

    config: str
    run: int
    job_id: str = ""
    itervars: dict[str, str] = field(default_factory=dict)
    repetition: int | None = None
    status: RunStatus = RunStatus.ERROR
    exit_code: int | None = None
    wall_seconds: float = 0.0
    cpu_seconds: float = 0.0
    attempts: int = 1
    worker: str = ""
    error: str | None = None
    fingerprint: FingerprintVerdict = FingerprintVerdict.NONE
    fingerprint_calculated: str | None = None
    fingerprint_expected: str | None = None
    result_files: list[str] = field(default_factory=list)  # relative to the output directory
    log: str | None = None  # relative to the output directory
    log_tail: str = ""
    sim_time: str | None = None  # the simulation time reached, as OMNeT++ printed it
    events: int | None = None

    @property
    def key(self) -> tuple[str, int]:
        return (self.config, self.run)

    @property
    def name(self) -> str:
        """A test-case name: the config's iteration variables, or the run number without any."""
        if self.itervars:
            variables = ", ".join(f"${k}={v}" for k, v in self.itervars.items())
            if self.repetition is not None and "repetition" not in self.itervars:
                variables += f", $repetition={self.repetition}"
            return f"#{self.run}: {variables}"
        return f"#{self.run}"

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunRecord:
        known = {f.name for f in dataclasses.fields(cls)}
        record = cls(**{k: v for k, v in data.items() if k in known})
        record.status = RunStatus(record.status)
        record.fingerprint = FingerprintVerdict(record.fingerprint)
        return record


@dataclass
class Campaign:
    """The campaign file: its metadata and every run record."""

    campaign: str
    runs: list[RunRecord] = field(default_factory=list)
    backend: str = "local"
    command: list[str] = field(default_factory=list)
    started_at: str | None = None
    finished_at: str | None = None
    wall_seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. "cost", "regression"

    def totals(self) -> dict[str, int]:
        counts = {status.value: 0 for status in RunStatus}
        for record in self.runs:
            counts[record.status.value] += 1
        counts["total"] = len(self.runs)
        return counts

    @property
    def all_passed(self) -> bool:
        return all(r.status is RunStatus.PASSED for r in self.runs)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": FORMAT_VERSION,
            "campaign": self.campaign,
            "backend": self.backend,
            "command": self.command,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "wall_seconds": self.wall_seconds,
            "totals": self.totals(),
            **self.extra,
            "runs": [r.to_json() for r in sorted(self.runs, key=lambda r: r.key)],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Campaign:
        fixed = {"version", "campaign", "backend", "command", "started_at", "finished_at",
                 "wall_seconds", "totals", "runs"}
        return cls(
            campaign=data.get("campaign", ""),
            runs=[RunRecord.from_json(r) for r in data.get("runs", [])],
            backend=data.get("backend", "local"),
            command=data.get("command", []),
            started_at=data.get("started_at"),
            finished_at=data.get("finished_at"),
            wall_seconds=data.get("wall_seconds", 0.0),
            extra={k: v for k, v in data.items() if k not in fixed},
        )

    def write(self, out_dir: Path) -> Path:
        """Writes campaign.json atomically, so a reader never sees half a file."""
        return write_json_atomically(Path(out_dir) / CAMPAIGN_FILE, self.to_json())

    @classmethod
    def read(cls, out_dir: Path) -> Campaign:
        return cls.from_json(json.loads((Path(out_dir) / CAMPAIGN_FILE).read_text()))


def write_json_atomically(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)
    return path
