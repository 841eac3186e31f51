"""Toxicity: each sentence scored by a bag-of-words model and a profanity lexicon, fully offline; pure once loaded.

Model: `alt-profanity-check`'s linear SVM over TF-IDF, calibrated with Platt sigmoids (scikit-learn; the weights
ship in its wheel). Its arithmetic is replayed in plain Python per sentence, checked against `predict_proba` at
load: scikit-learn's per-call validation costs about 6 ms where the arithmetic costs microseconds.

Lexicon: `better-profanity`'s word list (read as data; its matcher takes ~15 ms a text) less the words that are
mostly innocent in prompts ("gay", "kill", "cock", "screw", anatomy, drugs). It catches what the model cannot
see: obfuscated spellings ("f**k", "sh1t", "a$$hole") and rare terms outside the model's vocabulary.

English only: the model and the list were built from English text.
"""

from __future__ import annotations

import importlib.util
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.guardrails.lazy import Lazy
from services.guardrails.normalize import CONFUSABLES, INVISIBLE
from services.guardrails.scanners import Finding

LEXICON_SCORE = 0.9
"""The score of a sentence holding a lexicon word: profanity is certain, whether it is abuse is not."""
MIN_SCORE = 0.5
"""Sentences scoring below this are not reported."""
MAX_FINDINGS = 100
"""Past this many toxic stretches, the rest of the text is reported as one finding (redaction stays complete)."""
WINDOW_CHARS = 400
"""Longer sentences are scored in windows: a bag of words dilutes one slur in a long run of text."""

