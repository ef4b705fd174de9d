"""Text from outside opp-ci (simulation output, error messages, names, URLs), made safe for the output it goes to.

Each output format has one function here, and every untrusted text reaches that output through it:

- `redacted_url` / `redacted_message`: any message that shows a Redis or S3 URL (secrets in the userinfo
  and in query parameters named like a secret are replaced by ***);
- `xml_text`: junit.xml (XML 1.0 cannot carry most control characters, lone surrogates, U+FFFE/U+FFFF;
  expat refuses the whole file for one of them);
- `md_inline`, `md_cell`, `md_code`, `md_fence`, `md_url`: summary.md, which is also the job summary, the
  check run's text and the pull-request comment (no HTML, no Markdown from the input, no control characters);
- `plain_text`: plain-text fields shown by GitHub and terminals (check-run annotations);
- `shell_join`: a command printed for the user to copy, quoted so that it runs with exactly these words.

Characters a format cannot carry become visible escapes (`\\x1b`, `\\ufffe`), so a reader still sees
what the simulation printed.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable
from urllib.parse import quote, unquote

# --- URLs ---

#: What replaces a secret in a URL or message.
MASK = "***"
#: A query parameter whose name contains one of these carries a secret (password, ssl_password,
#: token, api_key, X-Amz-Signature, ...); over-redacting a harmless one costs nothing.
_SECRET_NAME = re.compile(r"pass|pwd|secret|token|key|auth|credential|signature|sig$|session", re.IGNORECASE)
#: A `name=value` parameter after `?` or `#`; a `?` inside a query also separates (over-redacting is harmless).
_PARAMETER = re.compile(r"([?#&;])([^=&;#?]*)=([^&;#?]*)")
#: A secret shorter than this is not searched for in free text (it would mask unrelated letters).
_MIN_SECRET_IN_TEXT = 3


def redacted_url(url: str) -> str:
    """A URL fit to print: the userinfo's password (or a lone userinfo, e.g. a token) and the value of every
    query or fragment parameter named like a secret replaced by ***. Never raises, also for a malformed URL."""
    head, rest = _split_authority(str(url))
    userinfo, at, remainder = _userinfo(rest)
    if at:
        name, colon, _ = userinfo.partition(":")
        rest = (f"{name}:{MASK}" if colon else MASK) + at + remainder
    return head + _redacted_parameters(rest)


def redacted_message(text: str, url: str) -> str:
    """`text` (an error from a client library, say) with every secret of `url` in it replaced by ***,
    and `url` itself by its redacted form."""
    text = str(text).replace(str(url), redacted_url(url))
    for secret in sorted(_secrets(url), key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def _split_authority(url: str) -> tuple[str, str]:
    """("scheme://", the rest), or ("", url) for a text without an authority."""
    scheme, separator, rest = url.partition("://")
    if not separator or not re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*", scheme):
        return "", url
    return scheme + separator, rest


def _userinfo(rest: str) -> tuple[str, str, str]:
    """(userinfo, "@", host and the rest), or ("", "", rest) without userinfo. A password holding `/`, `?`
    or `#` unencoded (a malformed URL, whose error message shows it) ends at the URL's last `@`."""
    end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    userinfo, at, host = rest[:end].rpartition("@")
    if at:
        return userinfo, at, host + rest[end:]
    userinfo, at, host = rest.rpartition("@")
    return (userinfo, at, host) if at else ("", "", rest)


def _redacted_parameters(rest: str) -> str:
    """`name=value` pairs after `?` or `#` with a secret-like name get *** as their value."""
    def mask(match: re.Match[str]) -> str:
        name = match.group(2)
        return match.group(1) + name + "=" + (MASK if _SECRET_NAME.search(unquote(name)) else match.group(3))

    start = min((i for i in (rest.find("?"), rest.find("#")) if i >= 0), default=len(rest))
    return rest[:start] + _PARAMETER.sub(mask, rest[start:])


def _secrets(url: str) -> set[str]:
    """Every secret `redacted_url` hides, as written and percent-decoded, long enough to search for."""
    _, rest = _split_authority(str(url))
    userinfo, at, _ = _userinfo(rest)
    found = set()
    if at:
        name, colon, password = userinfo.partition(":")
        secret = password if colon else name
        found |= {secret, *re.split(r"[/?#]", secret)}  # the pieces a parser of a malformed URL reports
    for _, name, value in _PARAMETER.findall(rest):
        if _SECRET_NAME.search(unquote(name)):
            found.add(value)
    found |= {unquote(s) for s in found} | {unquote(s.replace("+", " ")) for s in found}
    return {s for s in found if len(s) >= _MIN_SECRET_IN_TEXT}


# --- characters ---


def visible(char: str) -> str:
    """A character as a Python-style escape: `\\x1b`, `\\ufffe`, `\\U0010fffe`."""
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _code_points(*ranges: tuple[int, int]) -> list[int]:
    return [code for low, high in ranges for code in range(low, high + 1)]


