"""``caio register``, ``caio deregister``, ``caio services``, ``caio validate``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from caio.cli._common import (
    DEFAULT_NATS_URL,
    ApiKeyOption,
    JsonOption,
    NatsUrlOption,
    PrefixOption,
    cli_client,
    console,
    print_json,
    run_async,
)
from caio.errors import CAIOError

__all__ = ["register_commands"]

CapabilityOption = Annotated[
    str | None, typer.Option("--capability", "-c", help="Only services offering this.")
]
FilesArgument = Annotated[
    list[Path],
    typer.Argument(help="Contract YAML files.", exists=True, dir_okay=False, readable=True),
]


def register(
    files: FilesArgument,
    replace: Annotated[
        bool, typer.Option("--replace", help="Replace a different stored contract.")
    ] = False,
    nats_url: NatsUrlOption = DEFAULT_NATS_URL,
    prefix: PrefixOption = "caio",
    api_key: ApiKeyOption = None,
    json_out: JsonOption = False,
) -> None:
    """Register service contracts (YAML, either dialect) with the running CAIO."""

    async def go() -> list[dict[str, Any]]:
        results: list[dict[str, Any]] = []
        async with cli_client(nats_url, prefix, api_key) as caio:
            for path in files:
                try:
                    reg = await caio.register_service(path, replace=replace)
                    results.append({"file": str(path), **reg.model_dump()})
                except CAIOError as exc:
                    results.append(
                        {
                            "file": str(path),
                            "status": "error",
                            "code": exc.code,
                            "message": exc.message,
                            "errors": exc.details.get("errors", []),
                        }
                    )
        return results

    results = run_async(go())
    if json_out:
        print_json(results)
    else:
        for r in results:
            if r["status"] == "error":
                console.print(f"[red]✗[/] {r['file']}: {r['message']} [dim]({r['code']})[/]")
                for line in r.get("errors", []) or []:
                    console.print(f"    {line}")
            else:
                console.print(
                    f"[green]✓[/] {r['file']}: {r['message']} [dim](revision {r['revision']})[/]"
                )
    if any(r["status"] == "error" for r in results):
        raise typer.Exit(1)


def deregister(
    service_id: Annotated[str, typer.Argument(help="The service id to remove.")],
    nats_url: NatsUrlOption = DEFAULT_NATS_URL,
    prefix: PrefixOption = "caio",
    api_key: ApiKeyOption = None,
) -> None:
    """Remove a service from the registry."""

    async def go() -> None:
        async with cli_client(nats_url, prefix, api_key) as caio:
            await caio.deregister_service(service_id)

    run_async(go())
    console.print(f"[green]✓[/] {service_id} deregistered")


def services(
    capability: CapabilityOption = None,
    nats_url: NatsUrlOption = DEFAULT_NATS_URL,
    prefix: PrefixOption = "caio",
    api_key: ApiKeyOption = None,
    json_out: JsonOption = False,
) -> None:
    """List registered services and whether a live worker serves them."""

    async def go() -> list[dict[str, Any]]:
        async with cli_client(nats_url, prefix, api_key) as caio:
            return [s.model_dump() for s in await caio.list_services(capability)]

    found = run_async(go())
    if json_out:
        print_json(found)
        return
    table = Table(title=f"services{f' offering {capability}' if capability else ''}")
    for column in ("service id", "name", "version", "capabilities", "availability"):
        table.add_column(column)
    for s in found:
        colour = "green" if s["availability"] == "available" else "yellow"
        table.add_row(
            str(s["service_id"]),
            str(s["service_name"]),
            str(s["version"]),
            ", ".join(s["capabilities"]),
            f"[{colour}]{s['availability']}[/]",
        )
    console.print(table)


def stats(
    capability: CapabilityOption = None,
    nats_url: NatsUrlOption = DEFAULT_NATS_URL,
    prefix: PrefixOption = "caio",
    api_key: ApiKeyOption = None,
    json_out: JsonOption = False,
) -> None:
    """What services deliver (as one router observed) beside what their contracts promise."""

    async def go() -> list[dict[str, Any]]:
        async with cli_client(nats_url, prefix, api_key) as caio:
            return await caio.service_stats(capability)

    found = run_async(go())
    if json_out:
        print_json(found)
        return
    table = Table(title="service stats (one router's observations)")
    for column in (
        "service",
        "live",
        "circuit",
        "p95 bound",
        "p50",
        "p95",
        "p99",
        "errors",
        "req/s",
        "guarantee",
    ):
        table.add_column(column)

    def ms(value: object) -> str:
        return f"{value:g}" if isinstance(value, int | float) else "-"

    for s in found:
        observed, bound = s["observed"], s["contract"]["p95_latency_ms"]
        verdict = "[red]violated[/]" if s["guarantee"] == "violated" else "kept"
        table.add_row(
            s["service_id"],
            str(s["instances"]),
            s["circuit"],
            ms(bound),
            ms(observed["p50_ms"]),
            ms(observed["p95_ms"]),
            ms(observed["p99_ms"]),
            f"{observed['error_rate']:.1%}",
            ms(observed["throughput_per_s"]),
            verdict,
        )
    console.print(table)


def validate(files: FilesArgument, json_out: JsonOption = False) -> None:
    """Check contract files locally (no server needed); exit 1 if any is invalid."""
    from broker.contracts import load_contract_file

    report: list[dict[str, Any]] = []
    for path in files:
        try:
            contract = load_contract_file(path)
            report.append(
                {"file": str(path), "is_valid": True, "service_id": contract.id, "errors": []}
            )
        except CAIOError as exc:
            report.append(
                {
                    "file": str(path),
                    "is_valid": False,
                    "errors": list(exc.details.get("errors", [exc.message])),
                }
            )
    if json_out:
        print_json(report)
    else:
        for r in report:
            if r["is_valid"]:
                console.print(f"[green]✓[/] {r['file']}: valid contract for {r['service_id']}")
            else:
                console.print(f"[red]✗[/] {r['file']}:")
                for line in r["errors"]:
                    console.print(f"    {line}")
    if not all(r["is_valid"] for r in report):
        raise typer.Exit(1)


def register_commands(app: typer.Typer) -> None:
    app.command()(register)
    app.command()(deregister)
    app.command()(services)
    app.command()(stats)
    app.command()(validate)
