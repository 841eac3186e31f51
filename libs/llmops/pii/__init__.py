"""Personal data: masking policies over detected spans (`masking`, pure) and the offline Presidio detector
(`presidio`; import it explicitly, it needs the `pii` extra and loads a spaCy model)."""

from llmops.pii.masking import ENTITY_TYPES, MaskingPolicy, Span, apply_policy, pseudonym

__all__ = ["ENTITY_TYPES", "MaskingPolicy", "Span", "apply_policy", "pseudonym"]
