"""Automatic rollback's rule: a quality alarm on a prompt version that recently took `production` sends the label
back to where it was; pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Promotion:
    """`production` of a prompt moved to `version` (from `previous`) at `at`."""

    tenant: str
    prompt_name: str
    version: int
    previous: int
    at: datetime


@dataclass
class RecentPromotions:
    """The latest production move per (tenant, prompt), forgotten when the label is rolled back."""

    window: timedelta
    """How long after a promotion a quality alarm is blamed on it."""
    _latest: dict[tuple[str, str], Promotion]

    @classmethod
    def within(cls, window: timedelta) -> RecentPromotions:
        return cls(window, {})

    def promoted(self, promotion: Promotion) -> None:
        self._latest[(promotion.tenant, promotion.prompt_name)] = promotion

    def rolled_back(self, tenant: str, prompt_name: str) -> None:
        self._latest.pop((tenant, prompt_name), None)

    def to_undo(self, tenant: str, prompt_name: str, version: int, now: datetime) -> Promotion | None:
        """The promotion to undo for a quality alarm on `version`: the latest production move, to this version,
        recent enough, with a version to go back to."""
        promotion = self._latest.get((tenant, prompt_name))
        if promotion is None or promotion.version != version or promotion.previous <= 0:
            return None
        if now - promotion.at > self.window:
            return None
        return promotion
