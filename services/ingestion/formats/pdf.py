"""PDF → text with page starts, via pypdf; the document info title, when set, is the title."""

from __future__ import annotations

from typing import IO

from pypdf import PdfReader
from pypdf.errors import DependencyError, FileNotDecryptedError

from llmops.errors import InvalidArgument
from services.ingestion.formats import Extracted, Source, as_stream

_PAGE_BREAK = "\n\n"


def extract(content: Source) -> Extracted:
    """The text layer of every page, pages separated by a blank line; `pages` holds where each starts."""
    stream = as_stream(content)
    head = stream.read(1024)
    stream.seek(0)
    if not head.lstrip()[:5].startswith(b"%PDF"):
        raise InvalidArgument("could not read the PDF: the file does not start with %PDF, so it is not a PDF")
    try:
        texts, info_title = _read(stream)
    except InvalidArgument:
        raise
    except (FileNotDecryptedError, DependencyError) as exc:
        raise _encrypted() from exc
    except Exception as exc:  # pypdf raises many types on damaged files; each means the same to the uploader
        reason = str(exc) or type(exc).__name__
        raise InvalidArgument(f"could not read the PDF: {reason}; it may be damaged or truncated") from exc
    if not texts:
        raise InvalidArgument("could not read the PDF: it has no pages")
    if not any(t.strip() for t in texts):
        raise InvalidArgument(
            f"the PDF has no extractable text in its {len(texts)} page(s); it is probably a scanned image, "
            "and OCR is not supported: upload a PDF with a text layer, or the text itself"
        )
    pages: list[int] = []
    offset = 0
    for i, text in enumerate(texts):
        pages.append(offset)
        offset += len(text) + (len(_PAGE_BREAK) if i + 1 < len(texts) else 0)
    return Extracted(text=_PAGE_BREAK.join(texts), pages=tuple(pages), title=info_title)


def _read(stream: IO[bytes]) -> tuple[list[str], str]:
    reader = PdfReader(stream)
    if reader.is_encrypted and not reader.decrypt(""):  # an empty user password opens owner-locked files
        raise _encrypted()
    texts = [_clean(page.extract_text() or "") for page in reader.pages]
    info_title = (reader.metadata.title if reader.metadata else None) or ""
    return texts, " ".join(str(info_title).split())


def _clean(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")).strip("\n")


def _encrypted() -> InvalidArgument:
    return InvalidArgument("the PDF is encrypted (password-protected); remove the password and upload it again")
