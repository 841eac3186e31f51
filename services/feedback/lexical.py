"""Lexical measures behind the evaluation metrics: answer sentences and their citations, support by source
passages, token F1, refusals and forbidden phrases; pure.

Support is deliberately transparent: a sentence is supported when most of its content words (stopwords dropped,
plural `s` stripped) appear in the sources it cites and in one passage of them, and every number it states is
there too. The idea is the guardrails' `scan_grounding`, copied in a simpler form (services do not import each
other): no negation or antonym checks, because a metric should be easy to explain and stable across releases.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from llmops.text import sentence_spans as text_sentence_spans

MIN_SUPPORT = 0.5
"""Share of a sentence's content words that its sources must contain for the sentence to count as supported."""
MIN_CLAIM_WORDS = 4
"""Sentences with fewer content words ("Yes [1].") are not judged: too short to be supported or not."""

NO_SOURCES_ANSWER = "I could not find anything in your documents about that, so I cannot answer it."
"""The gateway's fixed answer when nothing was retrieved (a copy of `services.gateway.core.NO_SOURCES_ANSWER`)."""

_FENCED = re.compile(r"^[ \t]*(```|~~~).*?^[ \t]*\1[^\n]*$", re.M | re.S)
_INLINE_CODE = re.compile(r"`[^`\n]*`")
_CITATION = re.compile(r"\[(\d{1,3}(?:\s*[,;]\s*\d{1,3})*)\]")
_SPACE_BEFORE_PUNCTUATION = re.compile(r"\s+([.,;:!?])")
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*[ \t]+(?=[^a-z\s])|\n\s*")
_ABBREVIATION = re.compile(r"\b(?:e\.g|i\.e|etc|vs|cf|al|approx|resp|fig|sec|no)\.$", re.I)
_WORD = re.compile(r"[a-z0-9]+")
_STOPWORDS = frozenset(
    re.findall(
        r"\w+",
        "a an and are as at be but by can do does for from has have how i if in into is it its may more must no not "
        "of on or so such than that the their then there these they this to was were what when which who will with "
        "you your",
    )
)
_ARTICLES = frozenset({"a", "an", "the"})
_NUMBER_WORDS = {
    w: str(i)
    for i, w in enumerate(re.findall(r"\w+", "zero one two three four five six seven eight nine ten eleven twelve"))
}


def _stem(word: str) -> str:
    """Plural and third-person `s` off, so `returns` meets `return`; enough for overlap, cheap per word."""
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is", "ys")):
        return word[:-1]
    return word


def _normalized(text: str) -> str:
    text = text.lower().replace("\u2019", "'").replace("can't", "can not").replace("won't", "will not")
    return text.replace("n't", " not").replace("cannot", "can not")


def tokens(text: str) -> list[str]:
    """Lower-cased word tokens, stemmed, number words as digits (`two` is `2`)."""
    return [_NUMBER_WORDS.get(w, _stem(w)) for w in _WORD.findall(_normalized(text))]


def content_words(words: Iterable[str]) -> frozenset[str]:
    """The tokens that carry meaning: no stopwords, no single letters."""
    return frozenset(w for w in words if w not in _STOPWORDS and len(w) > 1)


def _numbers(words: Iterable[str]) -> frozenset[str]:
    return frozenset(w for w in words if w.isdigit())


def sentence_spans(text: str) -> Iterator[tuple[int, int]]:
    """(start, end) of each sentence: split after `.`, `!` or `?` before a capital, and at line breaks."""
    return text_sentence_spans(text, _SENTENCE_END, _ABBREVIATION)


def sentences(text: str) -> list[str]:
    """The text's sentences, stripped."""
    return [text[a:b].strip() for a, b in sentence_spans(text)]


def prose(answer: str) -> str:
    """The answer without fenced code blocks: code is an example, not a claim."""
    return _FENCED.sub("\n", answer)


def _cited_numbers(sentence: str) -> tuple[tuple[int, ...], str]:
    """Source numbers the sentence cites (in order, no repeats) and the sentence with its markers removed."""
    masked = _INLINE_CODE.sub(lambda m: " " * len(m.group(0)), sentence)
    numbers: list[int] = []
    spans: list[tuple[int, int]] = []
    for m in _CITATION.finditer(masked):
        before = masked[m.start() - 1] if m.start() else " "
        chained = before == "]" and bool(spans) and spans[-1][1] == m.start()
        if not chained and (before.isalnum() or before in "_)]"):
            continue  # an index, not a citation: `argv[0]`, `f()[1]`, `m[2][3]`
        spans.append(m.span())
        for n in re.findall(r"\d+", m.group(0)):
            if int(n) not in numbers:
                numbers.append(int(n))
    text = sentence
    for a, b in reversed(spans):
        text = text[:a] + " " + text[b:]
    return tuple(numbers), _SPACE_BEFORE_PUNCTUATION.sub(r"\1", " ".join(text.split()))


def strip_citations(answer: str) -> str:
    """The answer with its citation markers removed (the text a reader compares with a reference)."""
    return " ".join(_cited_numbers(s)[1] for s in sentences(prose(answer)) or [""]).strip()


@dataclass(frozen=True)
class Claim:
    """A sentence of an answer long enough to judge, with the source numbers it cites."""

    text: str
    cited: tuple[int, ...]
    words: frozenset[str]
    numbers: frozenset[str]


