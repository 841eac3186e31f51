"""Language identification, offline: py3langid's naive Bayes over byte n-grams (97 languages, model in its wheel).

Naive Bayes is sure of itself on a few words ("Thanks a lot!" → Spanish 0.55, "Merci beaucoup !" → Polish), so a
text is reported as outside the allowed languages only with enough letters and at most 1 - MIN_CONFIDENCE of the
probability on the allowed languages. A text written in a script that none of the allowed languages uses (Han,
Hangul, Cyrillic, Arabic, ...) is reported however short: "你好" is not English whatever the model says.
Code, URLs, e-mail addresses, identifiers and digits are removed first: they are in no natural language.
"""

from __future__ import annotations

import importlib
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from services.guardrails.lazy import Lazy
from services.guardrails.normalize import INVISIBLE
from services.guardrails.scanners import Finding

UNDETERMINED = "und"
"""The code `detect_language` returns for a text without letters (BCP 47's "undetermined")."""
MIN_CONFIDENCE = 0.9
"""Report only when at least this share of the model's probability lies outside the allowed languages."""
MIN_LETTERS = 20
"""Below this many letters (ideographs, kana and hangul count double) the model guesses: no finding."""
MIN_SCRIPT_SHARE = 0.8
"""A text with at least this share of its letters in scripts no allowed language uses is reported, however short."""
SAMPLE_CHARS = 1000
"""The model reads this much cleaned text (the start): enough to be sure, and its cost grows with length."""

_NOISE = re.compile(
    r"```.*?(?:```|\Z)"  # fenced code
    r"|`[^`\n]*`"  # inline code
    r"|\b(?:https?|ftp)://\S+|\bwww\.\S+"  # URLs
    r"|[\w.+-]+@[\w-]+\.[\w.-]+"  # e-mail addresses
    r"|[!-~]*[_/\\{}\[\]<>=|#$%^~\d][!-~]*"  # identifiers, paths, markup, numbers, leet, hex (ASCII runs)
    r"|[!-~]{25,}"  # base64 and other long runs without spaces
    r"|\w+(?:\.\w+)+|\w+\(",  # dotted names, calls
    re.DOTALL,
)

# Languages py3langid knows that are written in a script other than Latin (Serbian: both; counted as Latin too).
SCRIPT_LANGUAGES: dict[str, frozenset[str]] = {
    "CJK": frozenset({"zh", "ja"}),
    "HIRAGANA": frozenset({"ja"}),
    "KATAKANA": frozenset({"ja"}),
    "HANGUL": frozenset({"ko"}),
    "CYRILLIC": frozenset({"ru", "uk", "bg", "be", "mk", "sr", "kk", "ky", "mn"}),
    "GREEK": frozenset({"el"}),
    "ARABIC": frozenset({"ar", "fa", "ur", "ps", "ug", "ku"}),
    "HEBREW": frozenset({"he"}),
    "DEVANAGARI": frozenset({"hi", "mr", "ne"}),
    "BENGALI": frozenset({"bn", "as"}),
    "THAI": frozenset({"th"}),
    "GEORGIAN": frozenset({"ka"}),
    "ARMENIAN": frozenset({"hy"}),
    "ETHIOPIC": frozenset({"am"}),
    "TAMIL": frozenset({"ta"}),
    "TELUGU": frozenset({"te"}),
    "KANNADA": frozenset({"kn"}),
    "MALAYALAM": frozenset({"ml"}),
    "GUJARATI": frozenset({"gu"}),
    "GURMUKHI": frozenset({"pa"}),
    "ORIYA": frozenset({"or"}),
    "SINHALA": frozenset({"si"}),
    "KHMER": frozenset({"km"}),
    "LAO": frozenset({"lo"}),
    "TIBETAN": frozenset({"dz"}),
}
_NON_LATIN = frozenset().union(*SCRIPT_LANGUAGES.values()) - {"sr"}
_DENSE = frozenset({"CJK", "HIRAGANA", "KATAKANA", "HANGUL"})
_WORD = re.compile(r"\w{2,}")
_ALIASES = {"nb": ("nb", "no"), "nn": ("nn", "no"), "no": ("no", "nb", "nn"), "iw": ("he",), "in": ("id",)}


class LanguageIdentifier:
    """py3langid's identifier with normalised probabilities; build it once with `load()` (about 0.1 s)."""

    def __init__(self, identifier: Any) -> None:
        self._identifier = identifier
        self.languages: frozenset[str] = frozenset(identifier.nb_classes)

    @classmethod
    def load(cls) -> LanguageIdentifier:
        langid = importlib.import_module("py3langid.langid")
        # 0.2.x reads a pickled model; later versions renamed the loader.
        loader = getattr(langid.LanguageIdentifier, "from_model_file", None) or (
            langid.LanguageIdentifier.from_pickled_model
        )
        return cls(loader(langid.MODEL_FILE, norm_probs=True))

    def rank(self, text: str) -> list[tuple[str, float]]:
        """Every language with its probability, most likely first."""
        return [(str(code), float(p)) for code, p in self._identifier.rank(text)]


