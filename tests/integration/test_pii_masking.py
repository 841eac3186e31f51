"""PII masking with the real Presidio detector and spaCy model (offline), through ingestion's planning."""

from __future__ import annotations

import pytest

from llmops.pii.masking import MaskingPolicy
from llmops.pii.presidio import PresidioDetector, PresidioMasker
from services.ingestion.chunking import ChunkingPolicy
from services.ingestion.core import DocumentHeader, Limits, plan_version

pytestmark = pytest.mark.integration

LETTER = (
    b"# Reimbursement\n\nPlease reimburse Maria Garcia, maria.garcia@example.com, phone +1 212-555-0199, "
    b"card 4111 1111 1111 1111, from IP 192.168.10.20. Travel policy section 4 applies."
)


@pytest.fixture(scope="module")
def detector() -> PresidioDetector:
    return PresidioDetector()


def test_the_detector_finds_global_entity_types_without_network(detector: PresidioDetector) -> None:
    """Names, e-mail, phone, card and IP are found by the bundled model and recognizers."""
    found = {s.entity_type for s in detector.detect(LETTER.decode())}
    assert {"PERSON", "EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IP_ADDRESS"} <= found


@pytest.mark.parametrize("policy", [MaskingPolicy.MASK, MaskingPolicy.REDACT, MaskingPolicy.PSEUDONYMISE])
def test_what_is_chunked_for_embedding_and_storage_is_masked_and_the_policy_is_recorded(
    detector: PresidioDetector, policy: MaskingPolicy
) -> None:
    """No personal value reaches a chunk; ordinary words survive; lineage names the policy and detector."""
    plan = plan_version(
        tenant="acme", user="u", header=DocumentHeader(source_uri="kb://claim.md"), content=LETTER, latest=None,
        limits=Limits(), policy=ChunkingPolicy(), masker=PresidioMasker(detector, policy, "acme"),
    )  # fmt: skip
    assert plan is not None
    text = " ".join(c.text for c in plan.chunks)
    for secret in ("Maria Garcia", "maria.garcia@example.com", "212-555-0199", "4111 1111 1111 1111", "192.168.10.20"):
        assert secret not in text
    assert "Travel policy section 4 applies." in text
    assert plan.masking_policy.startswith(f"{policy.value};presidio-")


def test_a_detector_built_for_some_types_finds_the_same_spans_of_those_types(detector: PresidioDetector) -> None:
    """Restricting at construction drops the other recognizers and spaCy components, not detections."""
    narrow = PresidioDetector(entities=("PERSON", "LOCATION"))
    text = "Maria Garcia flew from Madrid to Boston; mail maria.garcia@example.com or call +1 212-555-0199."
    spans = narrow.detect(text)
    assert spans == detector.detect(text, ("PERSON", "LOCATION"))
    assert {s.entity_type for s in spans} == {"PERSON", "LOCATION"}
