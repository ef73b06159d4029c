"""A misspelled field is refused with its name and what was probably meant, never ignored."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from caio_integration.errors import InvalidRequest
from caio_integration.wire import Heartbeat, RouteRequest, ServiceRequest, parse
from caio_integration.wire._unknown_fields import field_paths

KNOWN = {".".join(path) for path in field_paths(RouteRequest)}
SECTIONS = ("", "constraints", "guarantees")


def refusal(body: dict[str, object]) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as caught:
        parse(RouteRequest, body)
    return caught.value


@pytest.mark.parametrize(
    ("body", "field", "meant"),
    [
        (
            {"constraints": {"data_localty": ["on_prem"]}},
            "constraints.data_localty",
            "data_locality",
        ),
        ({"constraints": {"hipaa": True}}, "constraints.hipaa", "hipaa_compliant"),
        ({"constrains": {"hipaa_compliant": True}}, "constrains", "constraints"),
        (
            {"guarantees": {"max_p95_latency": 50}},
            "guarantees.max_p95_latency",
            "max_p95_latency_ms",
        ),
        (
            {"constraints": {"max_p95_latency": 50}},
            "constraints.max_p95_latency",
            "guarantees.max_p95_latency_ms",
        ),
        ({"timeout": 5000}, "timeout", "timeout_ms"),
    ],
)
def test_a_typo_is_refused_naming_the_field_and_the_one_meant(
    body: dict[str, object], field: str, meant: str
) -> None:
    error = refusal(body)

    assert error.code == "invalid_request"
    assert f"{field}: unknown field; did you mean {meant!r}?" in error.message
    assert error.details["unknown_fields"] == {field: meant}


def test_a_field_nothing_resembles_is_named_without_a_guess() -> None:
    error = refusal({"constraints": {"zzzz": 1}})

    assert error.details["unknown_fields"] == {"constraints.zzzz": None}
    assert "constraints.zzzz: unknown field" in error.message


names = st.from_regex(r"[a-z_][a-z0-9_]{0,20}", fullmatch=True)


@given(section=st.sampled_from(SECTIONS), name=names)
def test_every_unknown_field_in_any_section_is_refused(section: str, name: str) -> None:
    path = f"{section}.{name}" if section else name
    if path in KNOWN:
        return
    body: dict[str, object] = {name: 1} if not section else {section: {name: 1}}

    error = refusal(body)

    assert path in error.details["unknown_fields"]
    meant = error.details["unknown_fields"][path]
    assert meant is None or meant in KNOWN or meant in {p.split(".")[-1] for p in KNOWN}


def test_peers_may_add_fields_to_heartbeats_and_service_requests() -> None:
    beat = parse(
        Heartbeat, {"service_id": "js-echo", "instance_id": "i1", "ts": 1.0, "runtime": "node"}
    )
    asked = parse(ServiceRequest, {"request_id": "r", "capability": "echo", "trace": "t"})

    assert beat.service_id == "js-echo"
    assert asked.capability == "echo"


@pytest.mark.parametrize(
    ("ts", "epoch"),
    [
        ("2026-12-01T10:00:00Z", 1796119200.0),
        ("2026-12-01T10:00:00.250Z", 1796119200.25),
        ("2026-12-01T11:00:00+01:00", 1796119200.0),
        ("2026-12-01T10:00:00.123456789Z", 1796119200.123456),
        (1796119200, 1796119200.0),
        (1796119200.5, 1796119200.5),
    ],
    ids=["utc", "javascript-millis", "offset", "go-nanos", "epoch-int", "epoch-float"],
)
def test_a_heartbeat_time_is_rfc3339_or_epoch_seconds(ts: object, epoch: float) -> None:
    beat = parse(Heartbeat, {"service_id": "s", "instance_id": "i", "ts": ts})

    assert beat.ts == pytest.approx(epoch)


@pytest.mark.parametrize(
    ("ts", "reason"),
    [
        ("2026-12-01T10:00:00", "no time zone"),
        ("yesterday", "not an RFC 3339 time"),
        (True, "valid number"),
        (None, "valid number"),
    ],
)
def test_a_heartbeat_time_that_is_neither_is_refused_with_a_reason(ts: object, reason: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse(Heartbeat, {"service_id": "s", "instance_id": "i", "ts": ts})

    assert reason in caught.value.message
