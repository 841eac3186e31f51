"""DOCX → text via python-docx: paragraphs and table rows as blocks, "Heading N" styles as headings."""

from __future__ import annotations

import re
import zipfile
from typing import IO

import docx
from docx.styles.style import CharacterStyle
from docx.table import Table
from docx.text.paragraph import Paragraph

from llmops.errors import InvalidArgument
from services.ingestion.formats import Extracted, Source, TextBuilder, as_stream

MAX_UNZIPPED_BYTES = 256 * 1024 * 1024
"""Refuse archives that inflate past this (zip bombs); real Word documents are far smaller."""
_HEADING_STYLE = re.compile(r"heading\s*([1-9])", re.IGNORECASE)


def extract(content: Source) -> Extracted:
    """Body paragraphs and tables in document order; the core-properties title, else a "Title" paragraph."""
    _check_archive(as_stream(content))
    try:
        document = docx.Document(as_stream(content))
        out = TextBuilder()
        styled_title = ""
        for item in document.iter_inner_content():
            if isinstance(item, Paragraph):
                style = _style_name(item.style)
                text = item.text.strip()
                if style.lower() == "title" and text and not styled_title:
                    styled_title = text
                out.add(text, _heading_level(item.style))
            elif isinstance(item, Table):
                out.add(_table_text(item))
        core_title = (document.core_properties.title or "").strip()
    except Exception as exc:  # python-docx and lxml raise many types on damaged parts
        raise InvalidArgument(f"could not read the Word document: {exc or type(exc).__name__}") from exc
    text = out.text()
    if not text.strip():
        raise InvalidArgument("the Word document has no text to index")
    return Extracted(text=text, headings=tuple(out.headings), title=core_title or styled_title)


def _check_archive(stream: IO[bytes]) -> None:
    hint = "; old .doc files (Word 97–2003) are not supported: save the file as .docx"
    try:
        with zipfile.ZipFile(stream) as archive:
            names = {info.filename for info in archive.infolist()}
            inflated = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise InvalidArgument(
            f"the file is not a DOCX: a Word document is a zip archive and this is not one{hint}"
        ) from exc
    if "word/document.xml" not in names:
        raise InvalidArgument(f"the zip archive is not a Word document (it has no word/document.xml){hint}")
    if inflated > MAX_UNZIPPED_BYTES:
        raise InvalidArgument(
            f"the Word document inflates to {inflated} bytes, over the {MAX_UNZIPPED_BYTES}-byte limit"
        )


def _style_name(style: CharacterStyle | None) -> str:
    return (style.name or "") if style is not None else ""


def _heading_level(style: CharacterStyle | None) -> int:
    """N for a "Heading N" style or a custom style based on one (up to a few levels up); else 0."""
    for _ in range(5):
        if style is None:
            return 0
        if match := _HEADING_STYLE.fullmatch(_style_name(style)):
            return int(match.group(1))
        style = style.base_style
    return 0


def _table_text(table: Table) -> str:
    rows = []
    for row in table.rows:
        cells: list[str] = []
        for cell in row.cells:
            text = " ".join(cell.text.split())
            if text and (not cells or cells[-1] != text):  # merged cells repeat their text
                cells.append(text)
        if cells:
            rows.append(" | ".join(cells))
    return "\n".join(rows)
