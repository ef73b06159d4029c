"""Errors, subject names, JSON bodies and liveness: the small parts everything uses."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from caio_broker.audit import rfc3339_now
from caio_broker.liveness import Liveness
from caio_integration._json import decode_object, error_reply
from caio_integration.client import raise_for_reply
from caio_integration.errors import (
    STABLE_CODES,
    CAIOError,
    InvalidRequest,
    PayloadTooLarge,
    error_class_for,
)
from caio_integration.subjects import REGISTRY_OPERATIONS, Subjects, is_safe_token
from caio_integration.wire import new_request_id

# The published v1 protocol is the first part of docs/protocol.md; extensions follow it.
PROTOCOL_DOC = (
    (Path(__file__).parents[2] / "docs" / "protocol.md")
    .read_text()
    .split("# This implementation")[0]
)


def test_every_stable_code_of_the_protocol_has_one_error_class() -> None:
    listed = set(
        re.findall(r"`([a-z_]+)`", PROTOCOL_DOC.split("Stable codes:")[1].split("\n\n")[0])
    )

    assert listed == STABLE_CODES
    assert all(error_class_for(code).code == code for code in listed)


def test_every_registry_subject_of_the_protocol_is_served() -> None:
    listed = set(re.findall(r"`caio\.registry\.([a-z]+)`", PROTOCOL_DOC))

    assert listed == set(REGISTRY_OPERATIONS)


def test_an_error_reply_round_trips_to_the_same_exception() -> None:
    original = PayloadTooLarge("too big", details={"limit": 5}, request_id="r1")

    with pytest.raises(PayloadTooLarge) as raised:
        raise_for_reply(error_reply(original))

    assert raised.value.details == {"limit": 5}
    assert raised.value.request_id == "r1"
    assert isinstance(raised.value, InvalidRequest)


def test_an_unknown_code_from_a_newer_router_is_still_a_caio_error() -> None:
    with pytest.raises(CAIOError) as raised:
        raise_for_reply({"status": "error", "error": {"code": "brand_new", "message": "m"}})

    assert type(raised.value) is CAIOError


@pytest.mark.parametrize("name", ["code_review", "a", "x-1", "0abc", "a" * 64])
def test_safe_names_are_accepted(name: str) -> None:
    assert is_safe_token(name)


@pytest.mark.parametrize("name", ["", "a.b", "*", ">", "a b", "Upper", "-x", "_x", "a" * 65, "é"])
def test_names_that_could_address_other_subjects_are_refused(name: str) -> None:
    assert not is_safe_token(name)


@given(st.text(max_size=80))
def test_no_accepted_name_contains_a_subject_metacharacter(name: str) -> None:
    if is_safe_token(name):
        assert not set(name) & {".", "*", ">", " ", "\t", "\n", "\r"}


def test_subjects_follow_the_protocol() -> None:
    s = Subjects()

    assert s.route("code_review") == "caio.route.code_review"
    assert s.service("codex-bridge-001", "code_review") == "caio.svc.codex-bridge-001.code_review"
    assert s.heartbeat("x") == "caio.heartbeat.x"
    assert s.registry("get") == "caio.registry.get"
    assert s.audit("route", None) == "caio.audit.route._"
    assert (s.audit_stream, s.registry_bucket) == ("CAIO_AUDIT", "CAIO_REGISTRY")


def test_an_unsafe_prefix_is_refused() -> None:
    with pytest.raises(ValueError, match="unsafe"):
        Subjects("caio.>")


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        (b"", InvalidRequest),
        (b"{", InvalidRequest),
        (b"[]", InvalidRequest),
        (b"x" * 11, PayloadTooLarge),
    ],
)
def test_a_body_must_be_one_bounded_json_object(payload: bytes, error: type[CAIOError]) -> None:
    with pytest.raises(error):
        decode_object(payload, max_bytes=10)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_service_is_available_while_a_heartbeat_is_recent() -> None:
    clock = FakeClock()
    liveness = Liveness(window_s=15, clock=clock)

    liveness.beat("svc", "i1")
    clock.now += 14.9
    fresh = liveness.is_available("svc")
    clock.now += 0.2
    stale = liveness.is_available("svc")

    assert fresh
    assert not stale
    assert liveness.availability("svc") == "unavailable"


def test_one_live_instance_keeps_a_service_available() -> None:
    clock = FakeClock()
    liveness = Liveness(window_s=15, clock=clock)
    liveness.beat("svc", "old")
    clock.now += 10
    liveness.beat("svc", "new")
    clock.now += 10

    assert liveness.live_instances("svc") == 1


def test_a_stopping_heartbeat_or_no_responders_removes_instances() -> None:
    liveness = Liveness(window_s=15, clock=FakeClock())
    liveness.beat("svc", "a")
    liveness.beat("svc", "b")

    liveness.beat("svc", "a", stopping=True)
    one_left = liveness.live_instances("svc")
    liveness.mark_down("svc")

    assert one_left == 1
    assert not liveness.is_available("svc")


def test_audit_timestamps_are_rfc3339_utc_with_microseconds_and_current() -> None:
    before = dt.datetime.now(dt.UTC)
    stamp = rfc3339_now()
    after = dt.datetime.now(dt.UTC)

    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", stamp)
    parsed = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    assert before - dt.timedelta(microseconds=1) <= parsed <= after


def test_generated_request_ids_are_32_hex_digits_and_distinct() -> None:
    ids = {new_request_id() for _ in range(1000)}

    assert len(ids) == 1000
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)
