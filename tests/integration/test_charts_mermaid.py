"""The generated Mermaid blocks, parsed by the real Mermaid parser (the `mermaid` package pinned in
tests/mermaid/package-lock.json, run by node under jsdom)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from opp_ci.charts import RelativeBar, outcome_pie, relative_charts

HERE = Path(__file__).resolve().parents[1] / "mermaid"


@pytest.fixture(scope="module")
def parse():
    node, npm = shutil.which("node"), shutil.which("npm")
    assert node and npm, "the Mermaid check needs node and npm on PATH (Debian: nodejs npm)"
    if not (HERE / "node_modules" / "mermaid").is_dir():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=HERE, check=True, timeout=600)

    def run(blocks: list[str]) -> list[dict]:
        bodies = [body for text in blocks for body in re.findall(r"```mermaid\n(.*?)```", text, re.S) or [text]]
        done = subprocess.run([node, "parse.mjs"], cwd=HERE, input=json.dumps(bodies), capture_output=True,
                              text=True, timeout=120, check=True)
        return json.loads(done.stdout)
    return run


def test_generated_blocks_parse(parse):
    blocks = [
        outcome_pie({"PASS": 7, "FAIL (should be PASS)": 1, "ERROR (expected)": 2}),
        outcome_pie({'we"ird #1; [x]\nlabel': 1}),
        relative_charts([RelativeBar("channelUtilization:last numHosts=10", 0.18),
                         RelativeBar('odd "name"; #x', -3), RelativeBar("host(3).mac big", 1e12)]),
        relative_charts([RelativeBar(f"m{i}", 1 / (i + 1)) for i in range(100)]),
    ]
    results = parse(blocks)
    types = [r["type"] for r in results]
    assert types[:2] == ["pie", "pie"] and types[2:] == ["xychart"] * len(types[2:]) and len(types) >= 6, results
    assert all(r["ok"] for r in results), results


def test_the_parser_rejects_a_broken_block(parse):
    [result] = parse(["xychart-beta\n    x-axis [\"a\"\n    bar [1]"])
    assert not result["ok"]
