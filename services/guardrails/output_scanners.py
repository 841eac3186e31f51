"""Answer scanners: citations never retrieved, claims the sources do not support, and the system prompt's canary
repeated in any disguise; pure. (Markup unsafe to render is `markup.py`.)

All of them read the answer's prose: numbers, words and brackets inside code spans and fenced blocks are code
(`argv[0]`), not citations or claims.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import difflib
import html
import itertools
import re
import unicodedata
import urllib.parse
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache

from llmops.text import sentence_spans
from services.guardrails.markup import mask_code
from services.guardrails.scanners import Finding

# --- citations -----------------------------------------------------------------------------------------------

_CITATION = re.compile(r"\[(\^?\d{1,3}(?:\s*(?:,|;|-|–|—|\.\.)\s*\^?\d{1,3})*)\]")
_CITED_NUMBER = re.compile(r"(\s*(?:,|;)\s*|\s*(?:-|–|—|\.\.)\s*)?\^?(\d{1,3})")
_MAX_RANGE = 50


@dataclass(frozen=True)
class Citation:
    """A citation marker (`[3]`, `[1, 4]`, `[2-5]`, `[^6]`) and the source numbers it cites, each with its span."""

    start: int
    end: int
    numbers: tuple[tuple[int, int, int, int], ...]
    """(number, start, end, separator start): a range `[2-5]` cites 2, 3, 4, 5; 3 and 4 carry 5's span."""


def citations(answer: str, masked: str | None = None) -> Iterator[Citation]:
    """Citation markers in the answer's prose: not in code, not an index after a name or call (`argv[0]`,
    `f()[1]`, `m[2][3]`), not a link (`[1](url)`) or a reference definition (`[1]: url`)."""
    masked = mask_code(answer) if masked is None else masked
    chained = -1  # where the last citation ended: `[1][7]` is two citations, `m[2][3]` none
    for m in _CITATION.finditer(masked):
        before = masked[m.start() - 1] if m.start() else " "
        if (before == "]" and m.start() != chained) or before.isalnum() or before in "_)":
            continue
        after = masked[m.end() : m.end() + 1]
        if after == "(" or (after == ":" and not masked[masked.rfind("\n", 0, m.start()) + 1 : m.start()].strip()):
            continue
        chained = m.end()
        numbers: list[tuple[int, int, int, int]] = []
        previous = None
        for n in _CITED_NUMBER.finditer(answer, m.start(1), m.end(1)):
            value, sep = int(n.group(2)), n.group(1) or ""
            is_range = sep.strip() in ("-", "–", "—", "..")
            if is_range and previous is not None and 0 < value - previous <= _MAX_RANGE:
                # the numbers after the first carry the `-5` span: removing it leaves `[2]`
                numbers += [(k, n.start(), n.end(), n.start()) for k in range(previous + 1, value + 1)]
            else:
                numbers.append((value, n.start(2) - (n.group(0).startswith("^")), n.end(), n.start()))
            previous = value
        yield Citation(m.start(), m.end(), tuple(numbers))


def scan_citations(answer: str, retrieved: Iterable[int]) -> list[Finding]:
    """A citation number the answer was never given is a fabricated source. The span covers the number and its
    separator, so redaction leaves `[1, 7]` as `[1]`, and a marker citing nothing retrieved disappears whole."""
    valid = set(retrieved)
    findings = []
    for c in citations(answer):
        bad = {(s, e, sep) for n, s, e, sep in c.numbers if n not in valid}
        if not bad:
            continue
        shown = sorted({n for n, *_ in c.numbers if n not in valid})
        detail = f"cites {', '.join(map(str, shown))}, not retrieved"
        if len(bad) == len({(s, e, sep) for _, s, e, sep in c.numbers}):
            findings.append(Finding("citations", "invalid_citation", 1.0, c.start, c.end, detail))
            continue
        first = min(s for _, s, _, _ in c.numbers)
        for s, e, sep in sorted(bad):
            if s == first:  # the leading number has no separator before it: take the one after it
                after = min((st for _, st, _, _ in c.numbers if st > s), default=e)
                findings.append(Finding("citations", "invalid_citation", 1.0, s, after, detail))
            else:
                findings.append(Finding("citations", "invalid_citation", 1.0, sep, e, detail))
    return findings


