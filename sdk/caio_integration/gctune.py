"""The garbage collector in CAIO's long-running processes (router, gateway, workers, bridges).

A router holds a few hundred thousand long-lived objects once started
(modules, pydantic schemas, contracts, connections), and CPython's
collector walks all of them at every full collection. Per request it
allocates only short-lived, almost always acyclic objects, which
reference counting frees on its own. So under load the collector took
about 15% of the router's CPU (docs/benchmarks.md, "Garbage collection")
while finding next to nothing to collect.

``settle_after_start`` is called once a process has started: what start-up
built is moved out of the collector's sight (``gc.freeze``), and young
objects are collected after 20,000 allocations instead of 700, so cycles
are still collected, in fewer, larger batches. Set ``CAIO_GC_TUNING=off``
to keep Python's defaults.
"""

from __future__ import annotations

import gc
import os

__all__ = ["GEN0_THRESHOLD", "settle_after_start"]

GEN0_THRESHOLD = 20_000


def settle_after_start() -> bool:
    """Freeze what start-up built and collect young objects less often; False when off."""
    if os.environ.get("CAIO_GC_TUNING", "").lower() in {"off", "0", "false", "no"}:
        return False
    gc.collect()
    gc.freeze()
    gen0, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(max(gen0, GEN0_THRESHOLD), gen1, gen2)
    return True
