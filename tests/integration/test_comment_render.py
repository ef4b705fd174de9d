"""The comment as a reviewer sees it: its Mermaid blocks rendered to SVG by the real `mermaid` package in headless
Chromium (Debian's /usr/bin/chromium driven by playwright-core, both pinned: tests/run installs chromium,
tests/mermaid/package-lock.json the rest), and the SVG inspected: the bars drawn and the labels under them."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from comment_campaign import METRICS, POINTS, compared

from opp_ci.charts import MAX_BARS, RelativeBar, relative_charts
from opp_ci.report import summary_markdown

HERE = Path(__file__).resolve().parents[1] / "mermaid"
CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def render():
    if not Path(CHROMIUM).is_file():
        if os.geteuid() != 0:
            pytest.skip(f"no {CHROMIUM} (apt-get install chromium; tests/run does as root): rendering not checked")
        pytest.fail(f"no {CHROMIUM}: tests/run installs it as root (apt-get install chromium)")
    node, npm = shutil.which("node"), shutil.which("npm")
    assert node and npm, "the rendering check needs node and npm on PATH (Debian: nodejs npm)"
    if not (HERE / "node_modules" / "playwright-core").is_dir():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=HERE, check=True, timeout=600)

    def run(markdown: str) -> list[dict]:
        bodies = re.findall(r"```mermaid\n(.*?)```", markdown, re.S)
        done = subprocess.run([node, "render.mjs", CHROMIUM], cwd=HERE, input=json.dumps(bodies), capture_output=True,
                              text=True, timeout=180)
        assert done.returncode == 0, done.stderr[-3000:]
        return json.loads(done.stdout)
    return run


def categories(chart: dict) -> list[dict]:
    """The texts of a horizontal chart's category axis (the left one), top to bottom."""
    return sorted(chart["axes"]["left"], key=lambda label: label["y"])


def overlapping(boxes: list[list[float]]) -> list[tuple[int, int]]:
    return [(i, j) for i, a in enumerate(boxes) for j, b in enumerate(boxes[i + 1:], i + 1)
            if a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]]


def test_the_comment_s_charts_render_one_bar_per_metric_and_point_with_distinct_labels(render, tmp_path):
    comment = summary_markdown(compared(tmp_path))
    charts = render(comment)
    assert charts and all(c["ok"] for c in charts), [c["error"] for c in charts]
    assert sum(len(c["bars"]) for c in charts) == len(METRICS) * len(POINTS)
    for chart in charts:
        texts = [label["text"] for label in categories(chart)]
        assert len(chart["bars"]) == len(texts) > 0 and "% of baseline" in chart["title"], texts
        assert not overlapping([label["box"] for label in categories(chart)]), texts
        assert all(label["box"][0] >= 0 for label in categories(chart)), texts  # none cut off at the left
    labels = [label["text"] for chart in charts for label in categories(chart)]
    assert len(set(labels)) == len(labels), labels
    assert {"host(0) radioState:timeavg numHosts=10", "host(1) radioState:timeavg numHosts=20",
            "duration numHosts=10"} <= set(labels)


def test_each_bar_reaches_its_share_of_the_baseline_on_the_axis(render):
    """Mermaid's bars start where the value axis does, so they show the candidate as % of the baseline (150 %,
    50 %, 120 %), not a signed change: each bar ends at its value on the rendered axis."""
    [chart] = render(relative_charts([RelativeBar("up", 0.5), RelativeBar("down", -0.5), RelativeBar("less up", 0.2)]))
    assert [label["text"] for label in categories(chart)] == ["up", "down", "less up"]
    ticks = [(float(t["text"]), t["x"]) for t in chart["axes"]["top"]]
    (v1, x1), (v2, x2) = ticks[0], ticks[-1]
    at = {value: x1 + (value - v1) * (x2 - x1) / (v2 - v1) for value in (150, 50, 120)}
    ends = [bar["x"] + bar["width"] for bar in sorted(chart["bars"], key=lambda bar: bar["y"])]
    assert ends == pytest.approx([at[150], at[50], at[120]], abs=0.5)
    assert ends[0] > ends[2] > ends[1]


def test_a_full_chart_shows_every_label_without_overlap(render):
    """Mermaid drops all of a horizontal chart's labels when one is too wide: labels are cut to fit."""
    bars = [RelativeBar(f"host({i}).mac.queue[{i}].server radioState:timeavg numHosts={i}", 0.2 + i / 100)
            for i in range(MAX_BARS)]
    [chart] = render(relative_charts(bars))
    labels = categories(chart)
    assert len(chart["bars"]) == len(labels) == MAX_BARS and len({label["text"] for label in labels}) == MAX_BARS
    assert not overlapping([label["box"] for label in labels])
