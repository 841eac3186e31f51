"""Names and places by Presidio's NER in the guardrails, and pseudonyms shared with ingestion's masking."""

from __future__ import annotations

import pytest

from llmops.pii import MaskingPolicy, Span, apply_policy
from services.guardrails import core
from services.guardrails.policy import Action, Policy, parse_policy

TEXT = "Hello, I am Maria Gonzalez from Madrid; write to maria.gonzalez@example.com about my leave."


def policy(replacement: str) -> Policy:
    return parse_policy(
        f"policy_id: ner\nversion: 1\npii_replacement: {replacement}\n"
        "input: {pii_ner: {enabled: true}}\noutput: {pii_ner: {enabled: true}}\n",
        "ner.yaml",
    )


def test_names_places_and_emails_become_placeholders() -> None:
    verdict = core.check_input(TEXT, policy("placeholder"))
    assert verdict.action == Action.REDACT
    assert {j.finding.category for j in verdict.findings} >= {"PERSON", "LOCATION", "EMAIL_ADDRESS"}
    for original in ("Maria Gonzalez", "Madrid", "maria.gonzalez@example.com"):
        assert original not in verdict.redacted_text
    assert "<PERSON>" in verdict.redacted_text and "<EMAIL_ADDRESS>" in verdict.redacted_text


def test_pseudonyms_are_stable_within_a_tenant_and_differ_across_tenants() -> None:
    acme = core.check_input(TEXT, policy("pseudonym"), salt="acme").redacted_text
    again = core.check_input(TEXT, policy("pseudonym"), salt="acme").redacted_text
    other = core.check_input(TEXT, policy("pseudonym"), salt="globex").redacted_text
    assert acme == again and acme != other
    assert "Maria Gonzalez" not in acme and "<PERSON_" in acme and "<EMAIL_ADDRESS_" in acme


def test_a_question_pseudonymised_here_matches_a_document_pseudonymised_at_ingestion() -> None:
    question = "What did Maria Gonzalez decide?"
    redacted = core.check_input(question, policy("pseudonym"), salt="acme").redacted_text
    start = question.index("Maria Gonzalez")
    stored = apply_policy(question, [Span(start, start + 14, "PERSON")], MaskingPolicy.PSEUDONYMISE, salt="acme")
    assert redacted == stored


def test_answers_are_pseudonymised_too() -> None:
    answer = "Maria Gonzalez approved the request [1]."
    verdict = core.check_output(answer, {1: "Maria Gonzalez approved it."}, "", policy("pseudonym"), salt="acme")
    assert verdict.action == Action.REDACT
    assert "Maria Gonzalez" not in verdict.redacted_text and "<PERSON_" in verdict.redacted_text


def test_ner_is_off_by_default() -> None:
    verdict = core.check_input("Maria Gonzalez from Madrid asked about leave.", Policy(policy_id="d", version=1))
    assert verdict.action == Action.ALLOW


@pytest.mark.parametrize("text", ["", " ", "\x00" * 50, "ü" * 30_000])
def test_odd_text_never_crashes_the_ner_pass(text: str) -> None:
    core.check_input(text or "x", policy("pseudonym"), salt="acme")
