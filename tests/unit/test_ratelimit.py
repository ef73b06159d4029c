"""The rate limiter's pure parts: names, keys, limits and the retry hint."""

from __future__ import annotations

from typing import Any, cast

import pytest
from nats.js.errors import APIError, ServiceUnavailableError

from caio_broker.ratelimit import (
    SlidingWindowLimiter,
    is_per_subject_refusal,
    limit_stream_name,
    limit_subject,
    retry_after,
    validate_key,
)
from caio_integration.subjects import Subjects


def test_the_default_prefix_gets_the_protocol_stream_name() -> None:
    subjects = Subjects()

    assert limit_stream_name(subjects, 60, 100) == "CAIO_RL_60s_100"
    assert limit_subject(subjects, 60, 100) == "caio.rl.60s.100.>"
    assert limit_subject(subjects, 60, 100, "caller.alice") == "caio.rl.60s.100.caller.alice"


def test_other_prefixes_get_their_own_stream_name() -> None:
    subjects = Subjects("t1.a-b")

    assert limit_stream_name(subjects, 3600, 5) == "CAIO_RL_3600s_5_t1_a_b"
    assert limit_subject(subjects, 3600, 5, "svc-x") == "t1.a-b.rl.3600s.5.svc-x"


def test_each_window_and_limit_pair_has_its_own_stream_and_subjects() -> None:
    subjects = Subjects()
    pairs = [(60, 10), (60, 11), (3600, 10)]

    assert len({limit_stream_name(subjects, w, n) for w, n in pairs}) == len(pairs)
    assert len({limit_subject(subjects, w, n) for w, n in pairs}) == len(pairs)


@pytest.mark.parametrize("key", ["alice", "caller.alice", "svc.openai-gpt_4", "a.b.c.d"])
def test_safe_keys_of_up_to_four_tokens_are_accepted(key: str) -> None:
    assert validate_key(key) == key


@pytest.mark.parametrize(
    "key",
    [
        "",
        "*",
        ">",
        "a.>",
        "a.*",
        "a..b",
        ".a",
        "a.",
        "a b",
        "Alice",
        "a.b.c.d.e",
        "x" * 65,
        None,
        7,
    ],
)
def test_unsafe_keys_are_refused(key: object) -> None:
    with pytest.raises(ValueError, match="unsafe rate-limit key"):
        validate_key(key)


@pytest.mark.parametrize(("limit", "window_s"), [(0, 60), (5, 0), (-1, 60), (True, 60), (5, 1.5)])
async def test_limits_must_be_positive_ints_before_nats_is_touched(
    limit: Any, window_s: Any
) -> None:
    limiter = SlidingWindowLimiter(cast(Any, None), Subjects())

    with pytest.raises(ValueError, match="must be a positive int"):
        await limiter.hit("alice", limit, window_s)


def test_retry_after_is_the_time_until_the_oldest_hit_leaves_the_window() -> None:
    assert retry_after(60, oldest_ts=1000.0, now=1015.0) == pytest.approx(45.0)


def test_retry_after_stays_within_one_millisecond_and_one_window() -> None:
    assert retry_after(60, oldest_ts=1000.0, now=1070.0) == 0.001  # server clock behind
    assert retry_after(60, oldest_ts=1010.0, now=1000.0) == 60.0  # server clock ahead


def test_only_the_per_subject_limit_error_counts_as_a_refusal() -> None:
    refusal = ServiceUnavailableError(
        code=503, err_code=10077, description="maximum messages per subject exceeded"
    )
    other_store_failure = ServiceUnavailableError(
        code=503, err_code=10077, description="maximum bytes exceeded"
    )
    no_jetstream = ServiceUnavailableError(code=503, err_code=10039, description="not enabled")

    assert is_per_subject_refusal(refusal)
    assert not is_per_subject_refusal(other_store_failure)
    assert not is_per_subject_refusal(no_jetstream)
    assert not is_per_subject_refusal(APIError())