# --- grounding -----------------------------------------------------------------------------------------------

_WORD = re.compile(r"[a-z0-9]+")
_STOPWORDS = frozenset(
    re.findall(
        r"\w+",
        "a an and are as at be but by can do does for from has have how i if in into is it its may more must no not "
        "of on or so such than that the their then there these they this to was were what when which who will with "
        "you your",
    )
)
_NEGATIONS = frozenset({"not", "no", "never", "cannot", "none", "neither", "nor", "nothing"})
_NUMBERS = {
    w: str(i)
    for i, w in enumerate(
        re.findall(
            r"\w+",
            "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
            "seventeen eighteen nineteen twenty",
        )
    )
}
"""Number words read as digits, so `two` in a claim meets `2` in the source (and `four` does not meet `zero`)."""


def _stem(word: str) -> str:
    """Plural and third-person `s` off, so `returns` meets `return`; enough for overlap, cheap per word."""
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is", "ys")) and word not in _STOPWORDS:
        return word[:-1]
    return word


_ANTONYMS = (
    "true false|first last|before after|left right|minimum maximum|min max|smaller larger|smallest largest|"
    "small large|less more|fewer more|least most|lower higher|low high|lowest highest|increase decrease|"
    "increment decrement|start end|begin end|beginning end|open close|opened closed|read write|input output|"
    "inner outer|upper lower|uppercase lowercase|inside outside|internal external|local global|public private|"
    "static dynamic|always never|ascending descending|implicit explicit|implicitly explicitly|positive negative|"
    "empty full|required optional|mandatory optional|allowed forbidden|allow deny|accept reject|include exclude|"
    "success failure|succeed fail|pass fail|add remove|insert delete|push pop|import export|encode decode|"
    "encrypt decrypt|upload download|client server|send receive|sender receiver|parent child|ancestor descendant|"
    "superclass subclass|head tail|top bottom|above below|over under|old new|older newer|oldest newest|"
    "earlier later|earliest latest|previous next|prefix suffix|leading trailing|front back|forward backward|"
    "horizontal vertical|longer shorter|longest shortest|long short|fast slow|faster slower|strong weak|"
    "lazy eager|shallow deep|even odd|same different|single multiple|singular plural|synchronously asynchronously|"
    "inclusive exclusive|enable disable|enabled disabled|truthy falsy|permanent temporary|major minor|"
    "optimistic pessimistic|sufficient insufficient|strict lenient|hot cold|min-heap max-heap|win lose"
)
_OPPOSITE = {_stem(a): _stem(b) for pair in _ANTONYMS.split("|") for a, b in (pair.split(), pair.split()[::-1])}
_CLOSE = 0.7
_MIN_CLAIM = 4
"""Fewer content words than this are too few to weigh overlap on ("Yes, it does [1]."); numbers and negations
are still checked."""
"""A claim sharing this share of its content words with one passage is read as a restatement of that passage."""
_NEGATING_PREFIXES = ("un", "in", "im", "il", "ir", "non", "dis", "a", "de")
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*[ \t]+(?=\S)|\n\s*")
_ABBREVIATION = re.compile(r"(?:\b(?:e\.g|i\.e|etc|vs|cf|al|approx|resp|fig|sec|no|mr|mrs|dr|st)\.)$", re.I)


_TOKEN_OF: dict[str, str] = {}
"""Word → token (number words as digits, stemmed), memoised: the same words recur in every answer and source."""


def _token(word: str) -> str:
    if len(_TOKEN_OF) > 100_000:
        _TOKEN_OF.clear()
    token = _TOKEN_OF[word] = _NUMBERS.get(word) or _stem(word)
    return token


