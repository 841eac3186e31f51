"""Topic allow and deny lists: matching by vector similarity, and the policy fields that configure it."""

from __future__ import annotations

import pytest

from services.guardrails import core
from services.guardrails.policy import Action, Policy, PolicyError, parse_policy
from services.guardrails.scanners import Finding
from services.guardrails.topics import TopicVectors, scan_topics, unit_rows

MEDICAL = unit_rows([[1.0, 0.0, 0.0], [0.8, 0.6, 0.0]])
BILLING = unit_rows([[0.0, 0.0, 1.0]])


def test_a_message_near_a_denied_topic_is_found_with_its_similarity() -> None:
    topics = TopicVectors(deny={"medical": MEDICAL}, allow={})
    [finding] = scan_topics([2.0, 0.1, 0.0], topics, similarity=0.5, text_length=12)
    assert (finding.category, finding.detail, finding.end) == ("banned_topic", "medical", 12)
    assert finding.score == pytest.approx(0.999, abs=1e-3)
    assert scan_topics([0.0, 0.0, 3.0], topics, similarity=0.5, text_length=12) == []


def test_with_an_allow_list_only_messages_about_an_allowed_topic_pass() -> None:
    topics = TopicVectors(deny={}, allow={"billing": BILLING})
    assert scan_topics([0.1, 0.0, 1.0], topics, similarity=0.5, text_length=5) == []
    [finding] = scan_topics([1.0, 0.0, 0.0], topics, similarity=0.5, text_length=5)
    assert finding.category == "off_topic" and "billing" in finding.detail


def test_no_topics_and_zero_vectors_find_nothing() -> None:
    assert scan_topics([1.0, 0.0], TopicVectors({}, {}), 0.5, 3) == []
    assert scan_topics([0.0, 0.0, 0.0], TopicVectors({"medical": MEDICAL}, {}), 0.5, 3) == []


def test_topic_findings_take_the_policy_action() -> None:
    policy = parse_policy(
        "policy_id: t\nversion: 1\ninput:\n  topics:\n    deny: [{name: medical, description: Medicine and doses}]\n",
        "t.yaml",
    )
    found = [Finding("topics", "banned_topic", 0.7, 0, 4, "medical")]
    assert core.check_input("pill", policy, found).action == Action.BLOCK
    allowing = policy.model_copy(
        update={
            "input": policy.input.model_copy(
                update={"topics": policy.input.topics.model_copy(update={"action": "allow"})}
            )
        }
    )
    assert core.check_input("pill", allowing, found).action == Action.ALLOW


def test_a_policy_without_topics_disables_the_rule() -> None:
    assert not Policy(policy_id="p", version=1).input.topics.rule.enabled


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ("input: {topics: {deny: [{name: x}]}}", "input.topics.deny.0.description: Field required"),
        ("input: {topics: {similarity: 2}}", "input.topics.similarity"),
        ("input: {topics: {action: redact}}", "input.topics.action"),
    ],
)
def test_topic_policy_errors_name_the_field(body: str, needle: str) -> None:
    with pytest.raises(PolicyError, match=needle.replace(".", r"\.")):
        parse_policy(f"policy_id: t\nversion: 1\n{body}\n", "t.yaml")
