"""The learned injection layer: a linear model over hashed character n-grams, trained offline; numpy only.

Patterns catch the phrasings someone wrote down; the classifier scores what attacks *look like* across public
jailbreak and injection corpora (training/guardrails/, with its data provenance), including paraphrases no
pattern names. Features are the character 2–5-grams within words of the lower-cased text, hashed into 2^18
buckets with a rolling polynomial hash, so extraction is a few vectorised numpy passes (no Python loop per
n-gram) and the same function serves training and inference. Long texts are scored in overlapping windows and
the highest window counts, so an instruction hidden in a long document is not diluted by the text around it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from services.guardrails.lazy import Lazy
from services.guardrails.normalize import Normalized
from services.guardrails.scanners import Finding

FEATURE_BITS = 18
NGRAMS = (2, 3, 4, 5)
WINDOW_CHARS = 1500
WINDOW_STRIDE = 750
MAX_WINDOWS = 64
"""Texts longer than 64 windows (~48 KB) are scored on their first windows; patterns still read all of it."""

MODEL_PATH = Path(__file__).parent / "models" / "injection-classifier.npz"
_BASE = np.uint64(1_000_003)
_MASK = np.uint64((1 << FEATURE_BITS) - 1)


def _codes(text: str) -> npt.NDArray[np.uint64]:
    padded = " " + " ".join(text.lower().split()) + " "
    return np.frombuffer(padded.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)


def hashed_ngrams(text: str) -> npt.NDArray[np.int64]:
    """Bucket index of every character n-gram (n in NGRAMS) inside a word of the lower-cased text.

    As scikit-learn's `char_wb` analyser: an n-gram may start or end at a space but not span one, so features
    describe words and their parts, not accidental pairs across words.
    """
    codes = _codes(text)
    spaces = np.concatenate(([0], np.cumsum(codes == 32)))
    buckets = []
    with np.errstate(over="ignore"):  # the hash wraps around 2^64 by design
        for n in NGRAMS:
            count = len(codes) - n + 1
            if count <= 0:
                continue
            starts = np.arange(count)
            inside = spaces[starts + n - 1] - spaces[starts + 1]  # spaces strictly inside the n-gram
            rolling = np.zeros(count, dtype=np.uint64)
            for k in range(n):
                rolling = rolling * _BASE + codes[k : k + count]
            rolling = rolling[inside == 0] * np.uint64(0x9E3779B97F4A7C15) + np.uint64(n)
            buckets.append((rolling >> np.uint64(40)) & _MASK)
    if not buckets:
        return np.zeros(0, dtype=np.int64)
    joined: npt.NDArray[np.int64] = np.concatenate(buckets).astype(np.int64)
    return joined


def feature_vector(text: str) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """Sparse features of one window: bucket indices and sublinear, L2-normalised counts."""
    indices, counts = np.unique(hashed_ngrams(text), return_counts=True)
    values = (1.0 + np.log(counts)).astype(np.float32)
    norm = float(np.linalg.norm(values))
    return indices, values / norm if norm else values


def windows(text: str) -> list[str]:
    """Overlapping windows covering the text (a short text is its own single window)."""
    if len(text) <= WINDOW_CHARS:
        return [text]
    starts = range(0, len(text) - WINDOW_STRIDE, WINDOW_STRIDE)
    return [text[s : s + WINDOW_CHARS] for s in list(starts)[:MAX_WINDOWS]]


@dataclass(frozen=True)
class InjectionClassifier:
    """Logistic regression weights over the hashed features; `score` is the attack probability."""

    weights: npt.NDArray[np.float32]
    bias: float
    version: str
    threshold: float
    """The decision threshold chosen at training time (out-of-source benign false-positive rate ≤ 2%)."""

    @classmethod
    def load(cls, path: Path = MODEL_PATH) -> InjectionClassifier:
        with np.load(path) as data:
            weights = np.zeros(1 << FEATURE_BITS, dtype=np.float32)
            weights[data["indices"]] = data["values"].astype(np.float32)
            return cls(weights, float(data["bias"]), str(data["version"]), float(data["threshold"]))

    def save(self, path: Path) -> None:
        nonzero = np.flatnonzero(self.weights)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(
            path,
            indices=nonzero.astype(np.int32),
            values=self.weights[nonzero].astype(np.float16),
            bias=np.float64(self.bias),
            version=np.str_(self.version),
            threshold=np.float64(self.threshold),
        )

    def window_score(self, text: str) -> float:
        indices, values = feature_vector(text)
        logit = float(self.weights[indices] @ values) + self.bias
        return float(1.0 / (1.0 + np.exp(-logit)))

    def score(self, text: str) -> float:
        """The attack probability of the text's most suspicious window."""
        return max(self.window_score(window) for window in windows(text))


SHIPPED = Lazy(InjectionClassifier.load)
"""The model in the package, loaded once per process (about 1 MB in memory)."""


REPORT_FLOOR = 0.3
"""Scores below this are not reported at all (a policy threshold under it would flag ordinary text)."""


def scan_learned_injection(normalized: Normalized, classifier: InjectionClassifier | None = None) -> list[Finding]:
    """The classifier's verdict on the normalised text and on every payload decoded from it (the highest wins),
    when it reaches the report floor."""
    model = classifier or SHIPPED.get()
    best: Finding | None = None
    sources: list[tuple[str, str, tuple[int, int]]] = [("text", normalized.text, (0, 0)), *normalized.decoded]
    for origin, text, span in sources:
        probability = model.score(text)
        if best is None or probability > best.score:
            # As with the patterns: the whole text (0, 0), or the encoded run a decoded payload came from.
            best = Finding(
                "injection_classifier", "prompt_injection", round(probability, 3), *span, f"{model.version} on {origin}"
            )
    return [best] if best is not None and best.score >= REPORT_FLOOR else []
