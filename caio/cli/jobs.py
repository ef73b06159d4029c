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
    CapabilityArgument,
    ConstraintsOption,
    ContextOption,
    GuaranteesOption,
    JsonOption,
    console,
    json_object_option,
    print_json,
)
from caio.cli._connect import Bus, connected
from caio_integration.client import CAIOClient
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
@connected()
def submit(
    bus: Bus,
    capability: CapabilityArgument,
    context: ContextOption = "{}",
    request_id: Annotated[
        str | None,
        typer.Option("--request-id", help="Your id for the job (re-submitting it is a no-op)."),
    ] = None,
    constraints: ConstraintsOption = None,
    guarantees: GuaranteesOption = None,
    timeout_ms: Annotated[
        int, typer.Option(help="Time the router may spend per attempt.")
    ] = 30_000,
    wait: Annotated[bool, typer.Option("--wait", help="Wait for the result and print it.")] = False,
    wait_timeout: TimeoutOption = 300.0,
    json_out: JsonOption = False,
) -> None:
    """Store a job for CAPABILITY; print its request id (or, with --wait, its result)."""
    body_context = json_object_option(context, "context")
    body_constraints = json_object_option(constraints, "constraints") if constraints else None
    body_guarantees = json_object_option(guarantees, "guarantees") if guarantees else None

    async def go(caio: CAIOClient) -> tuple[str, dict[str, Any] | None]:
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
        return submitted, await _wait_result(caio, submitted, wait_timeout)

    submitted, result = bus.call(go)
    if not wait:
        if json_out:
            print_json({"status": "submitted", "request_id": submitted})
        else:
            console.print(f"submitted [bold]{submitted}[/]")
        return
    _show(submitted, result, json_out)


@jobs_app.command()
@connected()
def get(bus: Bus, request_id: RequestIdArgument, json_out: JsonOption = False) -> None:
    """Print a job's result if it has one (exit 2 while it has none)."""
    _show(request_id, bus.call(lambda caio: caio.get_result(request_id)), json_out)


@jobs_app.command("wait")
@connected()
def wait_for(
    bus: Bus,
    request_id: RequestIdArgument,
    timeout: TimeoutOption = 60.0,
    json_out: JsonOption = False,
) -> None:
    """Wait for a job's result and print it (exit 2 if none comes in time)."""
    _show(request_id, bus.call(lambda caio: _wait_result(caio, request_id, timeout)), json_out)


async def _wait_result(
    caio: CAIOClient, request_id: str, timeout_s: float
) -> dict[str, Any] | None:
    """The job's result, or None if none came within ``timeout_s``."""
    try:
        return await caio.wait_result(request_id, timeout_s)
    except Timeout:
        return None


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
