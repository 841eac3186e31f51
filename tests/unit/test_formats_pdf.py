"""PDF parsing: text per page, page starts, metadata title, and clear refusals of unreadable files."""

from __future__ import annotations

import io

import pytest
from pypdf import PdfReader, PdfWriter

from llmops.errors import InvalidArgument
from services.ingestion.chunking import ChunkingPolicy, chunk
from services.ingestion.parsing import PDF, parse

pytestmark = pytest.mark.unit


def make_pdf(pages: list[list[str]], title: str = "") -> bytes:
    """A minimal valid PDF, written by hand: one Helvetica text line per string, one page per list."""
    objects: list[bytes] = []
    page_ids = [4 + 2 * i for i in range(len(pages))]
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    kids = " ".join(f"{i} 0 R" for i in page_ids)
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>".encode())
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    for lines in pages:
        ops = ["BT", "/F1 12 Tf", "14 TL", "72 720 Td"]
        for line in lines:
            escaped = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
            ops.append(f"({escaped}) Tj T*")
        ops.append("ET")
        stream = "\n".join(ops).encode() if lines else b""
        page_id = 4 + len(objects) - 3
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> "
            f"/Contents {page_id + 1} 0 R >>".encode()
        )
        objects.append(f"<< /Length {len(stream)} >>\nstream\n".encode() + stream + b"\nendstream")
    info = b""
    if title:
        objects.append(f"<< /Title ({title}) >>".encode())
        info = f" /Info {len(objects)} 0 R".encode()
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\x00\n")  # the customary binary comment, with a NUL
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R{info.decode()} >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def encrypt(pdf: bytes, user_password: str, owner_password: str = "owner") -> bytes:
    """The same PDF, RC4-encrypted (pypdf needs no crypto library for RC4)."""
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    writer.encrypt(user_password=user_password, owner_password=owner_password, algorithm="RC4-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


TWO_PAGES = make_pdf([["Quarterly report", "Revenue grew in spring."], ["Second page text", "Costs fell."]])


def test_each_page_text_is_kept_and_page_starts_point_at_it() -> None:
    """`pages` holds the character offset where each page's text begins."""
    doc = parse(TWO_PAGES, PDF, "kb://report.pdf")
    assert doc.mime_type == PDF
    assert len(doc.pages) == 2 and doc.pages[0] == 0
    first, second = doc.text[: doc.pages[1]], doc.text[doc.pages[1] :]
    assert "Quarterly report" in first and "Revenue grew in spring." in first
    assert second.startswith("Second page text") and "Costs fell." in second
    assert doc.headings == ()


def test_without_metadata_the_title_is_the_first_line_and_with_it_the_metadata_title() -> None:
    """A PDF's /Title wins over its first line; an explicit title wins over both."""
    assert parse(TWO_PAGES, PDF, "kb://r.pdf").title == "Quarterly report"
    titled = make_pdf([["body text"]], title="Annual Review")
    assert parse(titled, PDF, "kb://r.pdf").title == "Annual Review"
    assert parse(titled, PDF, "kb://r.pdf", title="Mine").title == "Mine"


def test_chunks_report_the_page_where_they_start() -> None:
    """Small windows over a two-page PDF land on pages 1 then 2."""
    doc = parse(TWO_PAGES, PDF, "kb://report.pdf")
    chunks = chunk(doc, ChunkingPolicy(max_words=2, overlap_words=0))
    assert [c.page for c in chunks] == [1, 1, 1, 2, 2, 2]
    assert all(doc.text[c.start_char :].startswith(c.text) for c in chunks)


def test_an_empty_page_between_others_does_not_shift_page_numbers() -> None:
    """A blank page still counts, so later text reports its true page."""
    doc = parse(make_pdf([["one"], [], ["three"]]), PDF, "kb://r.pdf")
    assert len(doc.pages) == 3
    assert [c.page for c in chunk(doc)] == [1]  # one chunk, starting on page 1
    pages = [c.page for c in chunk(doc, ChunkingPolicy(max_words=1, overlap_words=0))]
    assert pages == [1, 3]


@pytest.mark.parametrize(
    "content",
    [b"%PDF-1.4\n garbage that is not a PDF", TWO_PAGES[: len(TWO_PAGES) // 3], b"%PDF-"],
)
def test_corrupt_or_truncated_pdfs_are_refused_as_unreadable(content: bytes) -> None:
    """Damage is named, not leaked as a library exception."""
    with pytest.raises(InvalidArgument, match="could not read the PDF"):
        parse(content, PDF, "kb://r.pdf")


def test_a_file_that_is_not_a_pdf_at_all_is_refused() -> None:
    """A text file sent as application/pdf is named for what it is."""
    with pytest.raises(InvalidArgument, match="does not start with %PDF"):
        parse(b"hello world", PDF, "kb://r.pdf")


def test_password_protected_pdfs_are_refused_as_encrypted() -> None:
    """A user password we do not have means we cannot read it, and the message says so."""
    with pytest.raises(InvalidArgument, match=r"encrypted \(password-protected\); remove the password"):
        parse(encrypt(TWO_PAGES, user_password="secret"), PDF, "kb://r.pdf")


def test_pdfs_locked_only_by_an_owner_password_are_read() -> None:
    """An empty user password opens the file, as any viewer would."""
    doc = parse(encrypt(TWO_PAGES, user_password=""), PDF, "kb://r.pdf")
    assert "Costs fell." in doc.text and len(doc.pages) == 2


def test_pdfs_without_a_text_layer_are_refused_saying_ocr_is_not_supported() -> None:
    """Scanned images have no text to extract."""
    with pytest.raises(InvalidArgument, match=r"no extractable text in its 2 page\(s\).*OCR is not supported"):
        parse(make_pdf([[], []]), PDF, "kb://scan.pdf")


def test_pdf_bytes_skip_the_text_decoder_nul_check() -> None:
    """Binary streams with NUL bytes are normal in a PDF."""
    assert b"\x00" in TWO_PAGES
    assert "Quarterly report" in parse(TWO_PAGES, PDF, "kb://r.pdf").text