#: Not allowed in XML 1.0 (its Char production): C0 controls but tab, LF, CR; surrogates; U+FFFE, U+FFFF.
XML_INVALID = frozenset(_code_points((0x00, 0x08), (0x0B, 0x0C), (0x0E, 0x1F), (0xD800, 0xDFFF), (0xFFFE, 0xFFFF)))
#: Not for display anywhere: every control character (C0, DEL, C1), surrogates (not UTF-8), the
#: noncharacters U+FFFE/U+FFFF, and the bidirectional overrides and isolates that reorder what is shown.
UNPRINTABLE = frozenset(_code_points((0x00, 0x1F), (0x7F, 0x9F), (0xD800, 0xDFFF), (0xFFFE, 0xFFFF),
                                     (0x202A, 0x202E), (0x2066, 0x2069)))

_XML_TABLE = {code: visible(chr(code)) for code in XML_INVALID}
_PLAIN_TABLE = {code: visible(chr(code)) for code in UNPRINTABLE - {ord("\n"), ord("\t")}}


def xml_text(text: object) -> str:
    """Text that XML 1.0 can carry, in an attribute or an element: invalid characters as visible escapes."""
    return str(text).translate(_XML_TABLE)


def plain_text(text: object) -> str:
    """Text for a plain-text field (a check-run annotation): lines and tabs kept, other controls,
    surrogates and bidirectional overrides as visible escapes."""
    return str(text).translate(_PLAIN_TABLE)


# --- Markdown (GitHub-flavoured, as GitHub renders the job summary, check runs and comments) ---

#: Table-cell texts are cut to this many characters.
CELL_LIMIT = 300
#: Punctuation that starts Markdown inline syntax (emphasis, code, links, tables, strikethrough, math).
_MD_PUNCTUATION = "\\`*_[]|~$"
_MD_TABLE = {
    **{code: "\\" + visible(chr(code)) for code in UNPRINTABLE},  # the escape's backslash, escaped
    **{ord(c): "\\" + c for c in _MD_PUNCTUATION},
    ord("&"): "&amp;", ord("<"): "&lt;", ord(">"): "&gt;",
}


def md_inline(text: object, limit: int | None = None) -> str:
    """Untrusted text as Markdown that renders as exactly that text, on one line: no HTML, no Markdown
    syntax, no control characters. `limit` cuts it (before escaping, so an escape is never cut)."""
    one_line = " ".join(str(text).split())
    if limit is not None and len(one_line) > limit:
        one_line = one_line[: limit - 1] + "…"
    return one_line.translate(_MD_TABLE)


def md_cell(text: object) -> str:
    """Text for a Markdown table cell: `md_inline`, at most CELL_LIMIT characters."""
    return md_inline(text, CELL_LIMIT)


def md_code(text: object, cell: bool = False) -> str:
    """A code span showing `text` literally on one line (a path, an id), delimited by more backticks than
    any run in it, as CommonMark allows. `cell`: inside a table, where GFM needs pipes escaped even here.

    A text with `<` or `>` is shown as `md_inline` text instead: a code span cannot escape them, and one cut
    short (GitHub's size limits) would let them through as HTML."""
    content = plain_text(" ".join(str(text).split()))
    if "<" in content or ">" in content:
        return md_inline(text)
    if cell:
        content = content.replace("|", "\\|")
    if not content:
        return ""
    fence = "`" * (_longest_backtick_run(content) + 1)
    if content.startswith("`") or content.endswith("`") or (content.startswith(" ") and content.endswith(" ")):
        content = f" {content} "  # CommonMark strips one space from each side
    return f"{fence}{content}{fence}"


def md_fence(text: object, info: str = "") -> str:
    """A fenced code block of `text` (which may have several lines) whose fence is longer than any backtick
    run in it, so the text cannot close it; control characters as visible escapes."""
    content = plain_text(text).replace("\t", visible("\t")).rstrip("\n")
    fence = "`" * max(3, _longest_backtick_run(content) + 1)
    return f"{fence}{info}\n{content}\n{fence}"


def md_url(url: object) -> str | None:
    """An http(s) URL usable as a Markdown link destination (characters that end or break one
    percent-encoded), or None for anything else (javascript:, data:, ...)."""
    text = str(url or "").strip()
    if not re.match(r"https?://", text, re.IGNORECASE):
        return None
    return quote(plain_text(text), safe="/:?#@!$&'*+,;=%-._~")


def _longest_backtick_run(text: str) -> int:
    return max((len(run) for run in re.findall(r"`+", text)), default=0)


# --- commands to copy ---


def shell_word(word: str) -> str:
    """One shell word: `shlex.quote`, or for a word with characters a terminal should not get raw (controls,
    surrogates from undecodable file names), bash's `$'...'` quoting with those as escapes."""
    if not any(ord(c) in UNPRINTABLE for c in word):
        return shlex.quote(word)
    return "$'" + "".join(_dollar_quoted(c) for c in word) + "'"


def _dollar_quoted(char: str) -> str:
    code = ord(char)
    if char in "\\'":
        return "\\" + char
    if 0xDC80 <= code <= 0xDCFF:  # an undecodable byte of a file name (os.fsdecode's surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    return visible(char) if code in UNPRINTABLE else char


def shell_join(words: Iterable[str]) -> str:
    """A command line that a POSIX shell (bash for `$'...'`) splits back into exactly `words`."""
    return " ".join(shell_word(str(w)) for w in words)