IDENTIFIER: Lazy[LanguageIdentifier] = Lazy(LanguageIdentifier.load)
"""The process's identifier, loaded on first use; call `IDENTIFIER.get()` at start-up to pay the load early."""


def clean(text: str) -> str:
    """The prose of `text` (its start): invisible characters, code, URLs, addresses, identifiers and numbers
    removed, words in capitals lowered."""
    prose = _NOISE.sub(" ", unicodedata.normalize("NFKC", INVISIBLE.sub("", text[: SAMPLE_CHARS * 20])))
    # The model has seen little text in capitals: "SELECT FROM users" reads as Croatian, "select from users" as English.
    prose = _WORD.sub(lambda m: m.group(0).lower() if m.group(0).isupper() else m.group(0), prose)
    return " ".join(prose.split())[:SAMPLE_CHARS]


def _script(ch: str) -> str:
    if ch < "\u0250":
        return "LATIN"
    name = unicodedata.name(ch, "")
    return name.split(" ", 1)[0] if name else ""


def _letters_by_script(prose: str) -> Counter[str]:
    return Counter(_script(ch) for ch in prose if ch.isalpha())


def _normalise(codes: Iterable[str]) -> frozenset[str]:
    """ISO 639-1 codes from tags such as "en-US", "zh_Hans" or "NB", with Norwegian's variants as one."""
    found: set[str] = set()
    for code in codes:
        base = code.strip().lower().replace("_", "-").split("-", 1)[0]
        found.update(_ALIASES.get(base, (base,)))
    return frozenset(found - {""})


def detect_language(text: str, identifier: LanguageIdentifier | None = None) -> tuple[str, float]:
    """The most likely language (ISO 639-1) and its probability in [0, 1]; ("und", 0.0) without letters.

    The probability is the model's and is overconfident on a few words; `scan_language` asks for more.
    """
    prose = clean(text)
    if not any(ch.isalpha() for ch in prose):
        return UNDETERMINED, 0.0
    code, probability = (identifier or IDENTIFIER.get()).rank(prose)[0]
    return code, min(1.0, max(0.0, probability))


def scan_language(text: str, allowed: Sequence[str], *, identifier: LanguageIdentifier | None = None) -> list[Finding]:
    """A finding when the text is confidently in none of the `allowed` languages (none allowed-list: no finding).

    Args:
        text: The text to check.
        allowed: ISO 639-1 codes ("en", "de"); region and script suffixes are ignored ("en-GB" is "en").
        identifier: The model to use; the process's shared one when omitted.
    """
    accepted = _normalise(allowed)
    if not accepted:
        return []
    prose = clean(text)
    scripts = _letters_by_script(prose)
    letters = sum(scripts.values())
    if not letters:
        return []
    model = identifier or IDENTIFIER.get()
    allowed_scripts = {s for s, langs in SCRIPT_LANGUAGES.items() if langs & accepted}
    if accepted - _NON_LATIN:
        allowed_scripts.add("LATIN")
    known = {"LATIN", *SCRIPT_LANGUAGES}
    foreign = sum(n for script, n in scripts.items() if script in known and script not in allowed_scripts)
    if foreign / letters >= MIN_SCRIPT_SHARE:
        code = _best_in_scripts(model.rank(prose), scripts, accepted)
        return [Finding("language", "language_not_allowed", round(foreign / letters, 3), 0, len(text), code)]
    weight = letters + sum(n for script, n in scripts.items() if script in _DENSE)
    if weight < MIN_LETTERS:
        return []
    ranked = model.rank(prose)
    outside = 1.0 - sum(p for code, p in ranked if code in accepted)
    top = ranked[0][0]
    if top in accepted or outside < MIN_CONFIDENCE:
        return []
    return [Finding("language", "language_not_allowed", round(min(1.0, outside), 3), 0, len(text), top)]


def _best_in_scripts(ranked: list[tuple[str, float]], scripts: Counter[str], accepted: frozenset[str]) -> str:
    """The likeliest language written in the text's main script (the model may prefer a Latin one on two letters)."""
    main = scripts.most_common(1)[0][0]
    candidates = SCRIPT_LANGUAGES.get(main, frozenset())
    for code, _ in ranked:
        if code in candidates and code not in accepted:
            return code
    return ranked[0][0]
