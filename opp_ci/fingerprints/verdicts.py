"""The verdicts of fingerprints: what a run's log says (`FingerprintVerdict`), and a suite row's outcome against
its expected result (`RowVerdict`, its category kept as data: the summary counts it, nothing parses it back)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

RESULTS = ("PASS", "FAIL", "ERROR")


class FingerprintVerdict(StrEnum):
    """What OMNeT++ printed about the `--fingerprint=` it was given."""

    NONE = "none"  # no fingerprint was checked
    VERIFIED = "verified"
    MISMATCH = "mismatch"


class Expected(StrEnum):
    """A suite row's expected result (its 5th field)."""

    PASS = "PASS"
    FAIL = "FAIL"
    ERROR = "ERROR"


class Outcome(StrEnum):
    """What a suite row did, as opp_fingerprinttest names it."""

    PASS = "PASS"
    FAIL = "FAIL"
    ERROR = "ERROR"


#: The category of a row none of whose runs could be judged (the infrastructure failed, not the row).
NOT_JUDGED = "not judged"


@dataclass(frozen=True)
class RowVerdict:
    """A row's outcome against its expected result; `passed` is what opp-ci's exit status uses."""

    outcome: Outcome
    expected: Expected
    message: str  # opp_fingerprinttest's reason ("" for a plain PASS)
    calculated: tuple[str, ...] = ()  # per chosen set, from the last repetition
    judged: bool = True  # False: a run of the row did not execute, so the row was not judged

    @classmethod
    def not_judged(cls, expected: Expected) -> RowVerdict:
        return cls(Outcome.ERROR, expected, "a run of the row did not execute", judged=False)

    @property
    def passed(self) -> bool:
        return self.judged and self.outcome.value == self.expected.value

    @property
    def category(self) -> str:
        """What the suite's summary counts: `PASS`, `FAIL (expected)`, `PASS (unexpected)`, `ERROR (should be
        PASS)`, `not judged`."""
        if not self.judged:
            return NOT_JUDGED
        if self.passed:
            return "PASS" if self.outcome is Outcome.PASS else f"{self.outcome.value} (expected)"
        if self.outcome is Outcome.PASS:
            return "PASS (unexpected)"
        return f"{self.outcome.value} (should be {self.expected.value})"

    def describe(self) -> str:
        """opp_fingerprinttest's verdict text: `PASS`, `FAIL (expected)`, `ERROR (should be PASS): ...`."""
        if self.passed or (self.judged and self.outcome is Outcome.PASS):
            return self.category
        return f"{self.category}: {self.message}"
