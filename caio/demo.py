"""The demo ``caio up --demo`` runs: real requests through a real router.

1. A code review that must not leave the machine (``data_locality: on_prem``):
   only the local reviewer qualifies, and ruff finds real problems.
2. A dry run showing how CAIO ranks every code_review service.
3. With ``OPENAI_API_KEY`` set, a code generation through the Codex worker.
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from caio_integration.client import CAIOClient
from caio_integration.errors import CAIOError

__all__ = ["DEMO_CODE", "run_demo"]

DEMO_CODE = """import os
import subprocess


def run(cmd):
    return subprocess.call(cmd, shell=True)


def total(items):
    result = 0
    for item in items:
        result += item.price
    return reslt
"""

console = Console()


async def run_demo(caio: CAIOClient, *, with_codex: bool) -> None:
    console.rule("demo 1: a code review that stays on this machine")
    review = await caio.route_request(
        "code_review",
        {"code": DEMO_CODE, "language": "python", "filename": "billing.py"},
        constraints={"data_locality": ["on_prem"]},
        timeout_ms=15_000,
    )
    console.print(
        f"routed to [bold]{review.service_id}[/] in {review.latency_ms or 0:.1f} ms "
        f"(request {review.request_id})"
    )
    findings = (review.result or {}).get("findings", [])
    table = Table("line", "code", "finding")
    for finding in findings:
        table.add_row(
            str(finding.get("line")), str(finding.get("code")), str(finding.get("message"))
        )
    console.print(table)

    console.rule("demo 2: how CAIO ranks code_review services (dry run)")
    decision = await caio.route_request("code_review", {"code": "x = 1\n"}, dry_run=True)
    for candidate in decision.candidates:
        console.print(f"  candidate {candidate.service_id}  score {candidate.score}")
    for service_id, reason in (getattr(decision, "excluded", None) or {}).items():
        console.print(f"  [dim]excluded {service_id}: {reason}[/]")

    if with_codex:
        console.rule("demo 3: code generation through Codex")
        try:
            generated = await caio.route_request(
                "code_generation",
                {
                    "prompt": "Write a Python function telling whether a string is a palindrome.",
                    "language": "python",
                },
                timeout_ms=60_000,
            )
            console.print(f"routed to [bold]{generated.service_id}[/]")
            console.print((generated.result or {}).get("code", ""))
        except CAIOError as exc:
            console.print(f"[yellow]code generation failed: {exc.message} ({exc.code})[/]")

    console.rule("demo complete")
    console.print("every decision above is in the audit stream: [bold]caio audit replay[/]")
