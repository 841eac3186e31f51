"""DOCX parsing: paragraphs, tables, "Heading N" styles as heading paths, and clear refusals."""

from __future__ import annotations

import io
import zipfile

import docx
import pytest
from docx.document import Document
from docx.enum.style import WD_STYLE_TYPE

from llmops.errors import InvalidArgument
from services.ingestion.chunking import chunk
from services.ingestion.parsing import DOCX, parse

pytestmark = pytest.mark.unit


def save(document: Document) -> bytes:
    """The document as .docx bytes."""
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def handbook(core_title: str = "") -> bytes:
    """A small handbook: a Title paragraph, nested headings, body text and a table."""
    document = docx.Document()
    document.core_properties.title = core_title
    document.add_paragraph("Staff Handbook", style="Title")
    document.add_paragraph("Read this first.")
    document.add_heading("Leave", level=1)
    document.add_paragraph("Everyone gets 25 days.")
    document.add_heading("Sick leave", level=2)
    document.add_paragraph("Tell your manager by 9am.")
    table = document.add_table(rows=2, cols=2)
    for r, row in enumerate([("Days", "Pay"), ("1-5", "Full")]):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    document.add_heading("Expenses", level=1)
    document.add_paragraph("Keep receipts.")
    return save(document)


def test_paragraphs_and_tables_become_blocks_separated_by_blank_lines() -> None:
    """Document order is kept; a table row reads as cells joined by bars."""
    doc = parse(handbook(), DOCX, "kb://handbook.docx")
    assert doc.text == (
        "Staff Handbook\n\nRead this first.\n\nLeave\n\nEveryone gets 25 days.\n\nSick leave\n\n"
        "Tell your manager by 9am.\n\nDays | Pay\n1-5 | Full\n\nExpenses\n\nKeep receipts."
    )
    assert doc.pages == ()


def test_heading_styles_become_headings_with_offsets_into_the_text() -> None:
    """ "Heading N" styles give level N; the Title style is not a heading."""
    doc = parse(handbook(), DOCX, "kb://handbook.docx")
    assert [(h.level, h.text) for h in doc.headings] == [(1, "Leave"), (2, "Sick leave"), (1, "Expenses")]
    assert all(doc.text[h.offset :].startswith(h.text) for h in doc.headings)


def test_chunks_carry_the_heading_path_and_no_page() -> None:
    """Sick-leave text sits under Leave › Sick leave; DOCX has no pages, so page is 0."""
    chunks = chunk(parse(handbook(), DOCX, "kb://handbook.docx"))
    assert [c.heading_path for c in chunks] == [(), ("Leave",), ("Leave", "Sick leave"), ("Expenses",)]
    assert "Tell your manager" in chunks[2].text and "1-5 | Full" in chunks[2].text
    assert {c.page for c in chunks} == {0}


def test_the_title_comes_from_core_properties_then_the_title_style() -> None:
    """Metadata wins, then a Title-styled paragraph; an explicit title wins over both."""
    assert parse(handbook(), DOCX, "kb://h.docx").title == "Staff Handbook"
    assert parse(handbook(core_title="HR Handbook 2026"), DOCX, "kb://h.docx").title == "HR Handbook 2026"
    assert parse(handbook(), DOCX, "kb://h.docx", title="Mine").title == "Mine"


def test_custom_styles_based_on_a_heading_style_count_as_that_heading() -> None:
    """A house style derived from Heading 2 is a level-2 heading."""
    document = docx.Document()
    house = document.styles.add_style("House Heading", WD_STYLE_TYPE.PARAGRAPH)
    house.base_style = document.styles["Heading 2"]
    document.add_paragraph("Ours", style="House Heading")
    document.add_paragraph("body")
    assert [(h.level, h.text) for h in parse(save(document), DOCX, "kb://h.docx").headings] == [(2, "Ours")]


def test_files_that_are_not_zip_archives_are_refused_mentioning_old_doc_files() -> None:
    """A .doc (or anything else) sent as DOCX gets a message saying what to do."""
    with pytest.raises(InvalidArgument, match=r"not a DOCX.*save the file as \.docx"):
        parse(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1 old OLE file", DOCX, "kb://old.docx")


def test_zip_archives_that_are_not_word_documents_are_refused() -> None:
    """An ordinary zip is named as not a Word document."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("notes.txt", "hello")
    with pytest.raises(InvalidArgument, match=r"not a Word document \(it has no word/document.xml\)"):
        parse(buffer.getvalue(), DOCX, "kb://a.docx")


def test_a_damaged_word_document_is_refused_as_unreadable() -> None:
    """A document part that is not XML is reported, not leaked as a library exception."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(handbook())) as source, zipfile.ZipFile(buffer, "w") as target:
        for item in source.infolist():
            data = b"<w:document broken" if item.filename == "word/document.xml" else source.read(item)
            target.writestr(item, data)
    with pytest.raises(InvalidArgument, match="could not read the Word document"):
        parse(buffer.getvalue(), DOCX, "kb://a.docx")


def test_a_truncated_docx_is_refused() -> None:
    """Half a zip archive is not a DOCX."""
    content = handbook()
    with pytest.raises(InvalidArgument, match="not a DOCX"):
        parse(content[: len(content) // 2], DOCX, "kb://a.docx")


def test_a_word_document_without_text_is_refused() -> None:
    """Empty paragraphs are nothing to index."""
    document = docx.Document()
    document.add_paragraph("   ")
    with pytest.raises(InvalidArgument, match="the Word document has no text to index"):
        parse(save(document), DOCX, "kb://a.docx")
