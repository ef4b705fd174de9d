"""Mermaid charts for the job summary and the PR comment: GitHub renders ```mermaid blocks in
Markdown, so reviewers see the suite's outcome and the changed metrics without opening an artifact.

Only chart types GitHub's Mermaid renders are used: `pie` and `xychart-beta` (bar, line). Labels are
quoted strings with the characters Mermaid cannot take inside quotes replaced; the blocks are
parsed by the real Mermaid parser (tests/integration/test_charts_mermaid.py) and rendered by it in
headless Chromium (tests/integration/test_comment_render.py).
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
#: Bars in one chart: at Mermaid's default size (700 x 500 px) the labels of more would touch.
MAX_BARS = 20
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


# --- the relative change of metrics, in small multiples ---

#: A metric's label on an x axis: what distinguishes it, never two alike.
BAR_LABEL_LENGTH = 32
#: A bar's whole label (metric and parameter point). Mermaid (11.12) drops every label of a horizontal chart
#: when one is too wide (about 300 px): 40 characters of metric names were shown, 44 dropped; of "MWmw" 23 were
#: shown, 27 dropped (tests/integration/test_comment_render.py renders labels of this length).
CHART_LABEL_LENGTH = 40
#: The least room (in % of the baseline) above and below a chart's bars: a change of 1e-9 still gets an axis.
MIN_PAD = 0.05
#: At most this many relative-change charts (one per order of magnitude of the change).
MAX_CHARTS = 4


@dataclass(frozen=True)
class RelativeBar:
    """One metric at one parameter point: its label and the change of its mean, relative to the baseline's."""

    label: str
    relative: float  # (candidate - base) / |base|


def relative_charts(bars: Sequence[RelativeBar], budget: int = CHART_BUDGET) -> str:
    """Small multiples of the candidate as % of the baseline (a line marks the baseline, 100 %): one
    horizontal xychart-beta per order of magnitude of the change, largest first, so that a +2 % beside a
    +900 % is still seen. Mermaid's bars start where the value axis does, so a percentage of the baseline,
    not a signed change, is what a bar's length shows; horizontal, so long labels stand one per line, not
    over each other. "" when there is nothing to show."""
    usable = [b for b in bars if math.isfinite(b.relative)]
    groups: dict[int, list[RelativeBar]] = {}
    for bar in usable:
        groups.setdefault(_magnitude(bar.relative), []).append(bar)
    blocks: list[str] = []
    for magnitude in sorted(groups, reverse=True)[:MAX_CHARTS]:
        shown = _largest(groups[magnitude], MAX_BARS)
        more = f" ({len(shown)} of {len(groups[magnitude])})" if len(shown) < len(groups[magnitude]) else ""
        text = _relative_chart(shown, _magnitude_title(magnitude) + more)
        if sum(map(len, blocks)) + len(text) > budget:
            break
        blocks.append(text)
    return "\n".join(blocks)


def _largest(bars: list[RelativeBar], count: int) -> list[RelativeBar]:
    """The `count` bars of the largest changes, in their order."""
    if len(bars) <= count:
        return bars
    kept = set(sorted(range(len(bars)), key=lambda i: -abs(bars[i].relative))[:count])
    return [bar for i, bar in enumerate(bars) if i in kept]


def _magnitude(relative: float) -> int:
    """The decade of |change| in percent: -1 below 1 %, 0 for 1-10 %, 1 for 10-100 %, ..."""
    percent = abs(relative) * 100
    return -1 if percent < 1 else math.floor(math.log10(percent))


def _magnitude_title(magnitude: int) -> str:
    if magnitude < 0:
        return "Changes below 1 %: candidate as % of baseline"
    return f"Changes of {10 ** magnitude:,}-{10 ** (magnitude + 1):,} %: candidate as % of baseline"


