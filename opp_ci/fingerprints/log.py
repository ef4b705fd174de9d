"""What a run printed, read once: the one reader of opp_run's `<!>` lines, for the worker (its error, the
fingerprint verdict, where it stopped) and for the suite check (what opp_fingerprinttest reads: the calculated
sets, the other `<!>` lines, the simulated time, a CPU time limit).

OMNeT++ 6.1 prints, one per line::

    <!> Fingerprint successfully verified: b9aa-4a66/tplx
    <!> Fingerprint mismatch! calculated: b9aa-4a66/tplx, expected: 0000-0000/tplx
    <!> Simulation time limit reached -- at t=600s, event #7139
    <!> Error: No such config: NoSuchConfig

Several ingredient sets are listed joined by ", " (OMNeT++'s multi-fingerprint calculator).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from opp_ci.fingerprints.verdicts import FingerprintVerdict
from opp_ci.records import Judgement, RunRecord, RunStatus, Verdict

_ERROR_LINE = re.compile(r"<!> Error: (.*)")
_FINGERPRINT_OK = re.compile(r"<!> Fingerprint successfully verified: (.+?)\s*$", re.M)
_FINGERPRINT_BAD = re.compile(r"<!> Fingerprint mismatch! calculated: (.+?), expected: (.+?)"
                              r"(?: -- during finalization)?\s*$", re.M)
_LIMIT_REACHED = re.compile(r"<!> .*limit reached -- at t=(\S+?)s?, event #(\d+)")
_AT = re.compile(r"at t=([0-9]*(\.[0-9]+)?)s, event #([0-9]+)")
#: opp_fingerprinttest's reading of a mismatch (any `<!>` line naming a Fingerprint, also as an `Error:`).
_CALCULATED = re.compile(r"(?:computed|calculated): (.*?), expected: (.*?)( -- during finalization)?$")
#: The check name of the verdict a mismatch gives the worker's status (`RunLog.verdicts`).
MISMATCH_CHECK = "fingerprint"


@dataclass(frozen=True)
class RunLog:
    """What a run's output says.

    The worker's view: `error` (the first `<!> Error:`), `fingerprint` with the calculated and expected text as
    printed, `sim_time` and `events` where a limit stopped it. The suite's view (opp_fingerprinttest's
    SimulationTestCase.runSimulation): `fingerprint_ok` (None: no verdict printed), `calculated` per set, the
    other `<!>` lines, the simulated time of the last of them, whether the CPU time limit was reached."""

    error: str | None = None
    fingerprint: FingerprintVerdict = FingerprintVerdict.NONE
    fingerprint_calculated: str | None = None
    fingerprint_expected: str | None = None
    sim_time: str | None = None
    events: int | None = None
    fingerprint_ok: bool | None = None
    calculated: tuple[str, ...] = ()  # `hash/ingredients` per set, in --fingerprint order
    errors: tuple[str, ...] = ()  # the `<!>` lines that are no fingerprint verdict
    simulated_time: float | None = None
    cpu_time_limit_reached: bool = False

    def verdicts(self) -> list[Verdict]:
        """A mismatch as a verdict: it fails a run that otherwise passed (`records.derive_status`)."""
        if self.fingerprint is not FingerprintVerdict.MISMATCH:
            return []
        return [Verdict(MISMATCH_CHECK, Judgement.FAIL, f"Fingerprint mismatch! calculated: "
                        f"{self.fingerprint_calculated}, expected: {self.fingerprint_expected}")]


def simulation_error(output: str) -> str | None:
    """The `<!> Error: ...` text of a run or a query, if there is one (the first: the cause)."""
    errors = _ERROR_LINE.findall(output)
    return errors[0].strip() if errors else None


def parse_log(output: str) -> RunLog:
    """Reads a run's output. A fingerprint mismatch exits 0 in OMNeT++ 6.1, so its line is the only place the
    verdict appears; a successful verification prints only the calculated fingerprints."""
    fingerprint, calculated, expected = FingerprintVerdict.NONE, None, None
    if match := _FINGERPRINT_BAD.search(output):
        fingerprint, calculated, expected = FingerprintVerdict.MISMATCH, match.group(1), match.group(2)
    elif match := _FINGERPRINT_OK.search(output):
        fingerprint, calculated, expected = FingerprintVerdict.VERIFIED, match.group(1), match.group(1)
    limit = _LIMIT_REACHED.search(output)
    return RunLog(simulation_error(output), fingerprint, calculated, expected, limit.group(1) if limit else None,
                  int(limit.group(2)) if limit else None, *_tool_view(output))


def _tool_view(output: str) -> tuple[bool | None, tuple[str, ...], tuple[str, ...], float | None, bool]:
    """The `<!>` lines as opp_fingerprinttest reads them: ok, calculated, other lines, simulated time, CPU limit."""
    ok, calculated, errors, time, cpu = None, (), [], None, False
    for line in re.findall(r"<!>.*", output):
        line = line.strip()
        if "Fingerprint" in line and ("successfully" in line or _CALCULATED.search(line)):
            if "successfully" in line:
                ok = ok is not False
                calculated = _split(line.split("verified: ", 1)[-1])
            else:
                ok, calculated = False, _split(_CALCULATED.search(line).group(1))  # type: ignore[union-attr]
            continue
        errors.append(line)
        cpu = cpu or "CPU time limit reached" in line
        if m := _AT.search(line):
            time = float(m.group(1))
    return ok, calculated, tuple(errors), time, cpu


def _split(text: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in re.split(r",\s*", text.strip()) if item.strip())


@dataclass(frozen=True)
class RunOutput:
    """One run of a suite row as opp_fingerprinttest sees it: its exit status and what it printed."""

    exit_code: int | None
    log: RunLog = RunLog()
    timed_out: bool = False


def read_run_output(output: str, exit_code: int | None, timed_out: bool = False) -> RunOutput:
    return RunOutput(exit_code, parse_log(output), timed_out)


def run_output(record: RunRecord, out_dir: Path) -> RunOutput:
    """What the run printed (its log, else the tail kept in the record), read as the tool reads it."""
    log = out_dir / record.log if record.log else None
    text = log.read_text(errors="replace") if log is not None and log.is_file() else record.log_tail
    return read_run_output(text, record.exit_code, record.execution is RunStatus.TIMEOUT)