def claims(answer: str) -> list[Claim]:
    """The judgeable sentences of an answer's prose (at least `MIN_CLAIM_WORDS` content words)."""
    found = []
    for sentence in sentences(prose(answer)):
        cited, text = _cited_numbers(sentence)
        words = tokens(text)
        content = content_words(words)
        if len(content) >= MIN_CLAIM_WORDS:
            found.append(Claim(text.strip(), cited, content, _numbers(words)))
    return found


@dataclass(frozen=True)
class Passage:
    """A source's text prepared for support checks."""

    words: frozenset[str]
    numbers: frozenset[str]
    windows: tuple[frozenset[str], ...]
    """Content words of each sentence together with the next (sentence splitting errs around code and lists)."""

    @classmethod
    def of(cls, text: str) -> Passage:
        """Prepares one source text."""
        split = [tokens(s) for s in sentences(text)] or [[]]
        pairs = [split[i] + (split[i + 1] if i + 1 < len(split) else []) for i in range(len(split))]
        windows = tuple(content_words(p) for p in pairs)
        every = [w for s in split for w in s]
        return cls(content_words(every), _numbers(every), windows)


def supported(claim: Claim, passages: Sequence[Passage], min_support: float = MIN_SUPPORT) -> bool:
    """Whether the passages support the claim: at least `min_support` of its content words appear in them, at
    least 0.8 of that share in one window of one passage (a claim about another topic shares common words with a
    whole document, not with two of its sentences), and every number it states appears in them."""
    if not passages or not claim.words:
        return False
    pooled = frozenset().union(*(p.words for p in passages))
    if len(claim.words & pooled) / len(claim.words) < min_support:
        return False
    best = max(len(claim.words & w) / len(claim.words) for p in passages for w in p.windows)
    if best < min_support * 0.8:
        return False
    return claim.numbers <= frozenset().union(*(p.numbers for p in passages))


@dataclass(frozen=True)
class Overlap:
    """Token overlap of an answer with a reference (SQuAD style: bag of words, articles and punctuation dropped)."""

    precision: float
    recall: float
    f1: float


def _bag(text: str) -> Counter[str]:
    return Counter(w for w in _WORD.findall(_normalized(text)) if w not in _ARTICLES)


def token_overlap(answer: str, reference: str) -> Overlap:
    """Precision, recall and F1 of the answer's tokens (citation markers and code blocks removed) against the
    reference's. Two empty texts overlap fully; one empty text not at all."""
    got, want = _bag(strip_citations(answer)), _bag(reference)
    if not got or not want:
        same = float(not got and not want)
        return Overlap(same, same, same)
    common = sum((got & want).values())
    if common == 0:
        return Overlap(0.0, 0.0, 0.0)
    precision, recall = common / sum(got.values()), common / sum(want.values())
    return Overlap(precision, recall, 2 * precision * recall / (precision + recall))


_REFUSAL = re.compile(
    r"""
    \b(?:i|we)(?:'m|'re|\s+am|\s+are)?\s+(?:can\s+not|could\s+not|unable\s+to|not\s+able\s+to)\s+
        (?:answer|tell|say|find|determine|provide)\b
    | \b(?:i|we)\s+do\s+not\s+know\b
    | \b(?:can\s+not|unable\s+to)\s+(?:be\s+)?answer(?:ed)?\s+(?:from|with|using|based\s+on)\b
    | \b(?:sources?|documents?|context|passages?|excerpts?|provided\s+(?:text|information))\s+(?:do|does|did)\s+not\s+
        (?:contain|mention|include|cover|say|provide|address|discuss|describe|explain|specify|answer|have)\b
    | \bno\s+(?:relevant\s+)?information\s+(?:about|on|regarding|in\s+the\s+(?:sources?|documents?|context))\b
    | \bnot\s+(?:mentioned|covered|addressed|described|found|included)\s+in\s+(?:the\s+|your\s+)?(?:provided\s+)?
        (?:sources?|documents?|context|passages?)\b
    """,
    re.X,
)


def is_refusal(answer: str) -> bool:
    """Whether the answer declines to answer: the gateway's fixed no-sources answer, or a first sentence saying
    that the sources do not contain the answer ("I cannot answer from the provided sources", "The documents do not
    mention ...", the rag prompt's instruction). Only the first sentence counts: an answer that gives facts and
    then notes a gap is an answer. An empty answer is not a refusal."""
    if answer.strip() == NO_SOURCES_ANSWER:
        return True
    first = next(iter(sentences(prose(answer))), "")
    return bool(_REFUSAL.search(_normalized(first)))


def _phrase_pattern(phrase: str) -> re.Pattern[str]:
    words = [re.escape(w) for w in _normalized(phrase).split()]
    head = r"(?<!\w)" if re.match(r"\w", words[0]) else ""
    tail = r"(?!\w)" if re.search(r"\w$", words[-1]) else ""
    return re.compile(head + r"\s+".join(words) + tail)


def violations(answer: str, phrases: Iterable[str]) -> tuple[str, ...]:
    """The forbidden phrases the answer contains: case-insensitive, any run of whitespace matching a space, whole
    words at the phrase's edges (`print statement` does not match `blueprint statements`)."""
    text = _normalized(answer)
    return tuple(p for p in phrases if p.strip() and _phrase_pattern(p).search(text))
