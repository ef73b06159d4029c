"""``caio audit replay`` and ``verify``: read back every decision CAIO made, and check it."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any

import typer
from rich.markup import escape

from caio.cli._common import JsonOption, console, fail, print_json, run_async
from caio.cli._connect import Bus, connected
from caio.cli._tables import print_listing
from caio_integration.audit import ReplayFilter, replay_audit
from caio_integration.subjects import Subjects

__all__ = ["audit_app"]

audit_app = typer.Typer(
    help="Replay, verify and export the audit stream (CAIO_AUDIT).", no_args_is_help=True
)

_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def duration_seconds(value: str) -> float:
    """``90s``, ``10m``, ``2h``, ``30d`` in seconds."""
    match = _DURATION.match(value)
    if match is None:
        fail(f"{value!r} is not a duration: use a number and s, m, h or d (10m, 30d)")
    return dt.timedelta(**{_UNITS[match.group(2)]: int(match.group(1))}).total_seconds()


def parse_since(value: str) -> dt.datetime:
    """``10m``, ``2h``, ``7d`` ago, or an RFC 3339 time."""
    if _DURATION.match(value):
        return dt.datetime.now(dt.UTC) - dt.timedelta(seconds=duration_seconds(value))
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        fail(f"--since {value!r}: use a duration like 10m, 2h, 7d or an RFC 3339 time")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _summary(record: dict[str, Any]) -> str:
    if record.get("error"):
        return f"{record['error'].get('code')}: {record['error'].get('message', '')}"
    decision = record.get("decision") or {}
    if "candidates" in decision:
        chosen = [c["service_id"] for c in decision["candidates"]]
        excluded = len(decision.get("excluded", {}))
        return f"{len(chosen)} candidate(s) {', '.join(chosen[:3])}; {excluded} excluded"
    return str(decision.get("action", ""))


@audit_app.command()
@connected(api_key=False)  # the audit stream is read with NATS credentials, not a key
def replay(
    bus: Bus,
    since: Annotated[
        str | None, typer.Option(help="Start at a time: 10m, 2h, 7d or RFC 3339.")
    ] = None,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new records.")
    ] = False,
    service: Annotated[str | None, typer.Option(help="Only records about this service id.")] = None,
    outcome: Annotated[
        str | None,
        typer.Option(help="Only this outcome: ok, error, no_match, denied, invalid, timeout."),
    ] = None,
    kind: Annotated[
        str | None, typer.Option(help="Only this kind: route, registry, denied, invalid.")
    ] = None,
    json_out: JsonOption = False,
) -> None:
    """Print audit records, oldest first (JSON lines with --json)."""
    wanted = ReplayFilter(
        since=parse_since(since) if since else None,
        service_id=service,
        kind=kind,
        outcome=outcome,
        follow=follow,
    )

    async def go() -> int:
        count = 0
        rows: list[list[str]] = []
        async with bus.nats("caio-audit-replay") as nc:
            async for record in replay_audit(nc, Subjects(bus.prefix), wanted):
                count += 1
                if json_out:
                    print_json(record)
                elif follow:
                    console.print(escape(_row_text(record)), soft_wrap=True)
                else:
                    rows.append([escape(cell) for cell in _row(record)])
        if not json_out and not follow:
            print_listing(console, "audit", _COLUMNS, rows)
            console.print(f"[dim]{count} record(s)[/]")
        return count

    run_async(go())


_COLUMNS = ("time", "kind", "outcome", "capability", "service", "request", "ms", "decision / error")


def _row(record: dict[str, Any]) -> list[str]:
    latency = record.get("latency_ms")
    return [
        str(record.get("ts", ""))[11:23],
        str(record.get("kind")),
        str(record.get("outcome")),
        str(record.get("capability") or ""),
        str(record.get("service_id") or ""),
        str(record.get("request_id") or ""),
        f"{latency:.1f}" if latency is not None else "",
        _summary(record),
    ]


def _row_text(record: dict[str, Any]) -> str:
    return "  ".join(_row(record))


def _register_verify() -> None:
    from caio.cli.audit_export import export  # their own modules: the file export
    from caio.cli.audit_verify import verify  # and the chain check

    audit_app.command()(verify)
    audit_app.command()(export)


_register_verify()
