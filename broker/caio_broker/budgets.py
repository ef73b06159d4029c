"""Per-key budgets: what a key's answered routes cost, per UTC day and month, across routers.

A key's policy may set ``budget_per_day`` and ``budget_per_month``. Every
answered route has a price (caio_integration.pricing); for a key with a
budget the router adds it to the key's totals in JetStream KV
(``CAIO_SPEND``, one entry per key and period, e.g. ``<key_id>.d.20261202``)
with a compare-and-set on the entry's revision, retried on conflict, so two
routers adding at once both count: the totals are exact. Before forwarding,
a key whose total for the day or month has reached its budget is refused
with ``budget_exceeded``; nothing is forwarded, and the refusal is audited.

The check is made before the price is known, so requests already in flight
when the budget is reached still finish and are counted: a key can go over
its budget by what its in-flight requests cost, never more. Keys without a
budget cost nothing here (no KV access); everyone's spend is in the audit
records (``price``), which ``caio spend`` adds up.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import structlog
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from caio_broker.auth.guard import RouteCheck
from caio_broker.auth.keys import ApiKey
from caio_integration.errors import BudgetExceeded, CAIOError

__all__ = ["BudgetCheck", "SpendBook", "periods"]

log = structlog.get_logger("caio.budgets")

CAS_ATTEMPTS = 20  # routers adding to one entry at the same instant: one retry each, usually


@dataclass(frozen=True, slots=True)
class Period:
    name: str  # "day" or "month"
    key: str  # the KV key's period part: d.20261202, m.202612
    ends: dt.datetime


def periods(now: dt.datetime) -> tuple[Period, Period]:
    """The UTC day and month ``now`` is in."""
    day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    next_month = (now.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    month_end = next_month.replace(hour=0, minute=0, second=0, microsecond=0)
    return (
        Period("day", f"d.{now:%Y%m%d}", day_start + dt.timedelta(days=1)),
        Period("month", f"m.{now:%Y%m}", month_end),
    )


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(slots=True)
class _Batch:
    """Amounts waiting for one entry's next write, and the callers waiting for it."""

    amount: float
    written: asyncio.Future[None]


class SpendBook:
    """The budgeted keys' totals in KV: read before forwarding, added to after answering.

    Within one router, adds to one entry are batched: while a write is under
    way, new amounts gather for the next one, so a busy key costs one
    compare-and-set per round trip, not one per request racing the others.
    """

    __slots__ = ("_batches", "_clock", "_kv", "_writing")

    def __init__(self, kv: KeyValue, clock: Callable[[], dt.datetime] = _utc_now) -> None:
        self._kv = kv
        self._clock = clock
        self._batches: dict[str, _Batch] = {}  # entry -> amounts for its next write
        self._writing: set[str] = set()  # entries with a writer task running

    async def spent(self, key_id: str, period: Period) -> float:
        try:
            entry = await self._kv.get(f"{key_id}.{period.key}")
        except KeyNotFoundError:
            return 0.0
        return float(entry.value or b"0")

    async def spent_now(self, key_id: str) -> tuple[float, float]:
        """The key's totals for the current UTC day and month."""
        day, month = periods(self._clock())
        return await self.spent(key_id, day), await self.spent(key_id, month)

    async def check(self, key: ApiKey) -> None:
        """``budget_exceeded`` when the key has spent a budget it has."""
        policy = key.policy
        limits = {"day": policy.budget_per_day, "month": policy.budget_per_month}
        for period in periods(self._clock()):
            budget = limits[period.name]
            if budget is None:
                continue
            spent = await self.spent(key.key_id, period)
            if spent >= budget:
                raise BudgetExceeded(
                    f"key {key.name} has spent {spent:g} of its {budget:g} budget for this "
                    f"{period.name} (UTC); it renews at {period.ends:%Y-%m-%dT%H:%M:%SZ}",
                    details={
                        "period": period.name,
                        "spent": spent,
                        "budget": budget,
                        "renews_at": f"{period.ends:%Y-%m-%dT%H:%M:%SZ}",
                    },
                )

    async def add(self, key: ApiKey, amount: float) -> None:
        """Count ``amount`` in each period the key has a budget for (exact across routers)."""
        policy = key.policy
        limits = {"day": policy.budget_per_day, "month": policy.budget_per_month}
        for period in periods(self._clock()):
            if limits[period.name] is not None:
                await self._add_one(f"{key.key_id}.{period.key}", amount)

    async def _add_one(self, entry_key: str, amount: float) -> None:
        batch = self._batches.get(entry_key)
        if batch is None:
            batch = _Batch(0.0, asyncio.get_running_loop().create_future())
            self._batches[entry_key] = batch
            if entry_key not in self._writing:
                self._writing.add(entry_key)
                asyncio.create_task(self._write_batches(entry_key))  # noqa: RUF006 - ends by itself
        batch.amount += amount
        await asyncio.shield(batch.written)

    async def _write_batches(self, entry_key: str) -> None:
        try:
            while (batch := self._batches.pop(entry_key, None)) is not None:
                try:
                    await self._compare_and_add(entry_key, batch.amount)
                except Exception as exc:  # noqa: BLE001 - handed to every waiting caller
                    batch.written.set_exception(exc)
                else:
                    batch.written.set_result(None)
        finally:
            self._writing.discard(entry_key)

    async def _compare_and_add(self, entry_key: str, amount: float) -> None:
        for _ in range(CAS_ATTEMPTS):
            try:
                entry = await self._kv.get(entry_key)
            except KeyNotFoundError:
                try:
                    await self._kv.create(entry_key, _encode(amount))
                    return
                except KeyWrongLastSequenceError:
                    continue  # another router created it first: add to theirs
            total = float(entry.value or b"0") + amount
            try:
                await self._kv.update(entry_key, _encode(total), last=entry.revision)
                return
            except KeyWrongLastSequenceError:
                continue  # another router added meanwhile: read again
        raise CAIOError(f"spend for {entry_key} could not be updated (too many conflicts)")


def _encode(amount: float) -> bytes:
    return repr(round(amount, 12)).encode()


class BudgetCheck:
    """The route guard's check: a key over its budget is refused before forwarding."""

    __slots__ = ("_book",)

    def __init__(self, book: SpendBook) -> None:
        self._book = book

    async def __call__(self, check: RouteCheck) -> None:
        key = check.caller.key
        if key is None:
            return
        policy = key.policy
        if policy.budget_per_day is None and policy.budget_per_month is None:
            return
        await self._book.check(key)
