"""Stream ``CAIO_AUDIT``: one record per decision, replayable by any JetStream consumer."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, WithJsonSchema

from caio_integration.wire._base import ReplyBody, rfc3339_now
from caio_integration.wire.route import Attempt, Price
from caio_integration.wire.stream import StreamSummary

__all__ = ["CHAIN_SCHEMA", "AuditKind", "AuditOutcome", "AuditRecord"]

# "keys", "guarantee_violation" and "audit_gap" are this implementation's additions.
AuditKind = Literal[
    "route", "registry", "denied", "invalid", "keys", "guarantee_violation", "audit_gap"
]
AuditOutcome = Literal["ok", "error", "no_match", "denied", "invalid", "timeout"]


# Where a record sits in its router's hash chain (``caio audit verify``), carried as a
# plain object (a nested model costs the route path about 3 µs more per record).
CHAIN_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {
            "type": "string",
            "description": "The chain: one per router process, a random id chosen at its start.",
        },
        "seq": {"type": "integer", "minimum": 1, "description": "The place: 1, 2, 3..."},
        "prev": {
            "type": "string",
            "description": "SHA-256 (hex) of the stored bytes of the chain's previous record;"
            " 64 zeros for the first.",
        },
    },
    "required": ["id", "seq", "prev"],
}
Chain = Annotated[dict[str, Any], WithJsonSchema(CHAIN_SCHEMA)]


class AuditRecord(ReplyBody):
    """One decision, as stored in stream ``CAIO_AUDIT`` (``<prefix>.audit.<kind>.<service_id>``).

    The protocol's fields are always written, ``null`` when unknown; the
    extensions only when set.
    """

    ts: str = Field(
        default_factory=rfc3339_now,
        description="When the record was written: RFC 3339, UTC, microseconds.",
    )
    kind: AuditKind = Field(
        description="What was decided: a `route`, a `registry` change, a `denied` or"
        " `invalid` request; extensions: `keys` changes, `guarantee_violation` state changes."
    )
    request_id: str | None = Field(None, description="The request's id; null when unknown.")
    caller: str | None = Field(None, description="The API key's name; null when unknown.")
    capability: str | None = Field(
        None,
        description="The capability of a route request; null when there is none (registry,"
        " keys, guarantee records) or the subject's was not a safe name.",
    )
    service_id: str | None = Field(
        None,
        description="The service concerned: the one that answered (or would, on a dry run),"
        " the last one tried when all failed, the one a registry change or guarantee record"
        " is about; null when none.",
    )
    outcome: AuditOutcome = Field(
        description="How it ended; a `guarantee_violation` record is `error` when violated,"
        " `ok` when restored."
    )
    decision: dict[str, Any] | None = Field(
        None,
        description="Routes: candidates, excluded (with excluded_codes), registry_revision,"
        " pool; registry changes: action, registry_revision; extensions: keys changes: action,"
        " key; guarantee_violation: state, observed_p95_ms, contract_p95_ms. Null when no"
        " decision was made.",
    )
    latency_ms: float | None = Field(
        None,
        description="Milliseconds from a route request's arrival at the router to this record;"
        " null when not measured (registry and keys records).",
    )
    error: dict[str, Any] | None = Field(
        None,
        description="The error the caller got (code, message, details, retryable); null when none.",
    )
    attempts: list[Attempt] | None = Field(
        None, description="Extension: forwarded requests' attempts."
    )
    dry_run: bool | None = Field(None, description="Extension: true on a dry run's record.")
    operation: str | None = Field(
        None,
        description="Extension: the operation of a refused registry or keys request"
        " (`register` for an invalid contract; `<area>.<operation>`, e.g. `keys.create`, when"
        " denied).",
    )
    trace_id: str | None = Field(
        None,
        description="Extension: the W3C trace id of the caller's `traceparent` header, when"
        " it sent one.",
    )
    stream: StreamSummary | None = Field(
        None, description="Extension: on a streamed request, how many chunks were relayed."
    )
    job: dict[str, Any] | None = Field(
        None,
        description="Extension: on a durable job the router gave up on: `dead_letter: true`"
        " (abandoned after too many deliveries) or the job's `subject` (no usable request id).",
    )
    price: Price | None = Field(
        None, description="Extension: on an answered route, what the result cost (as the reply)."
    )
    verdict: dict[str, Any] | None = Field(
        None, description="Extension: on an answered route, the result's verdict (as the reply)."
    )
    cache: dict[str, Any] | None = Field(
        None,
        description="Extension: on a route answered from the response cache, as the reply's"
        " `cache` (`original_request_id` names the decision whose answer was reused).",
    )
    requested: dict[str, Any] | None = Field(
        None,
        description="Extension: on a route record, what the caller asked for, as it was"
        " enforced (after its key's policy): `requirements`, `guarantees`, `constraints`;"
        " only those it gave.",
    )
    chain: Chain | None = Field(
        None,
        description="Extension: the record's place in its router's hash chain; an"
        " `audit_gap` record holds the place of one the stream did not store (its"
        " `decision.lost` is that record's hash).",
    )

    def model_post_init(self, context: Any, /) -> None:
        # The protocol's fields are sent even when null: count them as set.
        self.__pydantic_fields_set__.update(PROTOCOL_FIELDS)


PROTOCOL_FIELDS = frozenset(
    {
        "ts",
        "kind",
        "request_id",
        "caller",
        "capability",
        "service_id",
        "outcome",
        "decision",
        "latency_ms",
        "error",
    }
)