def _tokens(text: str) -> list[str]:
    text = text.lower().replace("n't", " not").replace("cannot", "can not")
    known = _TOKEN_OF.get
    return [known(w) or _token(w) for w in _WORD.findall(text)]


def _is_content(word: str) -> bool:
    return len(word) > 1 and word not in _STOPWORDS


def _content(tokens: Iterable[str]) -> set[str]:
    return {w for w in set(tokens) - _STOPWORDS if len(w) > 1}


def _numbers(tokens: Iterable[str]) -> set[str]:
    return {w for w in tokens if w.isdigit()}


@lru_cache(maxsize=16384)
def _opposites(word: str) -> frozenset[str]:
    """Its antonym from the table, and the word with a negating prefix taken off or put on (`im`+`mutable`)."""
    found = {_OPPOSITE[word]} if word in _OPPOSITE else set()
    for prefix in _NEGATING_PREFIXES:
        if word.startswith(prefix) and len(word) - len(prefix) >= 5:
            found.add(word[len(prefix) :])
        if len(word) >= 5:
            found.add(prefix + word)
    return frozenset(found)


@dataclass(frozen=True)
class _Source:
    words: set[str]
    numbers: set[str]
    windows: tuple[tuple[list[str], set[str]], ...]
    """Each sentence with the next (splitting errs on `e.g.`), as tokens and content words."""
    sentences: tuple[tuple[list[str], set[str]], ...]

    @staticmethod
    @lru_cache(maxsize=512)  # retrieval hands the same chunks to many answers
    def of(text: str) -> _Source:
        text = mask_code(text)  # read as the answer is: `None` in code is no negation, `argv[0]` no number
        sentences = [(t, _content(t)) for t in (_tokens(text[a:b]) for a, b in _sentence_spans(text))] or [([], set())]
        pairs = [(t + u, w | v) for (t, w), (u, v) in zip(sentences, [*sentences[1:], ([], set())], strict=True)]
        tokens = [t for s, _ in sentences for t in s]
        return _Source(set().union(*(w for _, w in sentences)), _numbers(tokens), tuple(pairs), tuple(sentences))


def _sentence_spans(text: str) -> Iterator[tuple[int, int]]:
    return sentence_spans(text, _SENTENCE_END, _ABBREVIATION)


def _negated_near(tokens: list[str], words: Iterable[str], reach: int = 4) -> bool:
    wanted = {w for w in words if w}
    negations = [i for i, t in enumerate(tokens) if t in _NEGATIONS]
    return any(wanted.intersection(tokens[max(0, i - reach) : i + reach + 1]) for i in negations)


def _negation_mismatch(claim: list[str], passage: list[str], sentence: list[str], *, close: bool) -> str:
    """`added` when the claim negates what the passage states (`is not used` against `is used`), `dropped` when
    it states what the passage's closest sentence negates (`close`: the claim restates that sentence); '' when
    they agree."""
    for i, t in enumerate(claim):
        if t not in _NEGATIONS:
            continue
        near = _content(w for w in claim[max(0, i - 3) : i + 5] if w not in _NEGATIONS)
        if near and not _negated_near(passage, near, reach=5):
            return "added"
    negations = sum(t in _NEGATIONS for t in claim)
    if negations and negations > sum(t in _NEGATIONS for t in sentence) and len(_content(claim) - set(sentence)) <= 1:
        return "added"  # the same sentence, one negation more (`"not in" is not defined`)
    for i in [i for i, t in enumerate(sentence) if t in _NEGATIONS] if close else ():
        phrase = [w for w in sentence[max(0, i - 2) : i + 3] if w not in _NEGATIONS]
        telling = len(phrase) >= 3 and any(_is_content(w) or w.isdigit() for w in phrase)
        if telling and _contains(claim, phrase):
            return "dropped"  # the words around the passage's negation, in the claim without it
    return ""


def _contains(tokens: list[str], run: list[str]) -> bool:
    return any(tokens[k : k + len(run)] == run for k in range(len(tokens) - len(run) + 1))