def _relative_chart(bars: Sequence[RelativeBar], title: str) -> str:
    values = [100 * (1 + b.relative) for b in bars]
    low, high = min(100.0, *values), max(100.0, *values)
    pad = max((high - low) * 0.1, MIN_PAD)
    bottom = max(0.0, low - pad) if low >= 0 else low - pad
    lines = [
        "xychart-beta horizontal",
        f'    title "{label(title, 80)}"',
        "    x-axis [" + ", ".join(f'"{n}"' for n in _numbered([label(b.label, 1000) for b in bars],
                                                            CHART_LABEL_LENGTH)) + "]",
        f'    y-axis "% of baseline" {_number(bottom)} --> {_number(high + pad)}',
        "    bar [" + ", ".join(_number(v) for v in values) + "]",
        "    line [" + ", ".join("100" for _ in values) + "]",
    ]
    return block("\n".join(lines))


def metric_labels(metrics: Sequence[tuple[str, str]], length: int = BAR_LABEL_LENGTH) -> dict[tuple[str, str], str]:
    """Short, distinct labels for (module, scalar name) pairs: the modules' common prefix dropped, then as
    many of the module's last path components as it takes to tell a metric from the others, then the name
    (with its statistic, e.g. `channelUtilization:last`). Too long, both are cut in their middle (see `_fit`);
    labels that would still be alike get a number."""
    distinct = list(dict.fromkeys(metrics))
    paths = {m: [p for p in m[0].split(".") if p] for m in distinct}
    common = _common_prefix(list(paths.values())) if len(distinct) > 1 else min(map(len, paths.values()), default=0)
    tails = {m: paths[m][common:] for m in distinct}
    depth = dict.fromkeys(distinct, 0)
    while True:
        texts = {m: _fit(tails[m][len(tails[m]) - depth[m]:], m[1], length) for m in distinct}
        alike = [m for m in distinct if list(texts.values()).count(texts[m]) > 1 and depth[m] < len(tails[m])]
        if not alike:
            return dict(zip(distinct, _numbered([texts[m] for m in distinct], length), strict=True))
        for m in alike:
            depth[m] += 1


def _common_prefix(paths: list[list[str]]) -> int:
    """How many leading components all paths share, leaving every path at least its last one."""
    shortest = min(map(len, paths), default=0)
    count = 0
    while count < shortest - 1 and len({p[count] for p in paths}) == 1:
        count += 1
    return count


def _fit(module_tail: list[str], name: str, length: int) -> str:
    """`module name` in at most `length` characters: each cut in its middle, so the module keeps its first
    component (the one that told it apart) and the name its statistic; the name gets half or more."""
    module = _component_text(".".join(module_tail))
    name = _component_text(name)
    name = _cut_middle(name, length if not module else max(length // 2, length - len(module) - 1))
    module = _cut_middle(module, length - len(name) - 1)
    return f"{module} {name}" if module else name


def _component_text(text: str) -> str:
    """A module path or name as a label: `host[3]` as `host(3)`, since a chart label takes no brackets."""
    return label(text.replace("[", "(").replace("]", ")"), 1000) if text else ""


def _cut_middle(text: str, length: int) -> str:
    if len(text) <= length:
        return text
    if length < 3:
        return ""
    keep = length - 1
    return text[: keep - keep // 2] + "…" + text[len(text) - keep // 2:]


def _numbered(texts: list[str], length: int) -> list[str]:
    """The texts, each repeated one numbered (`… #2`) and cut to fit `length`: labels must differ, or
    Mermaid merges the bars."""
    seen: dict[str, int] = {}
    result = []
    for text in texts:
        seen[text] = seen.get(text, 0) + 1
        suffix = f" #{seen[text]}" if seen[text] > 1 else ""
        result.append(_cut_middle(text, length - len(suffix)) + suffix)
    return result


def point_labels(points: Sequence[tuple[str, tuple[tuple[str, str], ...]]]) -> dict[tuple, str]:
    """Labels for parameter points (config, iteration variables): only what differs between them, e.g.
    `numHosts=10`; "" for every point when there is only one."""
    distinct = list(dict.fromkeys(points))
    configs = len({config for config, _ in distinct}) > 1
    names = list(dict.fromkeys(k for _, variables in distinct for k, _ in variables))
    varying = [k for k in names if len({dict(v).get(k) for _, v in distinct}) > 1]
    result = {}
    for config, variables in distinct:
        values = dict(variables)
        parts = ([config] if configs else []) + [f"{k}={values.get(k, '-')}" for k in varying]
        result[config, variables] = label(",".join(parts), 1000) if parts else ""
    return result
