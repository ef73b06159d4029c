"""PNG plots for docs/benchmarks.md (matplotlib, no display needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display on a CI runner
import matplotlib.pyplot as plt

from benchmarks.gateways.report import draw as _gateways

__all__ = ["draw"]

COLORS = {
    "direct": "#9aa5b1",
    "forwarder": "#52606d",
    "audited": "#7b8794",
    "caio": "#2680c2",
    "litellm": "#d64545",
}


def _overhead(data: dict[str, Any], path: Path) -> None:
    cases = data["cases"]
    names = list(cases)
    points = [k for k in cases["caio"] if k.startswith("rps_")]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    width = 0.8 / len(names)
    for i, name in enumerate(names):
        xs = [j + i * width for j in range(len(points))]
        left.bar(xs, [cases[name][p] for p in points], width, label=name, color=COLORS[name])
    left.set_xticks([j + width for j in range(len(points))], [f"{p[4:]} in flight" for p in points])
    left.set_ylabel("requests per second")
    left.set_title("Throughput")
    left.legend()
    for i, name in enumerate(names):
        c = cases[name]
        right.bar([i - 0.2], [c["p50_ms"]], 0.4, color=COLORS[name])
        right.bar([i + 0.2], [c["p99_ms"]], 0.4, color=COLORS[name], alpha=0.5)
    right.set_xticks(range(len(names)), names)
    right.set_ylabel("ms (solid p50, light p99)")
    right.set_title("Sequential latency")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _scale(data: dict[str, Any], path: Path) -> None:
    sizes = data["sizes"]
    xs = [s["contracts"] for s in sizes]
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    series = (
        ("decision_us_p50", "decision time p50 (µs)"),
        ("rps_64", "routed req/s at 64 in flight"),
        ("rss_mib_loaded", "router RSS (MiB)"),
    )
    for axis, (key, label) in zip(axes, series, strict=True):
        axis.plot(xs, [s[key] for s in sizes], marker="o", color=COLORS["caio"])
        axis.set_xscale("log")
        axis.set_xlabel("registered contracts")
        axis.set_title(label)
        axis.set_ylim(bottom=0)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _openai(data: dict[str, Any], path: Path) -> None:
    names = [n for n in ("direct", "caio", "litellm") if data.get(n)]
    labels = {"direct": "fake server direct", "caio": "CAIO", "litellm": "LiteLLM proxy"}
    colors = [COLORS["direct"], COLORS["caio"], COLORS["litellm"]][: len(names)]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.bar([labels[n] for n in names], [data[n]["rps"] for n in names], color=colors)
    left.set_yscale("log")
    left.set_title("Throughput (req/s, log scale)")
    added = [n for n in names if n != "direct"]
    right.bar(
        [labels[n] for n in added],
        [data[n]["added_p50_ms"] for n in added],
        color=colors[1 : 1 + len(added)],
    )
    right.set_title("Added p50 latency over direct (ms)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def draw(results: dict[str, Any], folder: Path) -> dict[str, str]:
    """Draw what the results hold; returns scenario -> file name."""
    folder.mkdir(parents=True, exist_ok=True)
    drawn = {}
    for key, render, name in (
        ("overhead", _overhead, "bench-overhead.png"),
        ("scale", _scale, "bench-scale.png"),
        ("openai", _openai, "bench-openai.png"),
        ("gateways", _gateways, "bench-gateways.png"),
    ):
        if key in results:
            render(results[key], folder / name)
            drawn[key] = name
    return drawn
