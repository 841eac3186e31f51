"""Text normalisation before scanning: what a reader sees, not what a filter can be tricked by; pure.

Attacks hide instructions from pattern matchers with look-alike letters (Cyrillic `а` for Latin `a`), invisible
and bidirectional control characters, full-width forms, and encodings (base64, hex, rot13, %-escapes). Scanners
read the normalised text and every decoded variant; spans always refer to the original text.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re
import unicodedata
import urllib.parse
from dataclasses import dataclass, field

# Zero-width and formatting characters, bidirectional controls, and the Unicode tag block (invisible ASCII).
INVISIBLE = re.compile("[\u00ad\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff\U000e0000-\U000e007f]")
BIDI = re.compile("[\u202a-\u202e\u2066-\u2069\u200e\u200f]")

# Letters that render like Latin ones (Cyrillic, Greek), the ones attackers use most; NFKC handles full-width.
CONFUSABLES = str.maketrans(
    {
        "а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "у": "y", "х": "x", "і": "i", "ј": "j", "ѕ": "s",
        "ԁ": "d", "ɡ": "g", "һ": "h", "ӏ": "l", "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H",
        "О": "O", "Р": "P", "С": "C", "Т": "T", "Х": "X", "У": "Y", "І": "I", "Ј": "J", "Ѕ": "S",
        "α": "a", "ε": "e", "ο": "o", "ρ": "p", "τ": "t", "υ": "u", "ν": "v", "κ": "k", "ι": "i",
        "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M", "Ν": "N", "Ο": "O",
        "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X",
    }
)  # fmt: skip

_BASE64 = re.compile(r"(?<![A-Za-z0-9+/=])[A-Za-z0-9+/]{16,}={0,2}(?![A-Za-z0-9+/=])")
_HEX = re.compile(r"(?<![0-9A-Fa-f])(?:[0-9A-Fa-f]{2}[\s:]?){12,}(?![0-9A-Fa-f])")
_PERCENT = re.compile(r"(?:%[0-9A-Fa-f]{2}){4,}")
_ROT13_HINT = re.compile(r"\brot-?13\b|\bvtaber\b|\bcerivbhf\b|\bvafgehpgvbaf\b", re.IGNORECASE)
_TAGS = re.compile("[\U000e0020-\U000e007e]{4,}")
_UNICODE_ESCAPE = re.compile(r"(?:\\u[0-9A-Fa-f]{4}){4,}")
_BINARY = re.compile(r"(?:[01]{8}\s?){4,}")
_BASE32 = re.compile(r"(?<![A-Za-z0-9])[A-Z2-7]{16,}={0,6}(?![A-Za-z0-9])")
_ASCII85 = re.compile(r"<~[!-u\s]{8,}?~>")
_BASE85 = re.compile(r"(?<!\S)[0-9A-Za-z!#$%&()*+\-;<=>?@^_`{|}~]{20,}(?!\S)")
_MORSE = re.compile(r"(?:[.-]{1,7}(?: / | |$)){6,}")
MORSE = {
    ".-": "a", "-...": "b", "-.-.": "c", "-..": "d", ".": "e", "..-.": "f", "--.": "g", "....": "h", "..": "i",
    ".---": "j", "-.-": "k", ".-..": "l", "--": "m", "-.": "n", "---": "o", ".--.": "p", "--.-": "q", ".-.": "r",
    "...": "s", "-": "t", "..-": "u", "...-": "v", ".--": "w", "-..-": "x", "-.--": "y", "--..": "z",
    "-----": "0", ".----": "1", "..---": "2", "...--": "3", "....-": "4", ".....": "5", "-....": "6",
    "--...": "7", "---..": "8", "----.": "9", ".-.-.-": ".", "--..--": ",", "..--..": "?",
}  # fmt: skip
_SPACED = re.compile(r"\b(?:\w ){3,}\w\b")
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"})
MAX_DECODED = 12


@dataclass(frozen=True)
class Normalized:
    """The text as scanners should read it, the invisible characters removed, and decoded hidden payloads."""

    text: str
    invisible: list[tuple[int, int]] = field(default_factory=list)
    """Spans (in the original text) of invisible or bidirectional control characters."""
    decoded: list[tuple[str, str, tuple[int, int]]] = field(default_factory=list)
    """(encoding, decoded text, span of the encoded run in the original text)."""


def _printable_share(text: str) -> float:
    if not text:
        return 0.0
    printable = sum(1 for ch in text if ch.isprintable() or ch in "\n\t")
    letters = sum(1 for ch in text if ch.isalpha())
    return min(printable / len(text), 2 * letters / len(text))


Decoded = list[tuple[str, str, tuple[int, int]]]


def _encoded_runs(text: str) -> Decoded:
    """Runs in a known encoding inside the text: base64, base32, base85, hex, %-escapes, \\u escapes, binary
    octets, Morse code, tags."""
    found: Decoded = []
    for match in _BASE64.finditer(text):
        raw = match.group(0)
        try:
            decoded = base64.b64decode(raw + "=" * (-len(raw) % 4), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            continue
        found.append(("base64", decoded, match.span()))
    for match in _HEX.finditer(text):
        try:
            decoded = bytes.fromhex(re.sub(r"[\s:]", "", match.group(0))).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            continue
        found.append(("hex", decoded, match.span()))
    found += [("percent", urllib.parse.unquote(m.group(0)), m.span()) for m in _PERCENT.finditer(text)]
    found += [
        ("unicode-escape", codecs.decode(m.group(0), "unicode_escape"), m.span())
        for m in _UNICODE_ESCAPE.finditer(text)
    ]
    found += [
        ("binary", bytes(int(o, 2) for o in m.group(0).split() if len(o) == 8).decode("latin-1"), m.span())
        for m in _BINARY.finditer(text)
    ]
    found += _radix_runs(text)
    found += [("morse", _morse(m.group(0)), m.span()) for m in _MORSE.finditer(text) if m.group(0).count(" ") >= 5]
    # Unicode tag characters carry invisible ASCII.
    found += [
        ("unicode-tags", "".join(chr(ord(c) - 0xE0000) for c in m.group(0)), m.span()) for m in _TAGS.finditer(text)
    ]
    return [(kind, value, span) for kind, value, span in found if _printable_share(value) > 0.8]


def _radix_runs(text: str) -> Decoded:
    """base32, Ascii85 (<~ ~>) and base85 runs that decode to text."""
    found: Decoded = []
    attempts: tuple[tuple[str, re.Pattern[str], object], ...] = (
        ("base32", _BASE32, lambda raw: base64.b32decode(raw.rstrip("=") + "=" * (-len(raw.rstrip("=")) % 8))),
        ("ascii85", _ASCII85, lambda raw: base64.a85decode(raw, adobe=True)),
        ("base85", _BASE85, base64.b85decode),
    )
    for kind, pattern, decode in attempts:
        for match in pattern.finditer(text):
            try:
                value = decode(match.group(0)).decode("utf-8")  # type: ignore[operator]
            except (binascii.Error, UnicodeDecodeError, ValueError):
                continue
            found.append((kind, value, match.span()))
    return found


def _morse(code: str) -> str:
    words = code.strip().split(" / ")
    return " ".join("".join(MORSE.get(letter, "") for letter in word.split()) for word in words)


def _rewritten(text: str) -> Decoded:
    """The whole text read another way: rot13, %-decoded, leetspeak, letters spaced apart, reversed."""
    whole = (0, len(text))
    found: Decoded = []
    if _ROT13_HINT.search(text):
        found.append(("rot13", codecs.decode(text, "rot13"), whole))
    if text.count("%20") >= 3:
        found.append(("percent", urllib.parse.unquote(text), whole))
    digit_count = sum(ch.isdigit() for ch in text)
    if 4 <= digit_count < 0.7 * sum(ch.isalnum() for ch in text):  # digits standing in for letters
        found.append(("leetspeak", text.lower().translate(_LEET), whole))
    if (spaced := _SPACED.search(text)) is not None:
        found.append(("spaced", _SPACED.sub(lambda m: m.group(0).replace(" ", ""), text), spaced.span()))
    found.append(("reversed", text[::-1], whole))
    return found


def _decode_candidates(text: str) -> Decoded:
    return (_encoded_runs(text) + _rewritten(text))[:MAX_DECODED]


def normalize(text: str) -> Normalized:
    """NFKC, look-alike letters mapped to Latin, invisible characters dropped, whitespace collapsed;
    plus every base64 / hex / %-escaped / rot13 payload decoded (and itself normalised)."""
    invisible = [m.span() for m in INVISIBLE.finditer(text)]
    visible = INVISIBLE.sub("", text)
    folded = unicodedata.normalize("NFKC", visible).translate(CONFUSABLES)
    # Strip combining marks (z̷a̷l̷g̷o̷) so decorated letters still match.
    stripped = "".join(ch for ch in unicodedata.normalize("NFD", folded) if not unicodedata.combining(ch))
    clean = re.sub(r"\s+", " ", stripped).strip()
    decoded = [
        (kind, re.sub(r"\s+", " ", unicodedata.normalize("NFKC", value).translate(CONFUSABLES)).strip(), span)
        for kind, value, span in _decode_candidates(text)
    ]
    return Normalized(clean, invisible, decoded)
