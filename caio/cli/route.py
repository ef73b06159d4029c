"""``caio route``: send one request to ``caio.route.<capability>``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.panel import Panel
from rich.table import Table

from caio.cli._common import (
    DEFAULT_NATS_URL,
    ApiKeyOption,
    JsonOption,
    NatsUrlOption,
    PrefixOption,
    cli_client,
    console,
    fail,
    print_json,
    run_async,
)
from caio.errors import CAIOError

__all__ = ["register_commands"]


def _json_arg(value: str | None, name: str) -> dict[str, Any]:
    """A JSON object given inline or as ``@file``."""
    if value is None:
        return {}
    text = Path(value[1:]).read_text(encoding="utf-8") if value.startswith("@") else value
    try:
        parsed = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        fail(f"--{name} is not valid JSON: {exc}")
    if not isinstance(parsed, dict):
        fail(f"--{name} must be a JSON object")
    return parsed


def route(
    capability: Annotated[str, typer.Argument(help="Capability to route, e.g. code_review.")],
    context: Annotated[
        str, typer.Option("--context", help="JSON object handed to the service, or @file.")
    ] = "{}",
    constraints: Annotated[str | None, typer.Option(help="Constraints JSON (or @file).")] = None,
    guarantees: Annotated[str | None, typer.Option(help="Guarantees JSON (or @file).")] = None,
    require: Annotated[
        list[str] | None, typer.Option("--require", help="Extra capability the service must have.")
    ] = None,
    timeout_ms: Annotated[int, typer.Option(help="Total time the router may spend.")] = 30_000,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show the decision; call nothing.")
    ] = False,
    nats_url: NatsUrlOption = DEFAULT_NATS_URL,
    prefix: PrefixOption = "caio",
    api_key: ApiKeyOption = None,
    json_out: JsonOption = False,
) -> None:
    """Route a request to the best service offering CAPABILITY and print its answer."""
    body_context = _json_arg(context, "context")
    body_constraints = _json_arg(constraints, "constraints")
    body_guarantees = _json_arg(guarantees, "guarantees")

    async def go() -> dict[str, Any]:
        async with cli_client(nats_url, prefix, api_key) as caio:
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
                if json_out:
                    return {
                        "status": "error",
                        "request_id": exc.request_id,
                        "error": exc.to_error(),
                    }
                raise
            return {"status": "ok", **result.model_dump(exclude_none=True)}

    reply = run_async(go())
    if json_out:
        print_json(reply)
        if reply["status"] == "error":
            raise typer.Exit(1)
        return
    show_route_reply(reply)


def show_route_reply(reply: dict[str, Any]) -> None:
    """A routed answer for people: who answered, after which attempts, and the result."""
    title = "decision (dry run)" if reply.get("dry_run") else f"answered by {reply['service_id']}"
    summary = Table.grid(padding=(0, 2))
    summary.add_row("request", str(reply["request_id"]))
    summary.add_row("service", str(reply["service_id"]))
    if reply.get("latency_ms") is not None:
        summary.add_row("latency", f"{reply['latency_ms']:.1f} ms")
    for attempt in reply.get("attempts", []):
        err = attempt.get("error") or {}
        note = f" {err.get('code')}: {err.get('message')}" if err else ""
        summary.add_row("attempt", f"{attempt['service_id']} → {attempt['status']}{note}")
    for cand in reply.get("candidates", []):
        summary.add_row("candidate", f"{cand['service_id']} (score {cand['score']})")
    console.print(Panel(summary, title=title))
    if reply.get("result") is not None:
        console.print_json(orjson.dumps(reply["result"]).decode())


def register_commands(app: typer.Typer) -> None:
    app.command()(route)
