"""The prompt registry's rules: validation, rendering, label moves, rollback and sticky splits."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import pytest

from llmops.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from llmops.prompts.core import (
    PRODUCTION,
    SHARED_TENANT,
    PromptHead,
    Variable,
    assigned_label,
    caller_tenant,
    move_label,
    new_version,
    render,
    resolve_version,
    roll_back,
    set_split,
)

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 23, tzinfo=UTC)


def version(template: str = "Answer: {{question}}", variables: tuple[Variable, ...] = (Variable(name="question"),)):
    return new_version(
        tenant="acme", name="qa", version=1, template=template, variables=variables, created_by="ana", created_at=NOW
    )


def head(latest: int = 3, **labels: list[int]) -> PromptHead:
    return PromptHead(tenant="acme", name="qa", latest=latest, labels=dict(labels))


def test_a_version_declares_every_placeholder_and_uses_every_variable() -> None:
    with pytest.raises(InvalidArgument, match=r"undeclared variables \['topic'\]"):
        version("About {{topic}}: {{question}}")
    with pytest.raises(InvalidArgument, match=r"\['extra'\] are declared but the template never uses"):
        version(variables=(Variable(name="question"), Variable(name="extra")))
    with pytest.raises(InvalidArgument, match="declared twice"):
        version(variables=(Variable(name="question"), Variable(name="question")))
    with pytest.raises(InvalidArgument, match="template is empty"):
        version("  ", variables=())


@pytest.mark.parametrize("name", ["", "Upper", "-dash", "a.b", "x" * 64, "has space"])
def test_names_that_cannot_be_keys_are_refused(name: str) -> None:
    with pytest.raises(InvalidArgument, match="name"):
        new_version(tenant="acme", name=name, version=1, template="hi", created_by="ana", created_at=NOW)


def test_render_fills_placeholders_once_so_input_cannot_reach_other_variables() -> None:
    v = new_version(
        tenant="acme",
        name="qa",
        version=1,
        system="Secret rules for {{audience}}.",
        template="Q: {{ question }}",
        variables=[Variable(name="question"), Variable(name="audience", required=False, default="staff")],
        created_by="ana",
        created_at=NOW,
    )
    messages = render(v, {"question": "what is {{audience}}?"})
    assert messages == [("system", "Secret rules for staff."), ("user", "Q: what is {{audience}}?")]


def test_render_names_missing_unknown_and_oversized_variables() -> None:
    v = version(variables=(Variable(name="question", max_chars=5),))
    with pytest.raises(InvalidArgument, match="needs variable 'question'"):
        render(v, {})
    with pytest.raises(InvalidArgument, match=r"has no variables \['other'\]"):
        render(v, {"question": "hi", "other": "x"})
    with pytest.raises(InvalidArgument, match="holds 6 characters; the limit is 5"):
        render(v, {"question": "sixsix"})


def test_labels_move_and_roll_back_through_their_history() -> None:
    h, previous = move_label(head(), PRODUCTION, 1)
    assert previous is None
    h, previous = move_label(h, PRODUCTION, 2)
    h, _ = move_label(h, PRODUCTION, 3)
    assert previous == 1 and h.label_version(PRODUCTION) == 3 and h.labels_of(3) == [PRODUCTION]
    h, rolled_from, rolled_to = roll_back(h, PRODUCTION)
    assert (rolled_from, rolled_to, h.label_version(PRODUCTION)) == (3, 2, 2)
    h, _, rolled_to = roll_back(h, PRODUCTION)
    assert rolled_to == 1
    with pytest.raises(FailedPrecondition, match="no earlier version"):
        roll_back(h, PRODUCTION)
    with pytest.raises(NotFound, match="no version 4"):
        move_label(h, PRODUCTION, 4)
    with pytest.raises(NotFound, match="no label 'staging'"):
        roll_back(h, "staging")


def test_moving_a_label_to_its_current_version_changes_nothing() -> None:
    h = head(production=[1, 2])
    assert move_label(h, PRODUCTION, 2) == (h, 2)


def test_split_is_sticky_per_user_and_follows_the_weights() -> None:
    h = set_split(head(production=[1], candidate=[2]), {"production": 3, "candidate": 1})
    assert h.split == {"candidate": 0.25, "production": 0.75}
    users = [f"user-{i}" for i in range(4000)]
    first = [assigned_label(h, u) for u in users]
    assert first == [assigned_label(h, u) for u in users]  # sticky: same answer every time, no state
    share = Counter(first)["candidate"] / len(users)
    assert 0.22 < share < 0.28
    assert resolve_version(h, user="user-1") in ((1, "production"), (2, "candidate"))


def test_split_needs_existing_labels_and_a_positive_weight() -> None:
    with pytest.raises(FailedPrecondition, match="no label 'staging'"):
        set_split(head(production=[1]), {"staging": 1})
    with pytest.raises(InvalidArgument, match="sum to zero"):
        set_split(head(production=[1]), {"production": 0})
    assert set_split(head(production=[1]), {}).split == {}


def test_resolution_prefers_version_then_label_then_production() -> None:
    h = head(production=[1], staging=[2])
    assert resolve_version(h, version=3) == (3, "")
    assert resolve_version(h, label="staging") == (2, "staging")
    assert resolve_version(h) == (1, PRODUCTION)
    with pytest.raises(NotFound, match="no version 9"):
        resolve_version(h, version=9)
    with pytest.raises(NotFound, match="no label 'beta'"):
        resolve_version(h, label="beta")


def test_callers_cannot_act_as_the_platform_namespace() -> None:
    with pytest.raises(PermissionDenied, match="reserved for the platform"):
        caller_tenant(SHARED_TENANT)
    with pytest.raises(InvalidArgument, match="tenant ids use letters"):
        caller_tenant("acme corp")
    assert caller_tenant("acme-corp_1") == "acme-corp_1"


@pytest.mark.parametrize("weight", [float("nan"), float("inf"), -1.0])
def test_split_weights_must_be_finite_and_not_negative(weight: float) -> None:
    with pytest.raises(InvalidArgument, match="finite number"):
        set_split(head(production=[1], staging=[2]), {"production": 1, "staging": weight})


def test_a_default_longer_than_its_bound_is_refused_at_creation() -> None:
    with pytest.raises(InvalidArgument, match="default is longer than its max_chars"):
        version(variables=(Variable(name="question", required=False, default="x" * 11, max_chars=10),))
