"""``caio keys create|list|revoke``: API keys, for admins."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import typer
from rich.markup import escape

from caio.cli._common import JsonOption, console, err_console, print_json, run_async
from caio.cli._connect import Bus, connected
from caio.cli._tables import print_listing
from caio.cli.audit import duration_seconds

__all__ = ["keys_app"]

keys_app = typer.Typer(
    help="Create, list and revoke API keys (admin keys only).", no_args_is_help=True
)


@keys_app.command()
@connected()
def create(
    bus: Bus,
    name: Annotated[str, typer.Option("--name", help="Unique name; services belong to it.")],
    role: Annotated[str, typer.Option("--role", help="caller, publisher or admin.")] = "caller",
    allow: Annotated[
        list[str] | None, typer.Option("--allow", help="Capability this key may use (repeat).")
    ] = None,
    services: Annotated[
        list[str] | None,
        typer.Option("--services", help="Service id or glob it may reach (repeat)."),
    ] = None,
    expires: Annotated[str | None, typer.Option(help="Lifetime: 90m, 12h, 30d.")] = None,
    data_locality: Annotated[
        list[str] | None,
        typer.Option("--data-locality", help="Only services in this place, e.g. on_prem (repeat)."),
    ] = None,
    hipaa: Annotated[bool, typer.Option("--hipaa", help="Only HIPAA-compliant services.")] = False,
    rpm: Annotated[
        int | None, typer.Option("--rpm", help="Requests per minute, across all routers.")
    ] = None,
    budget_per_day: Annotated[
        float | None,
        typer.Option(min=0.000001, help="What its routes may cost per UTC day (above 0)."),
    ] = None,
    budget_per_month: Annotated[
        float | None,
        typer.Option(min=0.000001, help="What its routes may cost per UTC month (above 0)."),
    ] = None,
    direct: Annotated[
        bool,
        typer.Option(
            "--direct",
            help="Write straight to the keys bucket with your NATS credentials, without an "
            "API key: how the first admin key of a deployment is made.",
        ),
    ] = False,
    json_out: JsonOption = False,
) -> None:
    """Create a key and print its secret, once: it is stored only as a hash."""
    policy: dict[str, Any] = {}
    if data_locality:
        policy["data_locality"] = data_locality
    if hipaa:
        policy["hipaa_compliant"] = True
    if rpm is not None:
        policy["requests_per_minute"] = rpm
    if budget_per_day is not None:
        policy["budget_per_day"] = budget_per_day
    if budget_per_month is not None:
        policy["budget_per_month"] = budget_per_month

    expires_in_s = duration_seconds(expires) if expires else None

    if direct:
        created = run_async(create_directly(bus, name, role, allow, services, expires_in_s, policy))
    else:
        created = bus.call(
            lambda caio: caio.create_key(
                name,
                role,
                capabilities=allow,
                services=services,
                expires_in_s=expires_in_s,
                policy=policy,
            )
        )
    if json_out:
        print_json(created)
        return
    console.print(f"[green]✓[/] key [bold]{created['name']}[/] ({created['role']}) created")
    err_console.print("[yellow]the secret is shown once; store it now:[/]")
    print(created["secret"])


async def create_directly(
    bus: Bus,
    name: str,
    role: str,
    capabilities: list[str] | None,
    services: list[str] | None,
    expires_in_s: float | None,
    policy: dict[str, Any],
) -> dict[str, Any]:
    """Bootstrap: the bus's own permissions (JetStream access to the bucket) are the check."""
    import time

    from pydantic import ValidationError

    from caio_broker.auth.keys import CallerPolicy, KeyStore
    from caio_integration.errors import InvalidRequest
    from caio_integration.subjects import Subjects

    if role not in ("caller", "publisher", "admin"):
        raise InvalidRequest(f"role must be caller, publisher or admin, not {role!r}")
    async with bus.nats() as nc:
        store = await KeyStore.open(nc.jetstream(), Subjects(bus.prefix))
        try:
            secret, key = await store.create(
                name,
                role,  # type: ignore[arg-type]  # checked above
                capabilities=capabilities,
                services=services,
                policy=CallerPolicy(**policy),
                expires_at=time.time() + expires_in_s if expires_in_s else None,
            )
        except ValidationError as exc:
            raise InvalidRequest(f"invalid key settings: {exc.errors()[0]['msg']}") from None
    return {"status": "created", "secret": secret, **key.public()}


@keys_app.command("list")
@connected()
def list_keys(bus: Bus, json_out: JsonOption = False) -> None:
    """List keys (never their secrets) with what each may use and its limits."""
    found = bus.call(lambda caio: caio.list_keys())
    if json_out:
        print_json(found)
        return
    rows = []
    for key in found:
        policy = key.get("policy") or {}
        rpm = policy.get("requests_per_minute")
        rows.append(
            [
                escape(str(key["name"])),
                escape(str(key["key_id"])),
                escape(str(key["role"])),
                escape(", ".join(key.get("capabilities") or ["all"])),
                escape(", ".join(key.get("services") or ["all"])),
                escape(", ".join(policy.get("data_locality") or ["any"])),
                "yes" if policy.get("hipaa_compliant") else "no",
                f"{rpm}/min" if rpm else "no limit",
                _when(key.get("expires_at"), "never"),
                "[red]revoked[/]" if key.get("revoked_at") else "[green]active[/]",
            ]
        )
    print_listing(
        console,
        "API keys",
        (
            "name",
            "id",
            "role",
            "capabilities",
            "services",
            "data locality",
            "HIPAA only",
            "rate limit",
            "expires (UTC)",
            "state",
        ),
        rows,
    )


def _when(timestamp: float | None, otherwise: str) -> str:
    if not timestamp:
        return otherwise
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%d %H:%M")


@keys_app.command()
@connected()
def revoke(bus: Bus, key: Annotated[str, typer.Argument(help="Key name or id.")]) -> None:
    """Revoke a key: every router refuses it from now on."""
    revoked = bus.call(lambda caio: caio.revoke_key(key))
    console.print(f"[green]✓[/] key {revoked['name']} ({revoked['key_id']}) revoked")
