"""Observed latency windows: percentiles kept by insertion agree with sorting the window."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from caio_broker.observed import ObservedSettings, ObservedStats


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def nearest_rank(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, int(fraction * len(ordered) + 0.999999) - 1))
    return round(ordered[index], 3)


samples = st.lists(
    st.tuples(
        st.floats(0, 10_000, allow_nan=False),  # latency ms
        st.booleans(),  # ok
        st.floats(0, 40),  # seconds since the previous sample
    ),
    max_size=120,
)


@settings(max_examples=200, deadline=None)
@given(samples, st.integers(1, 30), st.floats(5, 200))
def test_window_statistics_equal_those_of_the_samples_still_in_the_window(
    recorded: list[tuple[float, bool, float]], capacity: int, max_age_s: float
) -> None:
    clock = Clock()
    stats = ObservedStats(ObservedSettings(samples=capacity, max_age_s=max_age_s), clock)
    kept: list[tuple[float, float, bool]] = []
    for latency, ok, pause in recorded:
        clock.now += pause
        stats.record("svc", latency, ok)
        kept = [*kept, (clock.now, latency, ok)][-capacity:]

    window = [s for s in kept if s[0] >= clock.now - max_age_s]
    seen = stats.stats("svc")

    assert seen.samples == len(window)
    if window:
        latencies = [s[1] for s in window]
        assert seen.p50_ms == nearest_rank(latencies, 0.50)
        assert seen.p95_ms == nearest_rank(latencies, 0.95)
        assert seen.p99_ms == nearest_rank(latencies, 0.99)
        assert seen.error_rate == round(sum(not s[2] for s in window) / len(window), 4)
    else:
        assert seen.p95_ms is None


def test_the_observed_p95_needs_enough_samples_to_judge_by() -> None:
    stats = ObservedStats(ObservedSettings(samples=50, min_samples=5))
    for latency in (10.0, 20.0, 30.0, 40.0):
        stats.record("svc", latency, True)

    assert stats.observed_p95("svc") is None
    stats.record("svc", 1000.0, True)
    assert stats.observed_p95("svc") == 1000.0
    assert stats.observed_p95("never-called") is None
