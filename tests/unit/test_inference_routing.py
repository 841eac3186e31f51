"""Routing rules, the complexity estimate, and daily budgets: pure logic."""

from __future__ import annotations

import pytest

from llmops.errors import FailedPrecondition, InvalidArgument, ResourceExhausted
from services.inference.budget import Budget, Spend, add, budget_for, check
from services.inference.routing import RouteRule, choose, estimate_complexity, validate_routes

pytestmark = pytest.mark.unit

MODELS = {"small", "large"}
ROUTES = [
    RouteRule(name="vip", tenants=["acme"], models=["large", "small"]),
    RouteRule(name="hard", min_complexity=0.4, models=["large", "small"]),
    RouteRule(name="default", models=["small", "large"]),
]


def test_a_short_factual_question_is_simple_and_a_long_reasoning_one_is_not() -> None:
    simple = estimate_complexity("How many vacation days do I get?", 40)
    hard = estimate_complexity(
        "Compare the trade-offs of both designs and explain why one scales better? Derive the cost step by step.",
        2500,
    )
    assert simple < 0.15
    assert 0.4 < hard <= 1.0
    assert estimate_complexity("def f():\n    return 1", 10) >= 0.15


def test_the_first_matching_rule_picks_the_chain() -> None:
    assert choose(ROUTES, MODELS, tenant="acme", prompt="rag", complexity=0.0) == ("vip", ["large", "small"])
    assert choose(ROUTES, MODELS, tenant="globex", prompt="rag", complexity=0.7) == ("hard", ["large", "small"])
    assert choose(ROUTES, MODELS, tenant="globex", prompt="rag", complexity=0.1) == ("default", ["small", "large"])
    assert choose(ROUTES, MODELS, tenant="globex", prompt="", complexity=0.1, requested="large") == (
        "requested",
        ["large"],
    )


def test_unknown_models_and_unmatched_requests_are_refused() -> None:
    with pytest.raises(InvalidArgument, match="model 'huge' is not configured"):
        choose(ROUTES, MODELS, tenant="t", prompt="", complexity=0, requested="huge")
    with pytest.raises(FailedPrecondition, match="no route matches"):
        choose(ROUTES[:1], MODELS, tenant="globex", prompt="", complexity=0)
    with pytest.raises(ValueError, match=r"unknown models \['medium'\]"):
        validate_routes([RouteRule(name="x", models=["medium"])], MODELS)
    with pytest.raises(ValueError, match="min_complexity is above"):
        RouteRule(name="x", models=["small"], min_complexity=0.8, max_complexity=0.2)


def test_budgets_refuse_once_spent_and_alert_once_per_threshold() -> None:
    budget = Budget(daily_tokens=1000, daily_cost_usd=1.0)
    spend, crossings = add(Spend(), 700, 0.1, budget)
    assert crossings == []
    check("acme", budget, spend)
    spend, crossings = add(spend, 150, 0.1, budget)
    assert [(c.metric, c.percent) for c in crossings] == [("tokens", 80)]
    spend, crossings = add(spend, 10, 0.0, budget)
    assert crossings == []  # 80% already reported today
    spend, crossings = add(spend, 200, 0.9, budget)
    assert [(c.metric, c.percent) for c in crossings] == [("tokens", 100), ("cost_usd", 80), ("cost_usd", 100)]
    with pytest.raises(ResourceExhausted, match="daily budget of 1000 tokens"):
        check("acme", budget, spend)


def test_a_tenant_without_its_own_budget_gets_the_default_or_none() -> None:
    budgets = {"*": Budget(daily_tokens=10), "acme": Budget(daily_cost_usd=5)}
    assert budget_for(budgets, "acme").daily_cost_usd == 5
    assert budget_for(budgets, "globex").daily_tokens == 10
    assert budget_for({}, "globex") == Budget()
    check("globex", Budget(), Spend(tokens=10**9))  # no limit: never refused
