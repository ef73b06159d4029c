"""Long-running processes settle the garbage collector once started, unless told not to."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from caio_integration.gctune import GEN0_THRESHOLD, settle_after_start


@pytest.fixture
def collector() -> Iterator[None]:
    """The test process's collector as it was, afterwards."""
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


@pytest.mark.usefixtures("collector")
def test_settling_freezes_what_start_up_built_and_collects_young_objects_less_often() -> None:
    built_at_start = [object() for _ in range(10)]
    assert settle_after_start() is True
    assert gc.get_freeze_count() >= len(built_at_start)
    assert gc.get_threshold()[0] >= GEN0_THRESHOLD


@pytest.mark.usefixtures("collector")
def test_settling_still_collects_cycles_made_afterwards() -> None:
    settle_after_start()

    class Node:
        other: object

    first, second = Node(), Node()
    first.other, second.other = second, first
    del first, second
    assert gc.collect() >= 2


@pytest.mark.usefixtures("collector")
def test_caio_gc_tuning_off_keeps_pythons_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAIO_GC_TUNING", "off")
    before = (gc.get_threshold(), gc.get_freeze_count())
    assert settle_after_start() is False
    assert (gc.get_threshold(), gc.get_freeze_count()) == before
