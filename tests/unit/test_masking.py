"""Masking policies over detected PII spans."""

from __future__ import annotations

import pytest

from llmops.pii.masking import MaskingPolicy, Span, apply_policy

pytestmark = pytest.mark.unit

TEXT = "Mail ann@example.com or call Ann Lee."
SPANS = [Span(5, 20, "EMAIL_ADDRESS", 1.0), Span(29, 36, "PERSON", 0.85), Span(29, 32, "PERSON", 0.6)]


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        (MaskingPolicy.KEEP, TEXT),
        (MaskingPolicy.MASK, "Mail <EMAIL_ADDRESS> or call <PERSON>."),
        (MaskingPolicy.REDACT, "Mail [redacted] or call [redacted]."),
    ],
)
def test_each_policy_replaces_the_longest_non_overlapping_spans(policy: MaskingPolicy, expected: str) -> None:
    """Overlapping detections collapse to the longest; text between spans is untouched."""
    assert apply_policy(TEXT, SPANS, policy, salt="acme") == expected


def test_pseudonyms_are_stable_per_tenant_and_differ_across_tenants() -> None:
    """The same person gets the same alias within a tenant, so documents stay linkable without the name."""
    once = apply_policy(TEXT, SPANS, MaskingPolicy.PSEUDONYMISE, salt="acme")
    again = apply_policy(TEXT, SPANS, MaskingPolicy.PSEUDONYMISE, salt="acme")
    other = apply_policy(TEXT, SPANS, MaskingPolicy.PSEUDONYMISE, salt="globex")
    assert once == again != other
    assert "ann@example.com" not in once and "Ann Lee" not in once and "<PERSON_" in once
