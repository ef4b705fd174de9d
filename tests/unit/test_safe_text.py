"""opp_ci.safe_text, one function per output, and the regressions of issue 22 it fixes: secrets in
Redis URLs (5), characters XML 1.0 cannot carry (6), HTML, Markdown and control characters in summary.md (8),
commands that break out of their code span (13)."""

from __future__ import annotations

import json
import shlex
import xml.etree.ElementTree as ET

import pytest
from markdown_it import MarkdownIt

from opp_ci import github
from opp_ci.charts import label, outcome_pie
from opp_ci.errors import UserError
from opp_ci.queue import checked_connection, redacted
from opp_ci.records import Campaign, RunRecord, RunStatus
from opp_ci.report import accept_command, junit_xml, summary_markdown, write_reports
from opp_ci.s3store import parse_s3_url
from opp_ci.safe_text import (
    md_cell,
    md_code,
    md_fence,
    md_inline,
    md_url,
    plain_text,
    redacted_message,
    redacted_url,
    shell_join,
    xml_text,
)

MARKDOWN = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])


def rendered_inline(markdown: str) -> str:
    return MARKDOWN.renderInline(markdown)


def escaped(text: str) -> str:
    """What markdown-it writes for `text` shown as text."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


# --- 5: secrets in URLs ---


@pytest.mark.parametrize(("url", "shown"), [
    ("redis://127.0.0.1:1/0?password=hunter2", "redis://127.0.0.1:1/0?password=***"),
    ("redis://:hunter2@host:6379/0", "redis://:***@host:6379/0"),
    ("redis://default:hunter2@host/0", "redis://default:***@host/0"),
    ("rediss://hunter2@host/0", "rediss://***@host/0"),
    ("rediss://host/0?ssl_password=hunter2&db=1", "rediss://host/0?ssl_password=***&db=1"),
    ("redis://host/0?token=hunter2;PASSWORD=hunter2", "redis://host/0?token=***;PASSWORD=***"),
    ("s3://bucket/p?X-Amz-Signature=hunter2&X-Amz-Credential=hunter2", "s3://bucket/p?X-Amz-Signature=***&X-Amz-Credential=***"),
    ("redis://host/0?db=1?password=hunter2", "redis://host/0?db=1?password=***"),
    ("rediss://:hunt#er2@host:6379", "rediss://:***@host:6379"),  # malformed: the password holds a '#'
    ("redis://host:6379/0?db=2&client_name=ci", "redis://host:6379/0?db=2&client_name=ci"),
    ("s3://bucket/prefix", "s3://bucket/prefix"),
    ("redis://[::1", "redis://[::1"),
])
def test_redacted_url_hides_every_secret_and_nothing_else(url, shown):
    assert redacted_url(url) == shown
    assert redacted(url) == shown  # the name opp_ci.queue's messages use is the same function


def test_redacted_message_hides_secrets_a_library_repeats():
    url = "rediss://:hunt#er2@host:6379"
    message = redacted_message(f"cannot reach Redis at {url}: Port could not be cast to integer value as 'hunt'", url)
    assert "hunt" not in message and "er2" not in message
    assert message.startswith("cannot reach Redis at rediss://:***@host:6379: ")


@pytest.mark.parametrize(("url", "shown"), [
    ("redis://127.0.0.1:1/0?password=hunter2", "redis://127.0.0.1:1/0?password=***"),
    # before: a TypeError traceback (redis-py passes unknown query parameters to its connection)
    ("rediss://127.0.0.1:1/0?ssl_password=hunter2&token=hunter2", "rediss://127.0.0.1:1/0?ssl_password=***&token=***"),
])
def test_cannot_reach_redis_does_not_print_a_query_password(url, shown):
    """Before: `cannot reach Redis at redis://127.0.0.1:1/0?password=hunter2: Error 111 ...`."""
    with pytest.raises(UserError) as refused:
        checked_connection(url)
    assert "hunter2" not in str(refused.value)
    assert str(refused.value).startswith(f"cannot reach Redis at {shown}: ")


def test_a_bad_s3_url_is_shown_redacted():
    with pytest.raises(UserError) as refused:
        parse_s3_url("s3:///key?token=hunter2")
    assert "hunter2" not in str(refused.value) and "token=***" in str(refused.value)


# --- 6: junit.xml ---

XML_INVALID = ["\x00", "\x08", "\x0b", "\x1b", "\x1f", "\ud800", "\udfff", "\ufffe", "\uffff"]


@pytest.mark.parametrize("char", XML_INVALID)
def test_xml_text_makes_every_invalid_character_visible(char):
    shown = xml_text(f"a{char}b")
    ET.fromstring(f"<x y='{shown}'>{shown}</x>")
    assert shown.startswith("a\\") and shown.endswith("b")


@pytest.mark.parametrize("char", XML_INVALID)
def test_junit_xml_parses_whatever_a_run_printed(char):
    """Before: `ExpatError: reference to invalid character number` for U+FFFE/U+FFFF and surrogates."""
    record = RunRecord(f"Con{char}fig", 0, status=RunStatus.FAILED, error=f"bad {char} end",
                       log_tail=f"line {char}\n", itervars={f"n{char}": f"v{char}"})
    passed = RunRecord(f"Con{char}fig", 1, status=RunStatus.PASSED, log_tail=f"fine {char}\n")
    root = ET.fromstring(junit_xml(Campaign("c", [record, passed])))
    [failure] = root.iter("failure")
    assert failure.get("message") == xml_text(f"bad {char} end")
    assert xml_text(char) in failure.text


def test_write_reports_writes_both_files_for_a_passing_campaign_with_ufffe(tmp_path):
    write_reports(Campaign("c", [RunRecord("A", 0, status=RunStatus.PASSED, log_tail="out \uffff end")]), tmp_path)
    assert "out \\uffff end" in ET.parse(tmp_path / "junit.xml").getroot().find(".//system-out").text
    assert "all runs passed" in (tmp_path / "summary.md").read_text(encoding="utf-8")


def test_xml_text_keeps_what_xml_allows():
    text = "tab\there\nline\r\u00e9\u0085\U0001fffe\U0001f600"
    assert xml_text(text) == text


# --- 8: summary.md, the check run and the PR comment ---

HOSTILE = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "<details><summary>x</summary>",
    "\x1b]8;;https://evil.example\x1b\\click\x1b]8;;\x1b\\ \x1b[31mred\x1b[0m",
    "nul\x00 del\x7f c1\x85\x9b bidi\u202e\u2066",
    "[link](javascript:alert(1)) ![img](https://t.example/p.png) *em* _em_ ~~s~~ `code` $x$",
    "a | b \\| c &lt; &amp;",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_md_inline_renders_as_exactly_the_text(text):
    one_line = " ".join(text.split())
    assert rendered_inline(md_inline(text)) == escaped(plain_text(one_line))


@pytest.mark.parametrize("text", HOSTILE)
def test_md_cell_stays_one_cell(text):
    table = MARKDOWN.render(f"| a | b |\n|---|---|\n| {md_cell(text)} | end |\n")
    assert table.count("<td>") == 2 and "<td>end</td>" in table
    for tag in ("<script", "<img", "<details", "<a ", "<em>", "<code>", "<s>"):
        assert tag not in table


def test_md_cell_keeps_one_line_and_its_length_cap():
    cell = md_cell("x" * 500 + "\n| y")
    assert "\n" not in cell and len(cell) == 300 and cell.endswith("…")


@pytest.mark.parametrize("text", ["plain", "a`b", "``x``", "`", "a ``` b", " spaced ", "x|y", "a&b"])
def test_md_code_is_a_code_span_nothing_breaks_out_of(text):
    assert rendered_inline(md_code(text)) == f"<code>{escaped(text.strip())}</code>"
    table = MARKDOWN.render(f"| a | b |\n|---|---|\n| {md_code(text, cell=True)} | end |\n")
    assert table.count("<td>") == 2 and "<td>end</td>" in table


def test_md_code_shows_angle_brackets_as_escaped_text():
    """A code span cut short by a size limit would let a raw `<` through as HTML."""
    assert md_code("logs/<img src=x>.log") == "logs/&lt;img src=x&gt;.log"


def test_md_fence_is_longer_than_any_backtick_run():
    text = "echo ```\n````` and `"
    assert MARKDOWN.render(md_fence(text, "sh") + "\nafter\n") == \
        f'<pre><code class="language-sh">{escaped(text)}\n</code></pre>\n<p>after</p>\n'


def test_md_url_links_http_only():
    assert md_url("javascript:alert(1)") is None and md_url("data:text/html,x") is None
    assert md_url("https://github.com/o/r/actions/runs/7") == "https://github.com/o/r/actions/runs/7"
    assert md_url("https://x.example/a b)<c>") == "https://x.example/a%20b%29%3Cc%3E"


def test_summary_carries_no_html_or_control_characters_from_a_run():
    """Before: `| ❌ failed | <script>alert(1)</script> | #0 | \\x1b]8;;...<img src=x onerror=alert(1)> \\x00 |`."""
    runs = [RunRecord(text, i, status=RunStatus.FAILED, error=text, worker=text, itervars={text: text},
                      failed_attempts=[{"reason": text}], attempts=2) for i, text in enumerate(HOSTILE)]
    text = summary_markdown(Campaign("c<b>", runs))
    assert "<" not in text and ">" not in text
    assert not any((ord(c) < 0x20 and c != "\n") or 0x7f <= ord(c) <= 0x9f for c in text)
    html = MARKDOWN.render(text)
    for tag in ("<script", "<img", "<details", "<a ", "<em>", "<s>"):
        assert tag not in html


def test_mermaid_labels_lose_control_characters_entities_and_surrogates():
    assert label("a\x1b[31m&lt;\ud800b\u202e") == "a 31m lt b"
    pie = outcome_pie({"x\x00&y": 1})
    assert '"x y" : 1' in pie and "\x00" not in pie


def test_annotations_and_the_check_run_text_are_plain_text(tmp_path):
    record = RunRecord("A\x1b", 0, status=RunStatus.FAILED, error="bad \ud800 \x1b[31m", log_tail="\x00 tail\n")
    found = github.annotation(record, tmp_path, tmp_path)
    json.dumps(found, ensure_ascii=False).encode()  # GitHub's API takes UTF-8: no lone surrogate
    assert found["message"] == "bad \\ud800 \\x1b[31m" and found["raw_details"] == "\\x00 tail\n"
    assert "\x1b" not in found["title"]
    body = github.report_markdown("## x\x1b\n", "javascript:alert(1)", 1000)
    assert body == "## x\\x1b\n"
    assert github.step_summary_text("a\x00\ud800\n") == "a\\x00\\ud800\n"


# --- 13: commands to copy ---


@pytest.mark.parametrize("words", [["x```y.csv"], ["a b", "it's", "$(rm -rf ~)", "`id`", ""], ["plain.csv"]])
def test_shell_join_splits_back_into_the_same_words(words):
    assert shlex.split(shell_join(words)) == words


def test_shell_join_quotes_control_characters_for_bash():
    undecodable = b"b\xffy".decode("utf-8", "surrogateescape")  # a file name that is not UTF-8
    assert shell_join(["e\x1b[31m", "it's\n", undecodable]) == "$'e\\x1b[31m' $'it\\'s\\x0a' $'b\\xffy'"


def test_the_accept_command_cannot_break_out_of_its_fence():
    """Before: ```sh / opp-ci baseline update --suite x```y.csv --from OUT_DIR / ``` (the fence closed early)."""
    campaign = Campaign("c", [RunRecord("A", 0, status=RunStatus.FAILED)])
    campaign.extra["suite"] = {"passed": 0, "rows": 1, "files": ["x```y.csv", "a b.csv"], "outcomes": {"FAIL": 1}}
    html = MARKDOWN.render(summary_markdown(campaign))
    command = accept_command(["x```y.csv", "a b.csv"])
    assert command == "opp-ci baseline update --suite 'x```y.csv' --suite 'a b.csv' --from OUT_DIR"
    assert f'<pre><code class="language-sh">{escaped(command)}\n</code></pre>' in html
    assert shlex.split(command) == ["opp-ci", "baseline", "update", "--suite", "x```y.csv", "--suite", "a b.csv",
                                    "--from", "OUT_DIR"]

