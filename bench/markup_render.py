"""What a chat front end would do with an answer's Markdown: render it (markdown-it, CommonMark with raw HTML on)
and list what in the HTML runs script or fetches a URL carrying data; for `bench/guardrails_secrets_output.py`.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

from markdown_it import MarkdownIt


class Active(HTMLParser):
    """Elements and attributes of rendered HTML that run script or fetch a URL carrying data."""

    RUNS = frozenset({"script", "iframe", "object", "embed", "frame", "applet"})
    URLS = frozenset({"href", "src", "action", "formaction", "xlink:href", "data", "poster"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.RUNS:
            self.found.append(f"<{tag}>")
        for name, raw in attrs:
            value = raw or ""
            scheme = re.sub(r"[\x00-\x20]", "", value).lower()
            if name.startswith("on"):
                self.found.append(f"{name}=")
            elif name == "srcdoc" or (name == "http-equiv" and value.lower() == "refresh"):
                self.found.append(name)
            elif name in self.URLS and scheme.startswith(("javascript:", "vbscript:", "data:text/html")):
                self.found.append(f"{name}={scheme[:16]}")
            elif tag == "img" and name == "src" and re.match(r"(?:https?:)?//", scheme) and re.search(r"[?=]", scheme):
                self.found.append("remote image with data")  # a query or `=` in the URL: a fetch that carries data

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def rendered(markdown: str, *, permissive: bool) -> Active:
    """The answer rendered and parsed; `permissive` drops markdown-it's refusal of `javascript:` and similar links."""
    md = MarkdownIt("commonmark")
    if permissive:
        md.validateLink = lambda url: True  # type: ignore[method-assign]  # as renderers with no link allow-list do
    parser = Active()
    parser.feed(md.render(markdown))
    return parser


STRING_ACTIVE = re.compile(
    # The plain-text test: `<script`, a script URL, `onerror=`, a Markdown image to a remote URL with `?` or `=`.
    r"<script|javascript:|onerror\s*=|!\[[^\]]*\]\(\s*<?(?:https?:)?//[^)]*[?=]",
    re.IGNORECASE,
)
