"""Daily spend per tenant in a NATS key-value bucket, updated with compare-and-set so replicas never lose a count.

Keys are `<tenant>.<day>`; the bucket's max age drops a day's counters after a few days.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Awaitable, Callable

from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from llmops.errors import Unavailable
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
        self._open_bucket = open_bucket
        self._kv: KeyValue | None = None

    async def _bucket(self) -> KeyValue:
        if self._kv is None:
            self._kv = await self._open_bucket()
        return self._kv

    async def spend(self, tenant: str, day: str) -> Spend:
        """Today's spend (zero if nothing yet)."""
        return (await self._read(tenant, day))[0]

    async def _read(self, tenant: str, day: str) -> tuple[Spend, int]:
        try:
            entry = await (await self._bucket()).get(spend_key(tenant, day))
        except KeyNotFoundError:
            return Spend(), 0
        return Spend.model_validate_json(entry.value or b"{}"), entry.revision or 0

    async def add(self, tenant: str, day: str, tokens: int, cost_usd: float, budget: Budget) -> list[Crossing]:
        """Adds one request's usage; returns the alert thresholds this addition reached (each reported once)."""
        bucket = await self._bucket()
        key = spend_key(tenant, day)
        for _ in range(MAX_CAS_ATTEMPTS):
            current, revision = await self._read(tenant, day)
            updated, crossings = add(current, tokens, cost_usd, budget)
            body = updated.model_dump_json().encode()
            try:
                if revision:
                    await bucket.update(key, body, last=revision)
                else:
                    await bucket.create(key, body)
            except KeyWrongLastSequenceError:
                continue
            return crossings
        raise Unavailable(f"could not record usage for tenant {tenant}: too many concurrent updates")
