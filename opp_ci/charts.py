"""Mermaid charts for the job summary and the PR comment: GitHub renders ```mermaid blocks in
Markdown, so reviewers see the suite's outcome and the changed metrics without opening an artifact.

Only chart types GitHub's Mermaid renders are used: `pie` and `xychart-beta` (bar). Labels are
quoted strings with the characters Mermaid cannot take inside quotes replaced; the blocks are
validated against the real Mermaid parser in tests/unit/test_charts.py.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from opp_ci.safe_text import UNPRINTABLE

#: Characters a chart may take of a comment body (GitHub's limit on one is 65,536).
CHART_BUDGET = 12000
MAX_BARS = 30
LABEL_LENGTH = 40
_UNPRINTABLE_AS_SPACE = dict.fromkeys(UNPRINTABLE, " ")


def label(text: str, length: int = LABEL_LENGTH) -> str:
    """A safe Mermaid string, the one place a name (a config, a metric) enters a chart: no quotes,
    newlines, `#`/`;`/`&` (entity and statement markers), brackets, backticks, `<`/`>` (HTML), control
    characters, surrogates or bidirectional overrides; shortened with an ellipsis."""
    cleaned = re.sub(r"[\"`\r\n\t#;&\[\]{}<>]", " ", str(text)).translate(_UNPRINTABLE_AS_SPACE)
    cleaned = re.sub(r"\s+", " ", cleaned).strip() or "-"
    return cleaned if len(cleaned) <= length else cleaned[: length - 1] + "…"


def block(body: str) -> str:
    return f"```mermaid\n{body}\n```\n"


def _number(value: float) -> str:
    if not math.isfinite(value):
        raise ValueError(f"a chart value must be finite, not {value}")
    text = format(Decimal(f"{value:.6g}"), "f")  # Mermaid's numbers have no exponent
    return text.rstrip("0").rstrip(".") if "." in text else text


def outcome_pie(counts: Mapping[str, int], title: str = "Suite outcome") -> str:
    """A pie of outcomes (`{"PASS": 12, "FAIL (expected)": 1, ...}`); empty slices are left out.
    Returns "" when there is nothing to show (Mermaid rejects a pie without slices)."""
    slices = [(name, count) for name, count in counts.items() if count > 0]
    if not slices:
        return ""
    lines = [f"pie showData title {label(title)}"]
    lines += [f'    "{label(name)}" : {count}' for name, count in slices]
    return block("\n".join(lines))


@dataclass(frozen=True)
class MetricChange:
    name: str
    base: float
    candidate: float


def metric_bars(changes: Sequence[MetricChange], title: str = "Changed metrics (base vs candidate)") -> str:
    """An xychart-beta with two bar series (base, candidate) per metric, at most MAX_BARS metrics
    and CHART_BUDGET characters; "" when there are none. Non-finite values are left out."""
    usable = [c for c in changes if math.isfinite(c.base) and math.isfinite(c.candidate)][:MAX_BARS]
    while usable:
        text = _bars(usable, title)
        if len(text) <= CHART_BUDGET:
            return text
        usable = usable[: len(usable) // 2]
    return ""


def _bars(changes: Sequence[MetricChange], title: str) -> str:
    names = _unique([label(c.name, 24) for c in changes])
    values = [v for c in changes for v in (c.base, c.candidate)]
    low, high = min(0.0, *values), max(values)
    if high <= low:
        high = low + 1
    lines = [
        "xychart-beta",
        f'    title "{label(title, 80)}"',
        "    x-axis [" + ", ".join(f'"{n}"' for n in names) + "]",
        f'    y-axis "value" {_number(low)} --> {_number(high)}',
        "    bar [" + ", ".join(_number(c.base) for c in changes) + "]",
        "    bar [" + ", ".join(_number(c.candidate) for c in changes) + "]",
    ]
    return block("\n".join(lines))


def _unique(names: list[str]) -> list[str]:
    """Category labels must differ, or Mermaid merges the bars."""
    seen: dict[str, int] = {}
    result = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        result.append(name if seen[name] == 1 else f"{name} ({seen[name]})")
    return result
