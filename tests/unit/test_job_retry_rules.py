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
        (error("no_matching_service", excluded_codes={"a": "guarantee_unmet"}), False),
        (error("no_matching_service", excluded_codes={"a": "unavailable"}), True),
        (
            error("no_matching_service", excluded_codes={"a": "circuit_open", "b": "observed_p95"}),
            True,
        ),
        (error("no_matching_service", excluded_codes={"a": "circuit_open", "b": "privacy"}), False),
        # Decided by the code, not the text: a sentence that merely starts alike is no reason.
        (
            error(
                "no_matching_service",
                excluded={"a": "unavailable: no live worker"},
                excluded_codes={"a": "not_permitted"},
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
