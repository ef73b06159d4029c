"""The Grafana dashboard in deploy/ queries only series a router exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

from caio_broker.metrics import RouterMetrics

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "caio-routers.json"


def exported_series() -> set[str]:
    metrics = RouterMetrics()
    metrics.watch_circuits(lambda: ["a-service"])
    return {sample.name for family in metrics.registry.collect() for sample in family.samples} | {
        family.name for family in metrics.registry.collect()
    }


def test_every_series_the_dashboard_queries_is_one_a_router_exports() -> None:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    queried = {
        name
        for panel in panels
        for target in panel["targets"]
        for name in re.findall(r"\bcaio_[a-z_]+", target["expr"])
    }
    exported = exported_series()
    # A histogram's _bucket/_count/_sum and a counter's _total belong to its family.
    missing = sorted(
        name for name in queried if name not in exported and name.rsplit("_", 1)[0] not in exported
    )

    assert len(queried) >= 8
    assert missing == []
