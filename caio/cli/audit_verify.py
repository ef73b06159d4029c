"""``caio audit verify``: check the audit stream's hash chains (caio_integration.auditchain)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from caio.cli._common import JsonOption, console, print_json, run_async
from caio.cli._connect import Bus, connected
from caio_integration.audit import stored_records
from caio_integration.auditchain import ChainReport, verify_chains
from caio_integration.subjects import Subjects

__all__ = ["verify"]


@connected(api_key=False)  # the audit stream is read with NATS credentials, not a key
def verify(
    bus: Bus,
    since: Annotated[
        str | None,
        typer.Option(help="Check from a time on (10m, 2h, 7d or RFC 3339); default: all."),
    ] = None,
    json_out: JsonOption = False,
) -> None:
    """Check every record's link in its router's hash chain; exit 1 if any is broken.

    Names each record found altered, missing or slipped in, and prints each
    chain's head (its last record's hash): keep those elsewhere to notice a
    chain's last records removed later.
    """
    from caio.cli.audit import parse_since

    start = parse_since(since) if since else None

    async def go() -> ChainReport:
        async with bus.nats("caio-audit-verify") as nc:
            messages = [m async for m in stored_records(nc, Subjects(bus.prefix), start)]
        return verify_chains(messages, from_start=start is None)

    report = run_async(go())
    if json_out:
        print_json(
            {
                "ok": report.ok,
                "records": report.records,
                "chains": {cid: {"seq": s, "head": h} for cid, (s, h) in report.chains.items()},
                "problems": [_plain(p) for p in report.problems],
                "gaps": [_plain(p) for p in report.gaps],
            }
        )
    else:
        _print(report)
    if not report.ok:
        raise typer.Exit(1)


def _plain(problem: object) -> dict[str, object]:
    fields = ("chain_id", "seq", "stream_seq", "message")
    return {name: getattr(problem, name) for name in fields}


def _print(report: ChainReport) -> None:
    for cid, (seq, head) in sorted(report.chains.items()):
        console.print(f"chain {cid}: {seq} record(s), head {head}", soft_wrap=True)
    for gap in report.gaps:
        console.print(
            f"[yellow]gap[/] chain {gap.chain_id} record {gap.seq} (stream seq {gap.stream_seq}):"
            f" {escape(gap.message)}",
            soft_wrap=True,  # one line per finding, whatever the terminal's width: grep-able
        )
    for problem in report.problems:
        where = f"chain {problem.chain_id} record {problem.seq}" if problem.chain_id else "record"
        console.print(
            f"[bold red]broken[/] {where} (stream seq {problem.stream_seq}):"
            f" {escape(problem.message)}",
            soft_wrap=True,
        )
    verdict = "[green]ok[/]" if report.ok else f"[bold red]{len(report.problems)} problem(s)[/]"
    console.print(f"{report.records} record(s) in {len(report.chains)} chain(s): {verdict}")