def _swapped_words(claim: list[str], sentence: list[str]) -> list[str]:
    """Claim words that stand, aligned word for word, where the sentence has their opposite."""
    matcher = difflib.SequenceMatcher(None, sentence, claim, autojunk=False)
    return [
        claim[j]
        for op, i1, i2, j1, j2 in matcher.get_opcodes()
        if op == "replace"
        for i, j in zip(range(i1, i2), range(j1, j2), strict=False)
        if sentence[i] in _opposites(claim[j])
    ]


def _problems(tokens: list[str], pool: list[_Source], cited: bool, min_support: float) -> Iterator[tuple[float, str]]:
    """Why a claim (as tokens) is not supported by the sources in `pool`, each reason with its score: the sources
    it cites together, or (citing none) the one source that supports it best."""
    claim = _content(tokens)
    words = set().union(*(s.words for s in pool))
    support = (len(claim & words) if cited else max(len(claim & s.words) for s in pool)) / len(claim)
    where = "the cited source" if cited else "any source"
    best, window = max(((len(claim & w) / len(claim), t) for s in pool for t, w in s.windows), key=lambda p: p[0])
    overlap, _, closest = max((len(claim & w), -len(t), t) for s in pool for t, w in s.sentences)
    if len(claim) >= _MIN_CLAIM and support < min_support:
        yield 1 - support, f"{support:.0%} of its content words appear in {where}"
    elif len(claim) >= _MIN_CLAIM and best < min_support * 0.8:
        yield 1 - best, f"{best:.0%} of its content words appear in any one passage of {where}"
    numbers = _numbers(tokens)
    if missing := numbers - set().union(*(s.numbers for s in pool)):
        yield 0.85, f"the number {', '.join(sorted(missing))} is not in {where}"
    elif best >= _CLOSE and (missing := numbers - _numbers(window)):
        yield 0.8, f"the number {', '.join(sorted(missing))} is not in the passage it matches"
    close = overlap >= _CLOSE * len(claim)
    if best >= min_support and (mismatch := _negation_mismatch(tokens, window, closest, close=close)):
        yield 0.8, f"negation {mismatch}: {where} says otherwise"
    window_words = _content(window)
    swapped = [w for w in claim - words if (_opposites(w) & window_words) - claim]
    if close:  # a restatement of one sentence: a word put where the sentence has its opposite
        swapped += _swapped_words(tokens, closest)
    if swapped:
        yield 0.8, f"{swapped[0]!r} where {where} says the opposite"


def scan_grounding(answer: str, sources: dict[int, str], *, min_support: float = 0.5) -> list[Finding]:
    """Each sentence of the answer's prose against the sources it cites (all of them when it cites none). It is
    flagged when most of its content words are absent from the source, or from the best passage of it (a claim
    about another topic shares common words with a whole chunk, not with one sentence); when it has a number the
    source lacks; when it negates what the passage states, or the reverse; or when a word is swapped for its
    opposite (`first` for `last`, `mutable` for `immutable`)."""
    prepared = {n: _Source.of(text) for n, text in sources.items()}
    masked = mask_code(answer)
    findings = []
    for start, end in _sentence_spans(masked) if prepared else ():
        sentence = masked[start:end]
        cited = {n for c in citations(sentence, sentence) for n, *_ in c.numbers if n in prepared}
        tokens = _tokens(_CITATION.sub(" ", sentence))
        if len(_content(tokens)) < 2:
            continue  # nothing to judge ("Yes [1].")
        pool = [prepared[n] for n in sorted(cited)] or list(prepared.values())
        if reasons := list(_problems(tokens, pool, bool(cited), min_support)):
            score, detail = max(reasons)
            findings.append(Finding("grounding", "unsupported_claim", round(score, 3), start, end, detail))
    return findings


# --- canary --------------------------------------------------------------------------------------------------

_ALNUM = re.compile(r"[^a-z0-9]+")
_ENCODED = re.compile(r"[A-Za-z0-9+/_-]{16,}={0,2}|(?:[0-9A-Fa-f]{2}[\s:]?){8,}")
_WINDOW = 8
_ESCAPE = re.compile(r"\\(?:u([0-9a-fA-F]{4})|x([0-9a-fA-F]{2}))")


