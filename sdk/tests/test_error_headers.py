"""Error replies carry NATS micro's error headers (ADR-32): one line, an HTTP-like code."""

from __future__ import annotations

import pytest

from caio_integration._service_replies import encode_error, error_headers, http_status
from caio_integration.errors import STABLE_CODES, PayloadTooLarge, ServiceError, error_class_for


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("invalid_request", 400),
        ("payload_too_large", 413),
        ("unauthenticated", 401),
        ("forbidden", 403),
        ("not_found", 404),
        ("conflict", 409),
        ("rate_limited", 429),
        ("no_matching_service", 503),
        ("service_unavailable", 503),
        ("timeout", 504),
        ("service_error", 500),
        ("internal", 500),
        ("a_code_from_a_newer_router", 500),
    ],
)
def test_each_caio_code_has_an_http_like_status(code: str, status: int) -> None:
    assert http_status(code) == status


def test_every_stable_code_maps_to_a_status_a_client_understands() -> None:
    assert all(400 <= http_status(code) < 600 for code in STABLE_CODES)
    assert all(error_class_for(code).code == code for code in STABLE_CODES)


def test_the_description_is_one_printable_line_of_at_most_200_characters() -> None:
    error = ServiceError("first line\nsecond\tline\x00" + "x" * 300)

    headers = error_headers(error)

    assert headers["Nats-Service-Error"].startswith("first line second line x")
    assert len(headers["Nats-Service-Error"]) == 200
    assert headers["Nats-Service-Error-Code"] == "500"


def test_a_subclass_keeps_its_own_code() -> None:
    assert error_headers(PayloadTooLarge("too big"))["Nats-Service-Error-Code"] == "413"


def test_details_that_are_not_json_are_dropped_rather_than_leaving_the_request_unanswered() -> None:
    error = ServiceError("bad", details={"reason": "guarantee_violated", "checks": [object()]})

    body = encode_error(error, "r-1")

    assert b'"details":{"reason":"guarantee_violated"}' in body
    assert b'"request_id":"r-1"' in body


def test_details_with_keys_that_are_not_strings_are_dropped_too() -> None:
    body = encode_error(ServiceError("bad", details={1: "one"}, retryable=True), None)

    assert body == (
        b'{"status":"error","error":{"code":"service_error","message":"bad",'
        b'"details":{},"retryable":true}}'
    )
