"""The route path builds its audit records as plain JSON objects, for speed; they
must be exactly what the ``AuditRecord`` model and its published JSON Schema say."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
from hypothesis import given, settings
from hypothesis import strategies as st

from caio_broker.matching import Candidate, Decision, Exclusion
from caio_broker.routecall import RouteCall, attempt_json
from caio_integration.auditchain import ChainWriter, verify_chains
from caio_integration.pricing import Price
from caio_integration.wire import Attempt, AuditRecord, RouteRequest, StreamSummary

SCHEMA = json.loads(
    (Path(__file__).parents[2] / "schemas" / "messages" / "AuditRecord.json").read_text()
)
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

names = st.from_regex(r"[a-z][a-z0-9_-]{0,12}", fullmatch=True)
latencies = st.floats(min_value=0, max_value=1e6, allow_nan=False)
errors = st.none() | st.fixed_dictionaries(
    {"code": st.sampled_from(["timeout", "service_error"]), "message": st.text(max_size=20)}
)
attempts = st.builds(
    lambda sid, status, ms, error: (
        Attempt(service_id=sid, status=status, latency_ms=ms)
        if error is None
        else Attempt(service_id=sid, status=status, latency_ms=ms, error=error)
    ),
    names,
    st.sampled_from(["ok", "error", "timeout", "no_responders", "rate_limited", "circuit_open"]),
    latencies,
    errors,
)
decisions = st.none() | st.builds(
    lambda sids, excluded, revision: Decision(
        capability="code_review",
        candidates=tuple(Candidate(sid, 0.5, entry=None) for sid in sids),  # type: ignore[arg-type]
        exclusions={sid: Exclusion("capability", "offers no such capability") for sid in excluded},
        registry_revision=revision,
        pool=len(sids) + len(excluded),
    ),
    st.lists(names, max_size=3, unique=True),
    st.lists(names, max_size=3, unique=True),
    st.integers(min_value=0, max_value=10**6),
)
requests = st.none() | st.builds(
    lambda body: RouteRequest.model_validate(body),
    st.fixed_dictionaries(
        {},
        optional={
            "requirements": st.lists(names, max_size=2),
            "guarantees": st.just({"max_p95_latency_ms": 500.0}),
            "constraints": st.just({"data_locality": ["eu"], "hipaa_compliant": True}),
            "context": st.just({"prompt": "x"}),
        },
    ),
)


@st.composite
def route_calls(draw: st.DrawFn) -> RouteCall:
    call = RouteCall.arrived(draw(st.none() | names))
    call.caller = draw(st.none() | names)
    call.request_id = draw(st.none() | names)
    call.request = draw(requests)
    call.decision = draw(decisions)
    call.attempts = draw(st.lists(attempts, max_size=3))
    call.traceparent = draw(st.none() | st.just(TRACEPARENT))
    call.stream = draw(
        st.none()
        | st.builds(lambda n: StreamSummary(chunks=n, first_chunk_ms=1.5), st.integers(0, 9))
    )
    call.price = draw(st.none() | st.builds(Price, st.floats(0, 10), st.just("USD")))
    call.verdict = draw(st.none() | st.just({"latency": {"bound_ms": 500, "kept": True}}))
    call.cache = draw(st.none() | st.just({"hit": True, "original_request_id": "r1"}))
    return call


def record_of(call: RouteCall, draw_outcome: tuple[str, str], dry_run: bool) -> dict[str, Any]:
    kind, outcome = draw_outcome
    return call.record(kind, outcome, service_id="svc", error=None, dry_run=dry_run)  # type: ignore[arg-type]


kinds_and_outcomes = st.sampled_from(
    [
        ("route", "ok"),
        ("route", "error"),
        ("route", "no_match"),
        ("denied", "denied"),
        ("invalid", "invalid"),
        ("route", "timeout"),
    ]
)


@settings(max_examples=200)
@given(route_calls(), kinds_and_outcomes, st.booleans())
def test_a_route_record_is_exactly_an_audit_record(
    call: RouteCall, kind_outcome: tuple[str, str], dry_run: bool
) -> None:
    record = record_of(call, kind_outcome, dry_run)
    assert set(record) <= set(AuditRecord.model_fields), "a field the model does not have"
    for attempt in record.get("attempts", ()):
        assert set(attempt) <= set(Attempt.model_fields), "an attempt field the model lacks"
    # What the model makes of it is what was built: nothing coerced, dropped or added.
    assert AuditRecord.model_validate(record).to_dict() == record


@settings(max_examples=100)
@given(route_calls(), kinds_and_outcomes, st.booleans())
def test_a_stored_route_record_keeps_the_published_schema(
    call: RouteCall, kind_outcome: tuple[str, str], dry_run: bool
) -> None:
    data, _ = ChainWriter("c1").link(record_of(call, kind_outcome, dry_run))
    jsonschema.validate(json.loads(data), SCHEMA)


def test_an_attempt_is_carried_as_the_model_sends_it() -> None:
    plain = Attempt(service_id="a", status="ok", latency_ms=1.25)
    failed = Attempt(service_id="b", status="timeout", latency_ms=9.0, error={"code": "timeout"})
    assert attempt_json(plain) == plain.to_dict()
    assert attempt_json(failed) == failed.to_dict()


def test_records_built_as_objects_and_as_models_chain_together() -> None:
    writer = ChainWriter("mixed")
    call = RouteCall.arrived("code_review")
    first, _ = writer.link(call.record("route", "ok", service_id="svc"))
    second, _ = writer.link(AuditRecord(kind="registry", outcome="ok"))
    report = verify_chains([(1, first), (2, second)])
    assert report.ok, report
