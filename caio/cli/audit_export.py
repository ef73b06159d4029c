"""``caio audit export``: the audit records to a file, JSON lines or Parquet, filtered as replay.

JSON lines are the records exactly as stored (one per line), so `caio
audit verify`'s hashes can be checked against them elsewhere. Parquet is
for analysis (pyarrow, pandas, DuckDB, Spark): one row per record, the
protocol's fields as typed columns, ``price`` split into amount and currency,
and every other field (decision, error, attempts, chain...) as a JSON string
column, so no field is lost and the schema does not change with the records.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.markup import escape

from caio.cli._common import console, fail, run_async
from caio.cli._connect import Bus, connected
from caio_integration.audit import ReplayFilter, stored_records
from caio_integration.subjects import Subjects

__all__ = ["PARQUET_COLUMNS", "export", "parquet_rows"]

# (column, pyarrow type name): the protocol's fields first, then the price.
PARQUET_COLUMNS: tuple[tuple[str, str], ...] = (
    ("ts", "string"),
    ("kind", "string"),
    ("outcome", "string"),
    ("request_id", "string"),
    ("caller", "string"),
    ("capability", "string"),
    ("service_id", "string"),
    ("latency_ms", "float64"),
    ("price_amount", "float64"),
    ("price_currency", "string"),
    ("decision", "string"),  # JSON
    ("error", "string"),  # JSON
    ("extensions", "string"),  # JSON: every other field the record has
)
_TYPED = {"ts", "kind", "outcome", "request_id", "caller", "capability", "service_id"}


def parquet_rows(records: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """The records as Parquet columns (column name -> values)."""
    columns: dict[str, list[Any]] = {name: [] for name, _ in PARQUET_COLUMNS}
    for record in records:
        for name in _TYPED:
            value = record.get(name)
            columns[name].append(None if value is None else str(value))
        latency = record.get("latency_ms")
        columns["latency_ms"].append(float(latency) if isinstance(latency, int | float) else None)
        raw_price = record.get("price")
        price: dict[str, Any] = raw_price if isinstance(raw_price, dict) else {}
        amount = price.get("amount")
        columns["price_amount"].append(float(amount) if isinstance(amount, int | float) else None)
        columns["price_currency"].append(price.get("currency"))
        for name in ("decision", "error"):
            value = record.get(name)
            columns[name].append(None if value is None else orjson.dumps(value).decode())
        rest = {k: v for k, v in record.items() if k not in _TYPED | {"latency_ms", "price"}}
        rest.pop("decision", None)
        rest.pop("error", None)
        columns["extensions"].append(orjson.dumps(rest).decode() if rest else None)
    return columns


def _write_parquet(records: list[dict[str, Any]], output: Path) -> None:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        fail("--format parquet needs pyarrow: pip install pyarrow (or 'caio[parquet]')")
    schema = pa.schema([(name, getattr(pa, kind)()) for name, kind in PARQUET_COLUMNS])
    pq.write_table(pa.table(parquet_rows(records), schema=schema), output)


@connected(api_key=False)  # the audit stream is read with NATS credentials, not a key
def export(
    bus: Bus,
    output: Annotated[Path, typer.Option("--output", "-o", help="The file to write.")],
    file_format: Annotated[
        str, typer.Option("--format", help="jsonl (records as stored) or parquet.")
    ] = "jsonl",
    since: Annotated[
        str | None, typer.Option(help="Start at a time: 10m, 2h, 7d or RFC 3339.")
    ] = None,
    service: Annotated[str | None, typer.Option(help="Only records about this service id.")] = None,
    outcome: Annotated[str | None, typer.Option(help="Only this outcome (ok, error...).")] = None,
    kind: Annotated[str | None, typer.Option(help="Only this kind (route, registry...).")] = None,
) -> None:
    """Write audit records to a file (the filters are replay's)."""
    from caio.cli.audit import parse_since

    if file_format not in ("jsonl", "parquet"):
        fail(f"--format {escape(file_format)}: jsonl or parquet")
    wanted = ReplayFilter(
        since=parse_since(since) if since else None,
        service_id=service,
        kind=kind,
        outcome=outcome,
    )

    async def collect() -> list[tuple[bytes, dict[str, Any]]]:
        kept = []
        async with bus.nats("caio-audit-export") as nc:
            async for _, data in stored_records(nc, Subjects(bus.prefix), wanted.since):
                record = orjson.loads(data)
                if isinstance(record, dict) and _wanted(record, wanted):
                    kept.append((data, record))
        return kept

    found = run_async(collect())
    if file_format == "parquet":
        _write_parquet([record for _, record in found], output)
    else:
        with output.open("wb") as out:
            for data, _ in found:
                out.write(data + b"\n")  # the stored bytes: their hashes still check
    console.print(f"{len(found)} record(s) written to {escape(str(output))} ({file_format})")


def _wanted(record: dict[str, Any], wanted: ReplayFilter) -> bool:
    return (
        (wanted.kind is None or record.get("kind") == wanted.kind)
        and (wanted.service_id is None or record.get("service_id") == wanted.service_id)
        and wanted.accepts(record)
    )
