"""Markup an answer must not hand to a renderer: script, event handlers, script URLs, and images that leak data to
another site when fetched; found, and removed with the answer's code left exactly as written; pure.

Chat front ends render answers as CommonMark with raw HTML, so what counts is what that renderer will run or
fetch. URLs are judged as a browser reads them (entities decoded, control characters and whitespace dropped, case
folded); code spans and fenced blocks, which every renderer shows literally, are neither scanned nor changed.
Neutralisation works from allow-lists: harmless formatting tags stay, dangerous elements and attributes go, a
link with an unsafe destination keeps only its text, and an image from a host not allowed becomes its alt text.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import contextlib
import html
import re
import urllib.parse
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from functools import cache

from services.guardrails.scanners import Finding

# --- where the code is ---------------------------------------------------------------------------------------

_FENCE_OPEN = re.compile(r" {0,3}(`{3,}|~{3,})([^\n]*)")
_HTML_BLOCK = re.compile(
    r" {0,3}<(?:(script|pre|style|textarea)\b|(!--)|(\?)|(!\[CDATA\[)|(![A-Za-z])|/?[A-Za-z][A-Za-z0-9-]*(?:[\s/>]|$))",
    re.IGNORECASE,
)
"""A line opening a raw HTML block (CommonMark's seven kinds): no code spans inside; group n: kind n's end."""
_HTML_BLOCK_END = (
    re.compile(r"</(?:script|pre|style|textarea)\s*>", re.I),
    re.compile(r"-->"),
    re.compile(r"\?>"),
    re.compile(r"\]\]>"),
    re.compile(r">"),
)
_ATTRIBUTE = r"""\s+[A-Za-z_:][\w.:-]*(?:\s*=\s*(?:[^\s"'=<>`]+|'[^']*'|"[^"]*"))?"""
_INLINE_HTML = re.compile(
    rf"<[A-Za-z][A-Za-z0-9-]*(?:{_ATTRIBUTE})*\s*/?>|</[A-Za-z][A-Za-z0-9-]*\s*>|<!--[\s\S]*?-->|<\?[\s\S]*?\?>"
    r"|<![A-Za-z][^>]*>|<!\[CDATA\[[\s\S]*?\]\]>|<[A-Za-z][A-Za-z0-9+.-]{1,31}:[^\s<>]*>"
    r"|<[\w.!#$%&'*+/=?^`{|}~-]+@[\w.-]+>"
)
"""What CommonMark reads as raw HTML or an autolink where it starts: backticks inside it open no code span."""
_DESTINATION = re.compile(r"\s*(?:<[^<>\n]*>|(?:[^\s()\\]|\\.|\((?:[^\s()\\]|\\.)*\))*)")
_INLINE_START = re.compile(r"\\[!-/:-@\[-`{-~]|`+|<|\]\(")
_BLOCK_BREAK = re.compile(
    r"\n(?:[ \t]*(?:\n|$)|[ \t]{0,3}(?:[-+*][ \t]|\d{1,9}[.)][ \t]|#{1,6}[ \t]|>|<|\||`{3}|~{3}))"
)
"""A line that ends the paragraph a code span would have to stay in (a blank line, a list item, a heading...)."""
MASK = "\ue000"
_LINES = re.compile(r"[^\n]*\n|[^\n]+$")


@cache
def _closer(length: int) -> re.Pattern[str]:
    return re.compile(rf"(?<!`)`{{{length}}}(?!`)")


def _block_regions(text: str) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Fenced code blocks (an unclosed fence runs to the end) and raw HTML blocks, as (start, end) spans."""
    fences: list[tuple[int, int]] = []
    raw: list[tuple[int, int]] = []
    fence: tuple[str, int, int] | None = None  # character, length, start
    html_end: re.Pattern[str] | None = None
    html_start = 0
    in_html = False
    pos = 0
    for line in _LINES.findall(text):  # CommonMark's lines end at "\n" only, not at every `splitlines` break
        start, pos = pos, pos + len(line)
        content = line.rstrip("\r\n")
        if fence is not None:
            char, length, begun = fence
            if re.fullmatch(rf" {{0,3}}{re.escape(char)}{{{length},}}[ \t]*", content):
                fences.append((begun, pos))
                fence = None
            continue
        if in_html:
            ended = (html_end is None and not content.strip()) or (html_end is not None and html_end.search(content))
            if ended:
                raw.append((html_start, pos))
                in_html = False
            continue
        opened = _FENCE_OPEN.fullmatch(content)
        if opened and not (opened.group(1)[0] == "`" and "`" in opened.group(2)):
            fence = (opened.group(1)[0], len(opened.group(1)), start)
            continue
        block = _HTML_BLOCK.match(content)
        if block:
            kind = next((i for i in range(1, 6) if block.group(i)), 0)
            html_end = _HTML_BLOCK_END[kind - 1] if kind else None
            html_start, in_html = start, True
            if html_end is not None and html_end.search(content, block.end()):
                raw.append((start, pos))
                in_html = False
    if fence is not None:
        fences.append((fence[2], len(text)))
    if in_html:
        raw.append((html_start, len(text)))
    return fences, raw


def _code_spans(text: str, start: int, end: int, spans: list[tuple[int, int]]) -> None:
    """Backtick code spans in text[start:end], honouring what CommonMark lets start first: escapes, raw HTML,
    autolinks and link destinations; a span never crosses a paragraph or a table cell."""
    breaks = [b.start() for b in _BLOCK_BREAK.finditer(text, start, end)]
    pos = start
    while (m := _INLINE_START.search(text, pos, end)) is not None:
        token = m.group(0)
        if token[0] == "\\":
            pos = m.end()
        elif token == "<":
            tag = _INLINE_HTML.match(text, m.start(), end)
            pos = tag.end() if tag else m.end()
        elif token == "](":
            destination = _DESTINATION.match(text, m.end(), end)
            pos = destination.end() if destination else m.end()
        else:
            at = bisect.bisect_left(breaks, m.end())
            limit = breaks[at] if at < len(breaks) else end
            closer = _closer(len(token)).search(text, m.end(), limit)
            if closer is not None and "|" in text[m.end() : closer.start()]:  # a table cell's end, if in a table
                line_start = text.rfind("\n", start, m.start()) + 1 or start
                closer = None if text[line_start : m.start()].lstrip().startswith("|") else closer
            if closer is None:
                pos = m.end()
            else:
                spans.append((m.start(), closer.end()))
                pos = closer.end()


def code_regions(text: str) -> list[tuple[int, int]]:
    """Where the answer's code is (fenced blocks and code spans), as sorted (start, end) spans: text a renderer
    shows literally, so no markup, citation or claim lives there."""
    if "`" not in text and "~~~" not in text:
        return []
    fences, raw = _block_regions(text)
    spans = list(fences)
    pos = 0
    for a, b in sorted(fences + raw):
        if pos < a:
            _code_spans(text, pos, a, spans)
        pos = max(pos, b)
    if pos < len(text):
        _code_spans(text, pos, len(text), spans)
    return sorted(spans)


def mask_code(text: str, regions: Iterable[tuple[int, int]] | None = None) -> str:
    """The text with its code replaced by a private-use character, so positions still line up."""
    parts, pos = [], 0
    for a, b in code_regions(text) if regions is None else regions:
        parts += [text[pos:a], MASK * (b - a)]
        pos = b
    return "".join([*parts, text[pos:]])


# --- URLs ----------------------------------------------------------------------------------------------------

Problem = tuple[str, float, str]
"""(finding category, score, detail)."""

_HIDDEN = re.compile("[\x00-\x20\x7f-\x9f\u00ad\u200b-\u200f\u2028-\u202e\u2060-\u2064\ufeff]")
_ESCAPED = re.compile(r"\\([!-/:-@\[-`{-~])")
_SCHEME = re.compile(r"([a-z][a-z0-9+.-]*):")
_SCRIPT = re.compile(r"(?:java|vb|live|ecma)script:|data:(?!image/(?:png|gif|jpe?g|webp|bmp|avif|x-icon)[;,])|mhtml:")
SAFE_LINK_SCHEMES = frozenset({"http", "https", "mailto", "tel", "ftp", "ftps", "sftp", "ssh", "git", "irc", "ircs"})
SAFE_IMAGE_DATA = re.compile(r"data:image/(?:png|gif|jpe?g|webp|bmp|avif|x-icon)[;,]")


def _as_browser_reads(url: str) -> str:
    """Entities decoded (twice: `&amp;#106;`), escapes and invisible characters gone, case folded, `\\` as `/`."""
    url = html.unescape(html.unescape(url.strip()))
    url = _HIDDEN.sub("", _ESCAPED.sub(r"\1", url)).lower().replace("\\", "/")
    return url[1:-1] if url.startswith("<") and url.endswith(">") else url


def _host(url: str) -> str:
    m = re.match(r"(?:[a-z][a-z0-9+.-]*:)?/*(?:[^@/?#]*@)?([^:/?#]*)", url)
    return m.group(1).rstrip(".") if m else ""


def _allowed(host: str, allowed: Collection[str]) -> bool:
    return any(host == a or host.endswith("." + a) for a in (h.lower().strip(".") for h in allowed) if a)


def _readable(piece: str) -> str:
    """A URL piece decoded to text if it carries some (percent/plus, base64, hex), else ''."""
    candidates = [urllib.parse.unquote_plus(piece)]
    for decode in (base64.b64decode, base64.urlsafe_b64decode):
        with contextlib.suppress(binascii.Error, ValueError):
            candidates.append(decode(piece + "=" * (-len(piece) % 4)).decode("utf-8"))
    if re.fullmatch(r"(?:[0-9a-fA-F]{2})+", piece):
        candidates.append(bytes.fromhex(piece).decode("utf-8", "replace"))
    for text in candidates:
        if len(re.findall(r"[A-Za-z]{2,}", text)) >= 5 and " " in text.strip():
            return text
    return ""


def carries_text(url: str) -> bool:
    """Whether a URL's path, query or fragment spells out a sentence (the shape of a conversation being sent)."""
    rest = re.sub(r"^[^/]*//[^/]*", "", html.unescape(url.strip().strip("<>")))
    return any(len(p) >= 12 and _readable(p) for p in re.split(r"[/?&=#;,]", rest))


def _link_problem(url: str) -> Problem | None:
    """A scheme off the allow-list (script, `data:`...), or a link to another site spelling out encoded text."""
    read = _as_browser_reads(url)
    scheme = _SCHEME.match(read)
    if (scheme and scheme.group(1) in SAFE_LINK_SCHEMES) or (not scheme and read.startswith("//")):
        return ("exfil_link", 0.6, "link carrying encoded text") if carries_text(url) else None
    if _SCRIPT.search(read):  # anywhere: `\x0Bjavascript:` is no scheme to us, maybe one to a lax renderer
        return "unsafe_markup", 0.95, f"script URL {read[:40]!r}"
    return ("unsafe_markup", 0.9, f"{scheme.group(1)}: link") if scheme else None


def _image_problem(url: str, allowed: Collection[str]) -> Problem | None:
    """Script URLs, and any image from another host (its fetch tells that host whatever the URL holds)."""
    read = _as_browser_reads(url)
    if SAFE_IMAGE_DATA.match(read):
        return None
    if _SCRIPT.search(read):
        return "unsafe_markup", 0.95, f"script URL {read[:40]!r}"
    if not (_SCHEME.match(read) or read.startswith("//")):
        return None  # relative: the page's own site
    host = _host(read)
    if host and _allowed(host, allowed):
        return None
    data = bool(re.search(r"[?=#]", read)) or carries_text(url) or any(len(p) >= 24 for p in read.split("/")[3:])
    return "remote_image", 0.95 if data else 0.75, f"image from {host or 'another site'}" + (" with data" * data)


# --- HTML ----------------------------------------------------------------------------------------------------

_TAG = re.compile(
    r"<(/?)([A-Za-z][A-Za-z0-9-]*)(?=[\s/>]|$)"
    r"((?:[^<>=]|=\s*\"[^\"]*\"|=\s*'[^']*'|=){0,4000}?)(>|(?=<)|(?=\n[ \t]*\n)|$)"
)
"""A tag as a browser tokenises it: quotes only quote an attribute's value (`<IMG "">` ends at its `>`); one with
no `>` runs to the next `<` or blank line."""
_ATTRS = re.compile(r"""([^\s"'>/=]+)(?:\s*=\s*("[^"]*"|'[^']*'|[^\s>]+|["'][^\s>]*))?""")
_SPECIAL = re.compile(r"<!--[\s\S]*?-->|<\?[\s\S]*?\?>|<!\[CDATA\[[\s\S]*?\]\]>|<![A-Za-z][^>]*>")
_AUTOLINK = re.compile(r"<([A-Za-z][A-Za-z0-9+.-]{1,31}:[^\s<>]*)>")
_HINT = re.compile(r"<\s*[a-z]|script:|\bon[a-z]+\s*=", re.I)


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


DANGEROUS_ELEMENTS = _words(
    "script iframe frame frameset object embed applet form meta link style base svg math template portal "
    "isindex xml import xss layer ilayer bgsound"
)
_WITH_CONTENT = frozenset({"script", "style", "iframe", "object", "template", "xml", "svg", "math"})
SAFE_TAGS = _words(
    "a abbr b bdi bdo blockquote br caption center cite code col colgroup dd del details dfn div dl dt em h1 h2 h3 "
    "h4 h5 h6 hr i img ins kbd li mark ol p pre q rp rt ruby s samp small span strike strong sub summary sup table "
    "tbody td tfoot th thead tr tt u ul var wbr"
)
"""Formatting tags kept as written when every attribute is in SAFE_ATTRIBUTES (and `href`, `src` are safe)."""
SAFE_ATTRIBUTES = _words(
    "title class id lang dir align valign colspan rowspan width height alt open start reversed type name rel "
    "target scope abbr datetime span href src"
)
_FETCHING = frozenset({"src", "srcset", "poster", "background", "lowsrc", "dynsrc", "data", "xlink:href", "ping"})
_URL_ATTRIBUTES = _FETCHING | {"href", "action", "formaction", "codebase", "cite", "longdesc", "usemap", "manifest"}


def _attributes(raw: str) -> list[tuple[str, str | None]]:
    out: list[tuple[str, str | None]] = []
    for m in _ATTRS.finditer(raw):
        value = m.group(2)
        if value is not None and value[:1] in "\"'":
            value = value[1:-1] if len(value) > 1 and value[-1] == value[0] else value[1:]
        out.append((m.group(1).lower(), value))
    return out


def _tag_problems(name: str, attrs: list[tuple[str, str | None]], allowed: Collection[str]) -> Iterator[Problem]:
    """What makes a tag unsafe: its element, a handler, a script URL, a style that fetches, an outside image."""
    if name in DANGEROUS_ELEMENTS:
        yield "unsafe_markup", 0.95, f"<{name}>"
    for attr, value in attrs:
        if attr.startswith("on") or attr in ("srcdoc", "formaction", "http-equiv"):
            yield "unsafe_markup", 0.95, f"<{name} {attr}=>"
        if value is None:
            continue
        read = _as_browser_reads(value)
        if attr == "style" and re.search(r"url\s*\(|expression\s*\(|@import|behavior\s*:|script:", read):
            yield "unsafe_markup", 0.95, f"<{name} style> that fetches or runs"
        if attr in _FETCHING or (attr == "href" and name in ("image", "use", "feimage")):
            urls = [u.strip().split(" ")[0] for u in value.split(",")] if attr == "srcset" else [value]
            yield from filter(None, (_image_problem(url, allowed) for url in urls))
        elif attr in _URL_ATTRIBUTES:
            yield from filter(None, [_link_problem(value)])
        elif "script:" in read:
            yield "unsafe_markup", 0.9, f"<{name} {attr}> with a script URL"


# --- Markdown links and images -------------------------------------------------------------------------------

_LABEL = r"(?:[^\[\]\\]|\\.|\[(?:[^\[\]\\]|\\.)*\])*"
_INLINE_LINK = re.compile(
    rf"(!?)\[({_LABEL})\]\(\s*(<[^<>\n]*>|(?:[^\s()\\]|\\.|\((?:[^\s()\\]|\\.)*\))*)"
    r"""(?:\s+(?:"[^"]*"|'[^']*'|\([^()]*\)))?\s*\)"""
)
_DEFINITION = re.compile(
    r"""^ {0,3}\[((?:[^\[\]\\]|\\.){1,999})\]:[ \t]*\n?[ \t]*(<[^<>\n]*>|\S+)"""
    r"""(?:[ \t]+(?:"[^"\n]*"|'[^'\n]*'|\([^()\n]*\)))?[ \t]*(?:\n|$)""",
    re.MULTILINE,
)
_REFERENCE_IMAGE = re.compile(rf"!\[({_LABEL})\](?:\[((?:[^\[\]\\]|\\.)*)\]|(?![\[(]))")


def _label(text: str) -> str:
    return " ".join(text.split()).casefold()


@dataclass(frozen=True)
class _Edit:
    """A change neutralisation makes; `category` set when it is also a finding."""

    start: int
    end: int
    replacement: str
    category: str = ""
    score: float = 0.0
    detail: str = ""


def _html_edits(masked: str, allowed: Collection[str]) -> Iterable[_Edit]:
    for m in _SPECIAL.finditer(masked):
        hint = _HINT.search(m.group(0), 2) or m.group(0).lower().startswith("<!--[if")
        if hint:
            yield _Edit(m.start(), m.end(), "", "unsafe_markup", 0.9, "HTML comment or declaration hiding markup")
        else:
            yield _Edit(m.start(), m.end(), "")
    for m in _AUTOLINK.finditer(masked):
        if problem := _link_problem(m.group(1)):
            yield _Edit(m.start(), m.end(), "", *problem)
    pos = 0
    while (tag := _TAG.search(masked, pos)) is not None:
        pos = tag.start() + 1  # a tag kept or escaped is read inside too: `<a title="<img onerror=…>">`
        closing, name, raw, end = tag.group(1) == "/", tag.group(2).lower(), tag.group(3), tag.group(4)
        attrs = _attributes(raw)
        problem = None if closing else next(_tag_problems(name, attrs, allowed), None)
        if problem is not None:
            stop = tag.end()
            if name in _WITH_CONTENT and (close := re.compile(rf"</{name}\s*>", re.I).search(masked, tag.end())):
                stop = close.end()
            alt = next((v for a, v in attrs if a == "alt" and v), "") if name == "img" else ""
            pos = stop
            yield _Edit(tag.start(), stop, html.escape(alt), *problem)
        elif closing and name not in SAFE_TAGS:
            yield _Edit(tag.start(), tag.end(), "")
        elif end == ">" and not closing and (name not in SAFE_TAGS or any(a not in SAFE_ATTRIBUTES for a, _ in attrs)):
            yield _Edit(tag.start(), tag.start() + 1, "&lt;")  # shown as text: a tag we do not vouch for


def _markdown_edits(text: str, masked: str, allowed: Collection[str]) -> Iterable[_Edit]:
    pos = 0
    while (m := _INLINE_LINK.search(masked, pos)) is not None:
        pos = m.start() + 1  # an image inside a link's text is a fetch of its own
        image, destination = m.group(1) == "!", text[m.start(3) : m.end(3)]
        problem = _image_problem(destination, allowed) if image else _link_problem(destination)
        if problem is not None:
            yield _Edit(m.start(), m.end(), text[m.start(2) : m.end(2)], *problem)
    definitions: dict[str, str] = {}
    for m in _DEFINITION.finditer(masked):
        label, destination = _label(m.group(1)), text[m.start(2) : m.end(2)]
        definitions.setdefault(label, destination)
        if problem := _link_problem(destination):
            yield _Edit(m.start(), m.end(), "", *problem)
    if not definitions:
        return
    for m in _REFERENCE_IMAGE.finditer(masked):
        target = definitions.get(_label(m.group(2) or m.group(1)))
        if target is not None and (problem := _image_problem(target, allowed)):
            yield _Edit(m.start(), m.end(), text[m.start(1) : m.end(1)], *problem)


def _edits(text: str, allowed: Collection[str]) -> list[_Edit]:
    if "<" not in text and "](" not in text and "]:" not in text and "![" not in text:
        return []
    masked = mask_code(text)
    return sorted([*_html_edits(masked, allowed), *_markdown_edits(text, masked, allowed)], key=_order)


_PASSES = 8


def _order(edit: _Edit) -> tuple[int, int]:
    return edit.start, -edit.end


def scan_markup(answer: str, *, allowed_image_hosts: Collection[str] = ()) -> list[Finding]:
    """Script (elements, event handlers, script and `data:` URLs, entity- or case-disguised), images from hosts not
    in `allowed_image_hosts` (inline, reference-style or HTML: the fetch carries whatever the URL holds), and
    links whose URL spells out encoded text; code spans and fenced blocks are left alone."""
    return [
        Finding("markup", e.category, e.score, e.start, e.end, e.detail)
        for e in _edits(answer, allowed_image_hosts)
        if e.category
    ]


def neutralise_markup(answer: str, *, allowed_image_hosts: Collection[str] = ()) -> str:
    """The answer safe to render: dangerous elements and attributes removed, unknown tags shown as text, unsafe
    link destinations dropped (the text stays), images from other hosts reduced to their alt text; code as is."""
    text = answer
    for _ in range(_PASSES):  # nested constructs (an image in a link) come apart one layer per pass
        taken: list[_Edit] = []
        for edit in _edits(text, allowed_image_hosts):
            if not taken or edit.start >= taken[-1].end:
                taken.append(edit)
        if not taken:
            return text
        for edit in reversed(taken):
            text = text[: edit.start] + edit.replacement + text[edit.end :]
    if not scan_markup(text, allowed_image_hosts=allowed_image_hosts):
        return text
    # nested deeper than any answer needs: no tag, link or image of the prose survives
    masked = mask_code(text)
    prose = [m.span() for m in re.finditer(rf"[^{MASK}]+", masked)]
    for a, b in reversed(prose):
        text = text[:a] + text[a:b].replace("<", "&lt;").replace("](", "]\\(").replace("]:", "]\\:") + text[b:]
    return text
