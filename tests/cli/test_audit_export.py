"""`caio audit export`: a real router's audit records to JSON lines and Parquet."""

from __future__ import annotations

from pathlib import Path

import orjson
import pyarrow.parquet as pq
from nats.aio.client import Client as NATS

from caio_integration.auditchain import verify_chains
from caio_integration.subjects import Subjects
from tests.cli.conftest import caio
from tests.integration.conftest import ServiceFactory, request

ROUTES = 4


async def routed(nc: NATS, subjects: Subjects, live_service: ServiceFactory) -> None:
    await live_service("svc")  # its registration is audited too
    for _ in range(ROUTES):
        assert (await request(nc, subjects.route("code_review"), {"context": {}}))["status"] == "ok"
    await request(nc, subjects.route("nothing_serves_this"), {"context": {}})


async def test_json_lines_hold_the_stored_records_whose_chain_still_verifies(
    nats_url: str,
    prefix: str,
    nc: NATS,
    subjects: Subjects,
    live_service: ServiceFactory,
    tmp_path: Path,
) -> None:
    await routed(nc, subjects, live_service)
    out = tmp_path / "audit.jsonl"

    ran = await caio("audit", "export", "-o", str(out), "--nats-url", nats_url, "--prefix", prefix)

    assert ran.code == 0, ran.text
    lines = out.read_bytes().splitlines()
    kinds = [orjson.loads(line)["kind"] for line in lines]
    assert kinds.count("route") == ROUTES + 1
    assert "registry" in kinds
    assert verify_chains(enumerate(lines, start=1)).ok  # the bytes as stored


async def test_parquet_has_typed_columns_and_takes_replays_filters(
    nats_url: str,
    prefix: str,
    nc: NATS,
    subjects: Subjects,
    live_service: ServiceFactory,
    tmp_path: Path,
) -> None:
    await routed(nc, subjects, live_service)
    out = tmp_path / "audit.parquet"
    where = ("--nats-url", nats_url, "--prefix", prefix)

    ran = await caio(
        "audit", "export", "-o", str(out), "--format", "parquet", "--outcome", "ok", *where
    )

    assert ran.code == 0, ran.text
    table = pq.read_table(out)
    rows = table.to_pylist()
    assert {row["outcome"] for row in rows} == {"ok"}
    routes = [row for row in rows if row["kind"] == "route"]
    assert len(routes) == ROUTES
    assert all(row["service_id"] == "svc" and row["price_amount"] > 0 for row in routes)
    assert str(table.schema.field("latency_ms").type) == "double"
    assert all(orjson.loads(row["extensions"])["chain"]["seq"] >= 1 for row in rows)
