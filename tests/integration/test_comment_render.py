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

from opp_ci.charts import RelativeBar, relative_charts
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


def test_the_comment_s_charts_render_one_bar_per_metric_and_point_with_distinct_labels(render, tmp_path):
    comment = summary_markdown(compared(tmp_path))
    charts = render(comment)
    assert charts and all(c["ok"] for c in charts), [c["error"] for c in charts]
    assert sum(c["bars"] for c in charts) == len(METRICS) * len(POINTS)
    for chart in charts:
        assert chart["bars"] == len(chart["labels"]) > 0, chart["labels"]
        assert "% of baseline" in chart["title"]
    labels = [label for chart in charts for label in chart["labels"]]
    assert len(set(labels)) == len(labels), labels
    assert {"host(0) radioState:timeavg numHosts=10", "host(1) radioState:timeavg numHosts=20",
            "duration numHosts=10"} <= set(labels)


def test_each_bar_reaches_its_share_of_the_baseline_on_the_axis(render):
    """Mermaid draws bars up from the axis' bottom, so the bars show the candidate as % of the baseline (150 %,
    50 %, 120 %), not a signed change; each bar's top sits at its value on the rendered axis."""
    [chart] = render(relative_charts([RelativeBar("up", 0.5), RelativeBar("down", -0.5), RelativeBar("less up", 0.2)]))
    assert chart["labels"] == ["up", "down", "less up"] and chart["bars"] == 3
    (v1, y1), (v2, y2) = chart["ticks"][0], chart["ticks"][-1]
    at = [y1 + (value - v1) * (y2 - y1) / (v2 - v1) for value in (150, 50, 120)]
    assert chart["barTops"] == pytest.approx(at, abs=0.5)
    assert y2 > y1 and chart["barTops"][1] > chart["barTops"][2] > chart["barTops"][0]  # y grows downwards