def _folded(text: str) -> str:
    return _ALNUM.sub("", unicodedata.normalize("NFKC", text).casefold())


def _span_of(answer: str, at: int, length: int) -> tuple[int, int]:
    """Where characters at..at+length of the folded answer sit in the original."""
    if answer.isascii():  # folding keeps exactly the letters and digits
        kept = [m.start() for m in re.finditer(r"[A-Za-z0-9]", answer)]
        return kept[at], kept[at + length - 1] + 1
    seen, start = 0, -1
    for i, ch in enumerate(answer):
        size = len(_folded(ch))
        if size and start < 0 and seen + size > at:
            start = i
        seen += size
        if seen >= at + length:
            return start, i + 1
    return max(start, 0), len(answer)


def _decoded(answer: str) -> Iterator[tuple[str, int, int]]:
    for m in _ENCODED.finditer(answer):
        run = m.group(0)
        compact = re.sub(r"[\s:]", "", run)
        for decode in (base64.b64decode, base64.urlsafe_b64decode, bytes.fromhex):
            try:
                raw = decode(compact + "=" * (-len(compact) % 4)) if decode is not bytes.fromhex else decode(compact)
            except (binascii.Error, ValueError):
                continue
            yield raw.decode("utf-8", "ignore"), m.start(), m.end()


def _unescaped(answer: str) -> str:
    """Percent-, entity- and `\\u`/`\\x`-escapes undone."""
    text = html.unescape(urllib.parse.unquote(answer))
    return _ESCAPE.sub(lambda m: chr(int(m.group(1) or m.group(2), 16)), text)


def _canary_leaks(answer: str, canary: str) -> Iterator[Finding]:
    """Every way the canary shows in the answer, most certain first."""
    if (at := answer.find(canary)) >= 0:
        yield Finding("canary", "system_prompt_leak", 1.0, at, at + len(canary), "canary token in the answer")
    token, text = _folded(canary), _folded(answer)
    if not token:
        return
    for variant, detail, score in (
        (token, "canary token, case or spacing changed", 1.0),
        (token[::-1], "canary token reversed", 0.95),
        (codecs.encode(token, "rot13"), "canary token in rot13", 0.95),
    ):
        if (at := text.find(variant)) >= 0:
            yield Finding("canary", "system_prompt_leak", score, *_span_of(answer, at, len(variant)), detail)
    b64, hexed = base64.b64encode(canary.encode()).decode().rstrip("="), canary.encode().hex()
    for at, length in ((answer.find(b64), len(b64)), (answer.lower().find(hexed), len(hexed))):
        if at >= 0:
            yield Finding("canary", "system_prompt_leak", 0.95, at, at + length, "canary token encoded")
    for decoded, a, b in _decoded(answer):
        if token in _folded(decoded):
            yield Finding("canary", "system_prompt_leak", 0.95, a, b, "canary token in an encoded run")
    if re.search(r"%|&#|\\[ux]", answer) and token in _folded(_unescaped(answer)):
        yield Finding("canary", "system_prompt_leak", 0.95, 0, len(answer), "canary token, escaped")
    for i in range(len(token) - _WINDOW + 1 if len(token) > _WINDOW else 0):
        piece = token[i : i + _WINDOW]
        if not piece.isalpha() and (at := text.find(piece)) >= 0:
            yield Finding("canary", "system_prompt_leak", 0.9, *_span_of(answer, at, _WINDOW), "part of the canary")


def scan_canary(answer: str, canary: str) -> list[Finding]:
    """The system prompt's canary in the answer: the model is repeating its instructions. Found as written, in
    any case, spacing or punctuation (letters and digits compared alone), reversed, rot13, base64- or
    hex-encoded or escaped, and in part (any 8-character run of it that is not just letters)."""
    return list(itertools.islice(_canary_leaks(answer, canary), 1)) if canary else []
