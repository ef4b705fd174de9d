from __future__ import annotations

import math
import re

import pytest

from opp_ci.charts import CHART_BUDGET, MAX_BARS, MAX_CHARTS, RelativeBar, label, outcome_pie, relative_charts


def test_labels_lose_what_mermaid_cannot_quote():
    assert label('a "b"\n#c; [d] `e`') == "a b c d e"
    assert len(label("x" * 100)) == 40 and label("x" * 100).endswith("…")
    assert label("") == "-"


def test_pie_leaves_out_empty_slices():
    text = outcome_pie({"PASS": 3, "FAIL": 0, "ERROR (expected)": 1})
    assert text.startswith("```mermaid\npie showData title Suite outcome\n")
    assert '"PASS" : 3' in text and "FAIL\"" not in text and '"ERROR (expected)" : 1' in text
    assert outcome_pie({"PASS": 0}) == ""


def test_relative_charts_have_one_bar_per_change_and_a_baseline_line():
    text = relative_charts([RelativeBar("util", 0.5), RelativeBar("util", -0.75), RelativeBar("nan", math.nan)])
    assert 'x-axis ["util", "util #2"]' in text and "bar [150, 25]" in text and "line [100, 100]" in text
    assert "nan" not in text and text.count("```mermaid") == 1
    assert relative_charts([]) == "" and relative_charts([RelativeBar("inf", math.inf)]) == ""


def test_relative_charts_are_split_by_order_of_magnitude_largest_first():
    text = relative_charts([RelativeBar("small", 0.001), RelativeBar("huge", 40.0), RelativeBar("mid", -0.3)])
    titles = re.findall(r'title "([^"]*)"', text)
    assert titles == [f"Changes {size}: candidate as % of baseline"
                      for size in ("of 1,000-10,000 %", "of 10-100 %", "below 1 %")]
    assert "bar [4100]" in text and "bar [70]" in text and "bar [100.1]" in text


@pytest.mark.parametrize("count", [5, 30, 500])
def test_relative_charts_stay_within_the_budget(count):
    bars = [RelativeBar(f"metric number {i} with a long name", (i % 9 + 1) * 10.0 ** (i % 6 - 3)) for i in range(count)]
    text = relative_charts(bars)
    assert 0 < len(text) <= CHART_BUDGET and text.count("```mermaid") <= MAX_CHARTS
    assert all(len(re.findall(r'"metric', axis)) <= MAX_BARS for axis in re.findall(r"x-axis \[.*\]", text))


def test_numbers_have_no_exponent():
    text = relative_charts([RelativeBar("a", 2e10), RelativeBar("b", -0.99999999), RelativeBar("c", 4e-9)])
    assert "bar [2000000000000]" in text and "bar [0.000001]" in text and "e+" not in text and "e-" not in text
    assert 'y-axis "% of baseline" 99.95 --> 100.05' in text  # a change too small to draw still has an axis
