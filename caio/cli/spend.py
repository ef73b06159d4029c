"""``caio spend``: what answered routes cost, by key, service or capability, from the audit.

Every answered route's audit record carries its ``price`` (the contract's cost
times the service's usage, caio_integration.pricing), so the audit stream is
the exact record of spend across all routers; this adds it up. Budgets
(``caio keys create --budget-per-day``) are enforced by the routers from
their own counters (caio_broker.budgets), not from this report.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Annotated, Any

import typer
from rich.markup import escape

from caio.cli._common import JsonOption, console, print_json, run_async
from caio.cli._connect import Bus, connected
from caio.cli._tables import print_listing
from caio_integration.audit import ReplayFilter, replay_audit
from caio_integration.subjects import Subjects

__all__ = ["register_commands", "spend"]

_GROUPS = {"key": "caller", "service": "service_id", "capability": "capability"}


@connected(api_key=False)  # the audit stream is read with NATS credentials, not a key
def spend(
    bus: Bus,
    by: Annotated[str, typer.Option(help="Group by key, service or capability.")] = "key",
    since: Annotated[
        str | None, typer.Option(help="From a time on: 10m, 2h, 7d or RFC 3339; default: all.")
    ] = None,
    json_out: JsonOption = False,
) -> None:
    """What answered routes cost, from the audit records' prices, grouped."""
    from caio.cli._common import fail
    from caio.cli.audit import parse_since

    if by not in _GROUPS:
        fail(f"--by {escape(by)}: one of {', '.join(_GROUPS)}")
    wanted = ReplayFilter(since=parse_since(since) if since else None, kind="route", outcome="ok")

    async def go() -> dict[tuple[str, str], list[float]]:
        totals: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0.0])
        async with bus.nats("caio-spend") as nc:
            async for record in replay_audit(nc, Subjects(bus.prefix), wanted):
                add(totals, record, _GROUPS[by])
        return totals

    totals = run_async(go())
    rows = sorted(totals.items(), key=lambda item: -item[1][0])
    if json_out:
        print_json(
            [
                {by: group, "currency": currency, "amount": round(total, 12), "requests": int(n)}
                for (group, currency), (total, n) in rows
            ]
        )
        return
    table = [
        [escape(group), escape(currency), f"{total:.6g}", str(int(n))]
        for (group, currency), (total, n) in rows
    ]
    print_listing(console, "priced routes", (by, "currency", "spent", "requests"), table)


def add(totals: dict[tuple[str, str], list[float]], record: dict[str, Any], field: str) -> None:
    price = record.get("price")
    if not isinstance(price, dict) or not isinstance(price.get("amount"), int | float):
        return  # no cost in the serving contract: nothing to add
    group = str(record.get(field) or "-")
    entry = totals[(group, str(price.get("currency") or "?"))]
    entry[0] += float(price["amount"])
    entry[1] += 1


def register_commands(app: typer.Typer) -> None:
    app.command()(spend)
