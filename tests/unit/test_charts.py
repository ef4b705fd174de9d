from __future__ import annotations

import math

import pytest

from opp_ci.charts import CHART_BUDGET, MetricChange, label, metric_bars, outcome_pie


def test_labels_lose_what_mermaid_cannot_quote():
    assert label('a "b"\n#c; [d] `e`') == "a b c d e"
    assert len(label("x" * 100)) == 40 and label("x" * 100).endswith("…")
    assert label("") == "-"


def test_pie_leaves_out_empty_slices():
    text = outcome_pie({"PASS": 3, "FAIL": 0, "ERROR (expected)": 1})
    assert text.startswith("```mermaid\npie showData title Suite outcome\n")
    assert '"PASS" : 3' in text and "FAIL\"" not in text and '"ERROR (expected)" : 1' in text
    assert outcome_pie({"PASS": 0}) == ""


def test_bars_have_two_series_and_unique_names():
    text = metric_bars([MetricChange("util", 0.5, 0.75), MetricChange("util", 2, 1), MetricChange("nan", math.nan, 1)])
    assert 'x-axis ["util", "util (2)"]' in text
    assert "bar [0.5, 2]" in text and "bar [0.75, 1]" in text and "nan" not in text
    assert metric_bars([]) == ""


@pytest.mark.parametrize("count", [5, 30, 500])
def test_bars_stay_within_the_budget(count):
    changes = [MetricChange(f"metric number {i} with a long name", i * 1.5, i * 2.5) for i in range(count)]
    text = metric_bars(changes)
    assert 0 < len(text) <= CHART_BUDGET and text.count('"metric') <= 30


def test_numbers_have_no_exponent():
    text = metric_bars([MetricChange("a", 4e-9, 2e12)])
    assert "bar [0.000000004]" in text and "bar [2000000000000]" in text and "e+" not in text
