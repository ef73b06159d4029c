"""Which failed job replies are worth another delivery."""

from __future__ import annotations

import pytest

from caio_broker.jobs import is_retryable


def error(code: str, **details: object) -> dict[str, object]:
    return {"status": "error", "error": {"code": code, "message": "m", "details": details}}


@pytest.mark.parametrize(
    ("reply", "retry"),
    [
        (error("timeout"), True),
        (error("rate_limited"), True),
        (error("service_unavailable"), True),
        (error("invalid_request"), False),
        (error("forbidden"), False),
        (
            error("no_matching_service", excluded={"a": "p95 latency bound 9 ms is above 1 ms"}),
            False,
        ),
        (error("no_matching_service", excluded={"a": "unavailable: no live worker"}), True),
        (
            error(
                "no_matching_service",
                excluded={
                    "a": "unavailable: circuit open after repeated failures",
                    "b": "is not HIPAA compliant",
                },
            ),
            False,
        ),
        (error("no_matching_service"), False),
        ({"status": "ok", "result": {}}, False),
    ],
)
def test_a_job_is_retried_only_when_a_later_delivery_can_succeed(
    reply: dict[str, object], retry: bool
) -> None:
    assert is_retryable(reply) is retry
