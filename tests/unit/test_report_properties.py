"""Property: whatever text a run carries (any code point, lone surrogates, control characters, 100 kB lines)
as its error message, log excerpt, config name or iteration variables, junit.xml parses, summary.md has no
control character and no `<`/`>` from it, and campaign.json round-trips (issue 22)."""

from __future__ import annotations

import json
import re
import unicodedata
import xml.etree.ElementTree as ET
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opp_ci.records import Campaign, RunRecord, RunStatus
from opp_ci.report import junit_xml, summary_markdown

#: Every code point Python allows in a str, surrogates included, with the troublemakers made likely.
ANY_CHARACTER = st.characters(codec=None, categories=None)
TROUBLE = st.sampled_from(["\x00", "\x1b", "\x1b]8;;https://x\x1b\\", "\x7f", "\x85", "\ud800", "\udfff", "\ufffe",
                           "\uffff", "\u202e", "<", ">", "&", "|", "`", "```", "\\", "$", "*", "_", "[", "]", "\n",
                           "\r", "\t", "<script>", "<img src=x onerror=alert(1)>", "<details>", "]]>", "&#0;"])


def unpaired(text: str) -> str:
    """`text` with no high surrogate right before a low one: JSON cannot keep such a pair apart (json.loads
    joins `"\\ud800\\udc00"` into U+10000). Process output decoded with surrogateescape has low ones only."""
    return re.sub("([\ud800-\udbff])(?=[\udc00-\udfff])", "\\1.", text)


TEXT = st.lists(st.one_of(st.text(ANY_CHARACTER, max_size=12), TROUBLE), max_size=12).map("".join).map(unpaired)
#: A huge line now and then: a simulation that printed 100 kB without a newline.
HUGE = st.builds(lambda piece, count: piece * count, TEXT.filter(bool), st.integers(1, 100_000)).map(
    lambda text: unpaired(text[:100_000]))
FREE_TEXT = st.one_of(TEXT, TEXT, TEXT, HUGE)


@st.composite
def records(draw: st.DrawFn, run: int) -> RunRecord:
    return RunRecord(
        draw(TEXT),
        run,
        status=draw(st.sampled_from(list(RunStatus))),
        error=draw(st.none() | FREE_TEXT),
        log_tail=draw(FREE_TEXT),
        worker=draw(TEXT),
        itervars=draw(st.dictionaries(TEXT, TEXT, max_size=3)),
        attempts=2,
        failed_attempts=[{"reason": draw(TEXT)}],
    )


@st.composite
def campaigns(draw: st.DrawFn) -> Campaign:
    count = draw(st.integers(1, 4))
    return Campaign("property", [draw(records(run)) for run in range(count)])


def shown_badly(markdown: str) -> list[str]:
    """Characters summary.md must not carry: control characters but the line end, surrogates (not UTF-8),
    U+FFFE/U+FFFF, bidirectional overrides, and `<`/`>` (opp-ci's own Markdown has none without a regression)."""
    return [c for c in markdown if (c != "\n" and unicodedata.category(c) in ("Cc", "Cs"))
            or c in "<>\ufffe\uffff\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"]


#: Hypothesis keeps its example database in .hypothesis/ (which it git-ignores itself).
SETTINGS = settings(deadline=None, suppress_health_check=[
    HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture])


@settings(SETTINGS, max_examples=200)
@given(campaigns())
def test_reports_take_any_text(campaign: Campaign) -> None:
    root = ET.fromstring(junit_xml(campaign))  # expat: refuses any character XML 1.0 does not allow
    assert len(list(root.iter("testcase"))) == len(campaign.runs)
    markdown = summary_markdown(campaign)
    assert shown_badly(markdown) == []
    markdown.encode("utf-8")


@settings(SETTINGS, max_examples=50)
@given(campaigns(), st.booleans())
def test_campaign_json_round_trips_any_text(tmp_path: Path, campaign: Campaign, compact: bool) -> None:
    path = campaign.write(tmp_path, compact=compact)
    assert json.loads(path.read_text(encoding="utf-8")) == campaign.to_json()
    assert Campaign.read(tmp_path).to_json() == campaign.to_json()
