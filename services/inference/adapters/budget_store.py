"""Daily spend per tenant in a NATS key-value bucket, updated with compare-and-set so replicas never lose a count.

Keys are `<tenant>.<day>`; the bucket's max age drops a day's counters after a few days.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Awaitable, Callable

from nats.js.kv import KeyValue

from llmops.errors import Unavailable
from llmops.kv import Lazy, TooManyWriters, compare_and_set, read_json
from services.inference.budget import Budget, Crossing, Spend, add

BUCKET = "budgets"
_KEY_SAFE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
KEEP_DAYS = 3
MAX_CAS_ATTEMPTS = 50


def spend_key(tenant: str, day: str) -> str:
    """`<tenant>.<day>`; a tenant id with characters a key cannot hold is base64url-encoded behind a `=`."""
    token = tenant if _KEY_SAFE.match(tenant) else "=" + base64.urlsafe_b64encode(tenant.encode()).decode().rstrip("=")
    return f"{token}.{day}"


class BudgetStore:
    """Reads and adds to a tenant's spend for a day."""

    def __init__(self, open_bucket: Callable[[], Awaitable[KeyValue]]) -> None:
        self._bucket = Lazy(open_bucket)

    async def spend(self, tenant: str, day: str) -> Spend:
        """Today's spend (zero if nothing yet)."""
        found = await read_json(await self._bucket(), spend_key(tenant, day), Spend)
        return found[0] if found else Spend()

    async def add(self, tenant: str, day: str, tokens: int, cost_usd: float, budget: Budget) -> list[Crossing]:
        """Adds one request's usage; returns the alert thresholds this addition reached (each reported once)."""
        try:
            return await compare_and_set(
                await self._bucket(),
                spend_key(tenant, day),
                Spend,
                lambda current: add(current, tokens, cost_usd, budget),
                missing=Spend,
                attempts=MAX_CAS_ATTEMPTS,
            )
        except TooManyWriters:
            raise Unavailable(f"could not record usage for tenant {tenant}: too many concurrent updates") from None
