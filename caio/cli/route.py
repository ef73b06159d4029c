"""``caio route``: send one request to ``caio.route.<capability>``."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from caio.cli._common import (
    CapabilityArgument,
    ConstraintsOption,
    ContextOption,
    GuaranteesOption,
    JsonOption,
    console,
    err_console,
    json_object_option,
    print_json,
)
from caio.cli._connect import Bus, connected
from caio.cli._tables import print_listing
from caio_integration.client import CAIOClient
from caio_integration.errors import CAIOError, Forbidden, Unauthenticated

__all__ = ["register_commands", "show_excluded", "show_route_error", "show_route_reply"]


@connected()
def route(
    bus: Bus,
    capability: CapabilityArgument,
    context: ContextOption = "{}",
    constraints: ConstraintsOption = None,
    guarantees: GuaranteesOption = None,
    require: Annotated[
        list[str] | None, typer.Option("--require", help="Extra capability the service must have.")
    ] = None,
    timeout_ms: Annotated[int, typer.Option(help="Total time the router may spend.")] = 30_000,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show the decision; call nothing.")
    ] = False,
    json_out: JsonOption = False,
) -> None:
    """Route a request to the best service offering CAPABILITY and print its answer.

    JSON options take an object inline ('{"code": "x = 1"}') or from a file
    (@request.json). When nothing matches, or with --dry-run, it lists every
    service left out and why.
    """
    body_context = json_object_option(context, "context")
    body_constraints = json_object_option(constraints, "constraints") if constraints else {}
    body_guarantees = json_object_option(guarantees, "guarantees") if guarantees else {}

    async def go(caio: CAIOClient) -> dict[str, Any]:
        try:
            result = await caio.route_request(
                capability,
                body_context,
                requirements=require,
                guarantees=body_guarantees,
                constraints=body_constraints,
                timeout_ms=timeout_ms,
                dry_run=dry_run,
            )
        except CAIOError as exc:
            if not json_out and isinstance(exc, Unauthenticated | Forbidden):
                raise  # about the caller, not the route: one error line and its hint
            return {"status": "error", "request_id": exc.request_id, "error": exc.to_error()}
        return {"status": "ok", **result.model_dump(exclude_none=True)}

    reply = bus.call(go)
    if json_out:
        print_json(reply)
    elif reply["status"] == "error":
        show_route_error(reply)
    else:
        show_route_reply(reply)
    if reply["status"] == "error":
        raise typer.Exit(1)


def show_route_error(reply: dict[str, Any]) -> None:
    """A failed route for people: the error, then why each service failed or was left out."""
    error = reply["error"]
    details = error.get("details") or {}
    err_console.print(
        f"[bold red]error:[/] {escape(str(error.get('message')))} [dim]({error.get('code')})[/]",
        soft_wrap=True,
    )
    for attempt in details.get("attempts") or []:
        failure = attempt.get("error") or {}
        note = f": {failure.get('code')}: {failure.get('message')}" if failure else ""
        err_console.print(
            escape(f"  attempt {attempt.get('service_id')} → {attempt.get('status')}{note}"),
            soft_wrap=True,
        )
    show_excluded(details.get("excluded") or {}, err_console)
    if error.get("code") == "no_matching_service" and not details.get("excluded"):
        # Matching only looks at services offering the capability: none is registered.
        err_console.print(
            "no registered service offers this capability; `caio services` lists them",
            style="dim",
        )


def show_route_reply(reply: dict[str, Any]) -> None:
    """A routed answer for people: who answered, after which attempts, and the result."""
    # The service id goes in a row, not the title: a title is cut to fit the width.
    title = "decision (dry run)" if reply.get("dry_run") else "answer"
    summary = Table.grid(padding=(0, 2))
    summary.add_column(no_wrap=True)
    summary.add_column(overflow="fold")  # ids are copied into the next command: never cut
    summary.add_row("request", str(reply["request_id"]))
    summary.add_row("service", str(reply["service_id"]))
    if reply.get("latency_ms") is not None:
        summary.add_row("latency", f"{reply['latency_ms']:.1f} ms")
    for attempt in reply.get("attempts", []):
        err = attempt.get("error") or {}
        note = f" {err.get('code')}: {err.get('message')}" if err else ""
        summary.add_row("attempt", escape(f"{attempt['service_id']} → {attempt['status']}{note}"))
    for cand in reply.get("candidates", []):
        summary.add_row("candidate", f"{cand['service_id']} (score {cand['score']})")
    console.print(Panel(summary, title=title))
    if reply.get("dry_run"):
        show_excluded(reply.get("excluded") or {}, console)
    if reply.get("result") is not None:
        console.print_json(orjson.dumps(reply["result"]).decode())


def show_excluded(excluded: dict[str, str], out: Console) -> None:
    """Each service matching left out, and why (the reply's ``excluded``)."""
    if not excluded:
        return
    print_listing(
        out,
        f"left out ({len(excluded)})",
        ("service", "why"),
        [[escape(service_id), escape(str(reason))] for service_id, reason in excluded.items()],
    )


def register_commands(app: typer.Typer) -> None:
    app.command()(route)
