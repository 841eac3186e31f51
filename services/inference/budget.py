"""Per-tenant daily token and cost budgets; pure rules, the store keeps the counters.

A request is refused (RESOURCE_EXHAUSTED) once the tenant's spend for the UTC day has reached a budget; the
request that crosses it still completes, since its size is known only afterwards. Each budget alerts once per
day at 80% and at 100%.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, Field

from llmops.errors import ResourceExhausted

ALERT_PERCENTS = (80, 100)
ANY_TENANT = "*"


class Budget(BaseModel):
    """A tenant's daily limits; 0 = no limit."""

    daily_tokens: int = Field(default=0, ge=0)
    daily_cost_usd: float = Field(default=0.0, ge=0)


class Spend(BaseModel):
    """What a tenant used on one UTC day, and which alerts already went out."""

    tokens: int = 0
    cost_usd: float = 0.0
    alerted: list[str] = Field(default_factory=list)
    """`<metric>:<percent>` of every alert sent."""


@dataclass(frozen=True)
class Crossing:
    """A budget threshold the spend has just reached."""

    metric: str  # "tokens" or "cost_usd"
    percent: int
    spent: float
    budget: float


def budget_for(budgets: Mapping[str, Budget], tenant: str) -> Budget:
    """The tenant's own budget, else the `*` default, else none."""
    return budgets.get(tenant) or budgets.get(ANY_TENANT) or Budget()


def day_of(now: datetime) -> str:
    """The UTC day a spend counts against."""
    return now.date().isoformat()


def _limits(budget: Budget, spend: Spend) -> list[tuple[str, float, float]]:
    pairs = [
        ("tokens", float(spend.tokens), float(budget.daily_tokens)),
        ("cost_usd", spend.cost_usd, budget.daily_cost_usd),
    ]
    return [(metric, spent, limit) for metric, spent, limit in pairs if limit > 0]


def check(tenant: str, budget: Budget, spend: Spend) -> None:
    """RESOURCE_EXHAUSTED if any budget is used up for today."""
    for metric, spent, limit in _limits(budget, spend):
        if spent >= limit:
            unit = "tokens" if metric == "tokens" else "USD"
            raise ResourceExhausted(
                f"tenant {tenant} has used its daily budget of {limit:g} {unit} ({spent:g} spent); "
                "it resets at 00:00 UTC, or ask an admin to raise it"
            )


def add(spend: Spend, tokens: int, cost_usd: float, budget: Budget) -> tuple[Spend, list[Crossing]]:
    """The spend after one request, and the thresholds it reached that have not alerted yet."""
    updated = Spend(
        tokens=spend.tokens + tokens, cost_usd=round(spend.cost_usd + cost_usd, 8), alerted=list(spend.alerted)
    )
    crossings = []
    for metric, spent, limit in _limits(budget, updated):
        for percent in ALERT_PERCENTS:
            key = f"{metric}:{percent}"
            if spent >= limit * percent / 100 and key not in updated.alerted:
                updated.alerted.append(key)
                crossings.append(Crossing(metric, percent, spent, limit))
    return updated, crossings
