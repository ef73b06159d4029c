"""``caio register``, ``caio deregister``, ``caio services``, ``caio validate``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from caio.cli._common import JsonOption, console, fail, print_json
from caio.cli._connect import Bus, connected
from caio.cli._tables import print_listing
from caio_integration.client import CAIOClient
from caio_integration.errors import CAIOError, Forbidden, Unauthenticated

__all__ = ["register_commands"]

CapabilityOption = Annotated[
    str | None, typer.Option("--capability", "-c", help="Only services offering this.")
]
# Files are checked by the commands, so a missing one is a one-line error.
FilesArgument = Annotated[list[Path], typer.Argument(help="Contract files (YAML or JSON).")]


def _read_error(path: Path) -> str | None:
    """Why ``path`` cannot be read as a contract file, or None."""
    try:
        path.read_text(encoding="utf-8")
    except OSError as exc:
        return f"cannot read {path}: {exc.strerror or exc}"
    except UnicodeDecodeError as exc:
        return f"{path} is not UTF-8 text (byte {exc.start})"
    return None


@connected()
def register(
    bus: Bus,
    files: FilesArgument,
    replace: Annotated[
        bool, typer.Option("--replace", help="Replace a different stored contract.")
    ] = False,
    json_out: JsonOption = False,
) -> None:
    """Register service contracts (YAML, either dialect) with the running CAIO."""
    for path in files:
        if (problem := _read_error(path)) is not None:
            fail(escape(problem))  # before registering any: all or none can be read

    async def go(caio: CAIOClient) -> list[dict[str, Any]]:
        return [await _register_file(caio, path, replace) for path in files]

    results = bus.call(go)
    if json_out:
        print_json(results)
    else:
        for r in results:
            if r["status"] == "error":
                console.print(
                    f"[red]✗[/] {escape(r['file'])}: {escape(r['message'])} [dim]({r['code']})[/]"
                )
                for line in r.get("errors", []) or []:
                    console.print(f"    {escape(str(line))}", soft_wrap=True)
            else:
                console.print(
                    f"[green]✓[/] {escape(r['file'])}: {escape(r['message'])} "
                    f"[dim](revision {r['revision']})[/]"
                )
    if any(r["status"] == "error" for r in results):
        raise typer.Exit(1)


async def _register_file(caio: CAIOClient, path: Path, replace: bool) -> dict[str, Any]:
    """One file's registration, or why the registry refused it."""
    try:
        reg = await caio.register_service(path, replace=replace)
    except (Unauthenticated, Forbidden):
        raise  # about the caller, not this file: one error, with its hint
    except CAIOError as exc:
        return {
            "file": str(path),
            "status": "error",
            "code": exc.code,
            "message": exc.message,
            "errors": exc.details.get("errors", []),
        }
    return {"file": str(path), **reg.model_dump()}


@connected()
def deregister(
    bus: Bus, service_id: Annotated[str, typer.Argument(help="The service id to remove.")]
) -> None:
    """Remove a service from the registry."""
    bus.call(lambda caio: caio.deregister_service(service_id))
    console.print(f"[green]✓[/] {service_id} deregistered")


@connected()
def services(bus: Bus, capability: CapabilityOption = None, json_out: JsonOption = False) -> None:
    """List registered services and whether a live worker serves them."""

    async def go(caio: CAIOClient) -> list[dict[str, Any]]:
        return [s.model_dump() for s in await caio.list_services(capability)]

    found = bus.call(go)
    if json_out:
        print_json(found)
        return
    rows = []
    rejected: list[str] = []
    for s in found:
        colour = "green" if s["availability"] == "available" else "yellow"
        rows.append(
            [
                escape(str(s["service_id"])),
                escape(str(s["service_name"])),
                escape(str(s["version"])),
                escape(", ".join(s["capabilities"])),
                f"[{colour}]{escape(str(s['availability']))}[/]",
            ]
        )
        # Why a worker that is heartbeating still does not count as live.
        last = s.get("last_heartbeat_rejected")
        if isinstance(last, dict):
            rejected.append(
                f"[yellow]{escape(str(s['service_id']))}: last heartbeat rejected "
                f"({last.get('count', 1)}x, last at {escape(str(last.get('at')))}): "
                f"{escape(str(last.get('reason')))}[/]"
            )
    print_listing(
        console,
        f"services{f' offering {capability}' if capability else ''}",
        ("service id", "name", "version", "capabilities", "availability"),
        rows,
    )
    for line in rejected:
        console.print(line)


@connected()
def stats(bus: Bus, capability: CapabilityOption = None, json_out: JsonOption = False) -> None:
    """What services deliver (as one router observed) beside what their contracts promise."""
    found = bus.call(lambda caio: caio.service_stats(capability))
    if json_out:
        print_json(found)
        return

    def ms(value: object) -> str:
        return f"{value:g}" if isinstance(value, int | float) else "-"

    rows = []
    for s in found:
        observed, bound = s["observed"], s["contract"]["p95_latency_ms"]
        rows.append(
            [
                escape(str(s["service_id"])),
                str(s["instances"]),
                escape(str(s["circuit"])),
                ms(bound),
                str(observed.get("samples", "-")),
                ms(observed["p50_ms"]),
                ms(observed["p95_ms"]),
                ms(observed["p99_ms"]),
                f"{observed['error_rate']:.1%}",
                ms(observed["throughput_per_s"]),
                _GUARANTEE.get(str(s["guarantee"]), escape(str(s["guarantee"]))),
            ]
        )
    print_listing(
        console,
        "service stats (one router's observations)",
        (
            "service",
            "live",
            "circuit",
            "p95 bound",
            "samples",
            "p50",
            "p95",
            "p99",
            "errors",
            "req/s",
            "guarantee",
        ),
        rows,
    )
    if any(s["guarantee"] == "unmeasured" for s in found):
        console.print(
            "[dim]unmeasured: this router has too few recent calls to judge the p95 bound[/]"
        )


# How each `guarantee` of caio.registry.stats reads in the table; others print as sent.
_GUARANTEE = {
    "kept": "[green]kept[/]",
    "violated": "[red]violated[/]",
    "unmeasured": "[yellow]unmeasured[/]",
}


def validate(files: FilesArgument, json_out: JsonOption = False) -> None:
    """Check contract files locally (no server needed); exit 1 if any is invalid."""
    from caio_integration.contracts import load_contract_file

    report: list[dict[str, Any]] = []
    for path in files:
        if (problem := _read_error(path)) is not None:
            report.append({"file": str(path), "is_valid": False, "errors": [problem]})
            continue
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
                console.print(
                    f"[green]✓[/] {escape(r['file'])}: valid contract for {r['service_id']}"
                )
            elif len(r["errors"]) == 1:
                console.print(
                    f"[red]✗[/] {escape(r['file'])}: {escape(r['errors'][0])}", soft_wrap=True
                )
            else:
                console.print(f"[red]✗[/] {escape(r['file'])}:")
                for line in r["errors"]:
                    console.print(f"    {escape(line)}", soft_wrap=True)
    if not all(r["is_valid"] for r in report):
        raise typer.Exit(1)


def register_commands(app: typer.Typer) -> None:
    app.command()(register)
    app.command()(deregister)
    app.command()(services)
    app.command()(stats)
    app.command()(validate)
