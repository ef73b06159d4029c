"""At 80 columns, ids are printed whole: never cut with an ellipsis, never folded."""

from __future__ import annotations

from nats.aio.client import Client as NATS

from caio_integration.subjects import Subjects
from tests.cli.conftest import caio
from tests.integration.conftest import ServiceFactory, contract, request

# The longest id the schema allows (64 characters), ending in a mark to find.
LONG_ID = "a-service-with-a-rather-long-identifier-as-teams-tend-to-name-it"
OTHER_LONG_ID = "another-service-with-a-long-identifier-that-is-not-running-now"


async def test_every_listing_shows_the_longest_ids_whole(
    nats_url: str, prefix: str, nc: NATS, subjects: Subjects, live_service: ServiceFactory
) -> None:
    assert len(LONG_ID) == 64
    assert len(OTHER_LONG_ID) <= 64
    await live_service(LONG_ID, ["code_review", "code_generation", "documentation"])
    registered = await request(
        nc, subjects.registry("register"), {"contract": contract(OTHER_LONG_ID)}
    )
    assert registered["status"] == "registered"
    on = ("--nats-url", nats_url, "--prefix", prefix)

    services = await caio("services", *on)
    stats = await caio("stats", *on)
    dry_run = await caio("route", "code_review", "--dry-run", *on)
    routed = await caio("route", "code_review", "--context", '{"code": "x"}', *on)
    audit = await caio("audit", "replay", *on)

    for ran in (services, stats, dry_run, routed, audit):
        assert ran.code == 0, ran.text
        assert "…" not in ran.out
        assert LONG_ID in ran.out
        # (the service's own result is printed as JSON after the table, as it is)
        table = ran.out.split("\n{", 1)[0]
        assert max(len(line) for line in table.splitlines()) <= 80
    for ran in (services, stats, dry_run, audit):
        assert OTHER_LONG_ID in ran.out
    assert "documentation" in services.out
    assert "unavailable: no live worker" in dry_run.out


async def test_the_audit_listing_keeps_request_ids_whole(
    nats_url: str, prefix: str, nc: NATS, subjects: Subjects, live_service: ServiceFactory
) -> None:
    await live_service("short")
    request_id = "req-0123456789abcdef0123456789abcdef"
    await request(nc, subjects.route("code_review"), {"request_id": request_id, "context": {}})

    audit = await caio("audit", "replay", "--nats-url", nats_url, "--prefix", prefix)

    assert request_id in audit.out
