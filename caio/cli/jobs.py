"""``caio jobs``: submit durable jobs and read their results.

Exit codes, for scripts: 0 the result is ok, 1 the result is an error (or
the command failed), 2 no result yet (``get``) or none in time (``wait``).
"""

from __future__ import annotations

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
    json_object_option,
    print_json,
    run_async,
)
from caio_integration.errors import Timeout

__all__ = ["jobs_app"]

jobs_app = typer.Typer(
    help="Durable jobs: stored in JetStream, run by any router, results kept.",
    no_args_is_help=True,
)

PENDING = 2

RequestIdArgument = Annotated[str, typer.Argument(help="The job's request id.")]
TimeoutOption = Annotated[float, typer.Option("--timeout", help="Seconds to wait for the result.")]


@jobs_app.command()
def submit(
    capability: Annotated[str, typer.Argument(help="Capability to route, e.g. code_review.")],
    context: Annotated[
        str, typer.Option("--context", help="JSON object handed to the service, or @file.")
    ] = "{}",
    request_id: Annotated[
        str | None,
        typer.Option("--request-id", help="Your id for the job (re-submitting it is a no-op)."),
    ] = None,
    constraints: Annotated[str | None, typer.Option(help="Constraints JSON (or @file).")] = None,
    guarantees: Annotated[str | None, typer.Option(help="Guarantees JSON (or @file).")] = None,
    timeout_ms: Annotated[
        int, typer.Option(help="Time the router may spend per attempt.")
    ] = 30_000,
    wait: Annotated[bool, typer.Option("--wait", help="Wait for the result and print it.")] = False,
    wait_timeout: TimeoutOption = 300.0,
    nats_url: NatsUrlOption = DEFAULT_NATS_URL,
    prefix: PrefixOption = "caio",
    api_key: ApiKeyOption = None,
    json_out: JsonOption = False,
) -> None:
    """Store a job for CAPABILITY; print its request id (or, with --wait, its result)."""
    body_context = json_object_option(context, "context")
    body_constraints = json_object_option(constraints, "constraints") if constraints else None
    body_guarantees = json_object_option(guarantees, "guarantees") if guarantees else None

    async def go() -> tuple[str, dict[str, Any] | None]:
        async with cli_client(nats_url, prefix, api_key) as caio:
            submitted = await caio.submit_job(
                capability,
                body_context,
                request_id=request_id,
                constraints=body_constraints,
                guarantees=body_guarantees,
                timeout_ms=timeout_ms,
            )
            if not wait:
                return submitted, None
            try:
                return submitted, await caio.wait_result(submitted, wait_timeout)
            except Timeout:
                return submitted, None

    submitted, result = run_async(go())
    if not wait:
        if json_out:
            print_json({"status": "submitted", "request_id": submitted})
        else:
            console.print(f"submitted [bold]{submitted}[/]")
        return
    _show(submitted, result, json_out)


@jobs_app.command()
def get(
    request_id: RequestIdArgument,
    nats_url: NatsUrlOption = DEFAULT_NATS_URL,
    prefix: PrefixOption = "caio",
    api_key: ApiKeyOption = None,
    json_out: JsonOption = False,
) -> None:
    """Print a job's result if it has one (exit 2 while it has none)."""

    async def go() -> dict[str, Any] | None:
        async with cli_client(nats_url, prefix, api_key) as caio:
            return await caio.get_result(request_id)

    _show(request_id, run_async(go()), json_out)


@jobs_app.command("wait")
def wait_for(
    request_id: RequestIdArgument,
    timeout: TimeoutOption = 60.0,
    nats_url: NatsUrlOption = DEFAULT_NATS_URL,
    prefix: PrefixOption = "caio",
    api_key: ApiKeyOption = None,
    json_out: JsonOption = False,
) -> None:
    """Wait for a job's result and print it (exit 2 if none comes in time)."""

    async def go() -> dict[str, Any] | None:
        async with cli_client(nats_url, prefix, api_key) as caio:
            try:
                return await caio.wait_result(request_id, timeout)
            except Timeout:
                return None

    _show(request_id, run_async(go()), json_out)


def _show(request_id: str, result: dict[str, Any] | None, json_out: bool) -> None:
    """Print a result (or that there is none yet) and exit with its code."""
    if result is None:
        if json_out:
            print_json({"status": "pending", "request_id": request_id})
        else:
            console.print(f"no result for [bold]{request_id}[/] yet")
        raise typer.Exit(PENDING)
    failed = result.get("status") == "error"
    if json_out:
        print_json(result)
    else:
        _show_table(result)
    if failed:
        raise typer.Exit(1)


def _show_table(result: dict[str, Any]) -> None:
    job = result.get("job") or {}
    summary = Table.grid(padding=(0, 2))
    summary.add_row("request", str(result.get("request_id")))
    summary.add_row("status", str(result.get("status")))
    if result.get("service_id"):
        summary.add_row("service", str(result["service_id"]))
    if job:
        summary.add_row("attempts", str(job.get("deliveries")))
    if job.get("dead_letter"):
        summary.add_row("dead letter", str(job.get("reason")))
    error = result.get("error") or {}
    if error:
        summary.add_row("error", f"{error.get('code')}: {error.get('message')}")
    console.print(Panel(summary, title=f"job {result.get('request_id')}"))
    if result.get("result") is not None:
        console.print_json(orjson.dumps(result["result"]).decode())