# A sentence ends at . ! ? followed by a space (so "sh!t" stays whole), at CJK full stops, or at a line break.
_SENTENCE = re.compile(r"\S.*?(?:[.!?]+(?=\s|\Z)|[。！？]+|(?=\n)|\Z)")
_WORD = re.compile(r"[\w@$*!+]+")
_DASH_MASK = re.compile(r"(?<=[a-z])[–—]+(?=[a-z])")  # "f–king"
_LEET = str.maketrans(
    {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i", "+": "t"}
)


def _word_set(words: str) -> frozenset[str]:
    return frozenset(words.split())


# Words on better-profanity's list that are, in prompts, mostly innocent: clinical and anatomical terms, identity
# words (flagging "gay" harms the people it names), drugs and violence as topics, everyday words and names.
_INNOCENT = _word_set(
    """
    anal anus areole arian aryan asses balls boob boobs boner breasts busty clitoris cock cocks cow cowgirl cowgirls
    crotch dick dink dinks dong drunk dummy dopey doofus ejaculate ejaculated ejaculates ejaculating ejaculatings
    ejaculation enlargement erect erection erotic erotism facial fanny fart fat fingering fisted flange fondle foobar
    fubar foreskin gae gai gay gays gey ghay ghey glans god gonad gonads gringo guido hell hemp herp herpes herpy
    heroin hitler hiv hoar hoer homey homo hooch hookah hooker hooter hooters hoor hootch hore hump humped humping
    incest inbred jerk jerked junkie junky kill kinky klan kkk knob kraut kum labia len leper lesbians lmao lmfao loin
    loins lube lust lusting lusty mams masochist massa maxi menses menstruate menstruation meth molest moron muff
    murder naked napalm nad nads nazi nazism negro nig niggle nimrod ninny nipple nipples nob nude nudes omg opiate
    opium oral orally organ orgies orgy ovary ovum ovums paddy pantie panties panty pasty pastie pawn pcp pedophile
    pedophilia pee penetrate penetration penial penile penis perversion peyote phallic pimp playboy pms pollock poop
    pot potty prick pricks prig prostitute prude pube pubic pubis punky queer queers racy rape raped raper
    raping rapist rectal rectum rectus reefer reich revue rum rump sadism sadist sandbar scag scantily screw screwed
    screwing seaman seamen seduce semen sex sexual shag sissy skag slave sleaze sleazy slope snatch sniper snuff sodom
    souse soused spac sperm spunk steamy stoned strip stroke stupid suck sucked sucking tampon tawdry teat teets teez
    teste testee testes testical testicle testis thrust thug tinkle tit titi toke toots tramp transsexual trashy tush
    ugly undies unwed urinal urine uterus uzi vag vagina valium viagra virgin vixen vodka vomit voyeur vulgar vulva
    wad wang weed weenie weiner weirdo wench whiz willies willy womb woody xx xxx crap damn wtf stfu gtfo foad gfy
    chink coon hebe extacy extasy howtokill howtomurdep heshe pron cum cums
    """
)

# Words the model learned as toxic that are not, by themselves: identity terms (the model scores "I am a gay man."
# 0.95 — a known bias of comment-trained classifiers), everyday workplace words ("sick" leave, "expense" report,
# "mental" health) and artefacts of its training comments ("chambers", "clouds"). Their weights are set to zero;
# they still count towards a sentence's length. Slurs stay.
NEUTRAL_WORDS = _word_set(
    """
    gay gays lesbian lesbians bisexual homosexual homosexuals queer queers transgender trans lgbt lgbtq jew jews
    jewish muslim muslims islam islamic christian christians black blacks white whites african mexican asian
    immigrant immigrants woman women female male feminist deaf blind disabled
    sick cancer expense mental mentally mum chambers clouds drove participating publicly skull graves buzz
    """
)


def _package_dir(name: str) -> Path:
    """An installed package's folder, without importing it (alt-profanity-check loads its model on import)."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"the package {name!r} is not installed; install the guardrails extra")
    return Path(next(iter(spec.submodule_search_locations)))


def _mask_part(part: str) -> str:
    return f"[a-z]{{{len(part)},{len(part) + 2}}}" if part.startswith("*") else re.escape(part)


def _leet(word: str) -> str:
    return word.translate(_LEET)


@dataclass(frozen=True)
class _Linear:
    """One calibrated linear SVM: decision = w·x + b, probability = 1 / (1 + exp(a·decision + c))."""

    intercept: float
    slope: float
    offset: float


class ToxicityDetector:
    """Scores sentences; build it once with `load()` (about 1.5 s, mostly importing scikit-learn)."""

    def __init__(
        self,
        analyze: Callable[[str], list[str]],
        weights: dict[str, tuple[float, ...]],
        members: Sequence[_Linear],
        lexicon: frozenset[str],
        phrases: re.Pattern[str] | None,
    ) -> None:
        self._analyze = analyze
        self._weights = weights  # token -> (idf, w_1 … w_k)
        self._members = tuple(members)
        self._lexicon = lexicon
        self._by_initial: dict[str, list[str]] = {}
        for word in lexicon:
            self._by_initial.setdefault(word[0], []).append(word)
        self._phrases = phrases
        self._fallback: Callable[[list[str]], list[float]] | None = None

    @classmethod
    def load(cls) -> ToxicityDetector:
        joblib = importlib.import_module("joblib")  # brings scikit-learn (about 1.5 s): on first use only

        data = _package_dir("profanity_check") / "data"
        vectorizer: Any = joblib.load(data / "vectorizer.joblib")
        model: Any = joblib.load(data / "model.joblib")
        vocabulary: dict[str, int] = vectorizer.vocabulary_
        idf = vectorizer.idf_
        members, columns = [], []
        for calibrated in model.calibrated_classifiers_:
            sigmoid = calibrated.calibrators[0]
            svm = calibrated.estimator
            members.append(_Linear(float(svm.intercept_[0]), float(sigmoid.a_), float(sigmoid.b_)))
            columns.append(svm.coef_[0])
        weights = {token: (float(idf[i]), *(float(column[i]) for column in columns)) for token, i in vocabulary.items()}
        words = (_package_dir("better_profanity") / "profanity_wordlist.txt").read_text(encoding="utf-8").split("\n")
        entries = {_leet(w.strip().lower()) for w in words if w.strip() and "*" not in w}
        single = frozenset(w for w in entries if " " not in w and w not in _INNOCENT)
        multi = sorted((w for w in entries if " " in w), key=len, reverse=True)
        phrases = re.compile(r"\b(?:" + "|".join(re.escape(p) for p in multi) + r")\b") if multi else None
        detector = cls(vectorizer.build_analyzer(), weights, members, single, phrases)
        detector._check_against(
            lambda texts: [float(p) for p in model.predict_proba(vectorizer.transform(texts))[:, 1]]
        )
        detector._neutralise(NEUTRAL_WORDS)
        return detector

    def _neutralise(self, words: frozenset[str]) -> None:
        for word in words & self._weights.keys():
            self._weights[word] = (self._weights[word][0], *(0.0 for _ in self._members))

    def _check_against(self, reference: Callable[[list[str]], list[float]]) -> None:
        """Use scikit-learn itself if the replayed arithmetic disagrees with it (a changed model format)."""
        probes = ["you are a complete idiot and I hate you", "Thanks, the report is attached.", "", "shit shit"]
        expected = reference(probes)
        if any(abs(self._model_score(p) - e) > 1e-6 for p, e in zip(probes, expected, strict=True)):
            self._fallback = reference

    @property
    def replayed(self) -> bool:
        """Whether the fast path is in use (it agreed with scikit-learn at load)."""
        return self._fallback is None

    def _model_score(self, sentence: str) -> float:
        counts = Counter(t for t in self._analyze(sentence) if t in self._weights)
        values = [(count * self._weights[token][0], self._weights[token]) for token, count in counts.items()]
        norm = math.sqrt(sum(v * v for v, _ in values)) or 1.0
        total = 0.0
        for k, member in enumerate(self._members, start=1):
            decision = member.intercept + sum(v * w[k] for v, w in values) / norm
            total += 1.0 / (1.0 + math.exp(min(700.0, member.slope * decision + member.offset)))
        return total / len(self._members)

    def lexicon_hit(self, sentence: str) -> bool:
        """A listed word, also spelled with digits or symbols ("sh1t", "a$$"), or masked ("f**k", "f–king")."""
        lowered = _DASH_MASK.sub("*", sentence.lower())
        for raw in _WORD.findall(lowered):
            word = raw.strip("!")
            if raw.startswith("*"):
                word = word.strip("*")  # *emphasis*
            if not word:
                continue
            if word in self._lexicon or _leet(word) in self._lexicon:
                return True
            if "*" in word and len(word) >= 4 and word[0] != "*" and self._masked_match(_leet(word)):
                return True
        return bool(self._phrases and self._phrases.search(" ".join(_WORD.findall(_leet(lowered)))))

    def _masked_match(self, word: str) -> bool:
        """Each run of n asterisks stands for n to n + 2 letters: "f**k", "f*ck", "f*king"."""
        pattern = re.compile("".join(_mask_part(part) for part in re.split(r"(\*+)", word)))
        return any(pattern.fullmatch(candidate) for candidate in self._by_initial.get(word[0], ()))

    def score(self, sentences: list[str]) -> list[tuple[float, bool]]:
        """(model probability, lexicon hit) per sentence."""
        cleaned = [unicodedata.normalize("NFKC", INVISIBLE.sub("", s)).translate(CONFUSABLES) for s in sentences]
        model = self._fallback(cleaned) if self._fallback else [self._model_score(s) for s in cleaned]
        return [(p, self.lexicon_hit(s)) for p, s in zip(model, cleaned, strict=True)]


DETECTOR: Lazy[ToxicityDetector] = Lazy(ToxicityDetector.load)
"""The process's detector, loaded on first use; call `DETECTOR.get()` at start-up to pay the load early."""


def sentence_spans(text: str, window: int = WINDOW_CHARS) -> list[tuple[int, int]]:
    """Sentences (and windows of at most `window` characters inside long ones) as spans of `text`."""
    spans: list[tuple[int, int]] = []
    for match in _SENTENCE.finditer(text):
        start, end = match.span()
        while end - start > window:
            cut = text.rfind(" ", start + window // 2, start + window)
            cut = cut if cut > start else start + window
            spans.append((start, cut))
            start = cut
            while start < end and text[start].isspace():
                start += 1
        if start < end:
            spans.append((start, end))
    return spans


@dataclass
class _Stretch:
    """Adjacent toxic sentences, reported as one finding."""

    start: int
    end: int
    score: float
    model: float
    listed: int

    def absorb(self, other: _Stretch) -> None:
        self.end = other.end
        self.score = max(self.score, other.score)
        self.model = max(self.model, other.model)
        self.listed += other.listed

    def finding(self) -> Finding:
        detail = f"model {self.model:.2f}"
        if self.listed:
            detail += f"; listed profanity in {self.listed} sentence(s)"
        return Finding("toxicity", "toxicity", round(self.score, 3), self.start, self.end, detail)


def scan_toxicity(
    text: str, *, min_score: float = MIN_SCORE, detector: ToxicityDetector | None = None
) -> list[Finding]:
    """Toxic sentences (insults, profanity, slurs, sexual explicitness) as findings with the sentences' spans.

    Adjacent toxic sentences form one finding scored by the worst of them, so redaction removes a rant whole.
    """
    spans = [s for s in sentence_spans(text) if any(ch.isalpha() for ch in text[s[0] : s[1]])]
    if not spans:
        return []
    scored = (detector or DETECTOR.get()).score([text[a:b] for a, b in spans])
    stretches: list[_Stretch] = []
    previous = -2
    for i, ((start, end), (model, listed)) in enumerate(zip(spans, scored, strict=True)):
        stretch = _Stretch(start, end, max(model, LEXICON_SCORE if listed else 0.0), model, int(listed))
        if stretch.score < min_score:
            continue
        if previous == i - 1:
            stretches[-1].absorb(stretch)
        else:
            stretches.append(stretch)
        previous = i
    if len(stretches) > MAX_FINDINGS:
        tail = stretches[MAX_FINDINGS - 1]
        for later in stretches[MAX_FINDINGS:]:
            tail.absorb(later)
        del stretches[MAX_FINDINGS:]
    return [stretch.finding() for stretch in stretches]
