"""The gateways comparison in docs/benchmarks.md: its tables (``render``) and plot (``draw``).

matplotlib is imported only when a plot is drawn, as in ``benchmarks.plots``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["draw", "render"]

ORDER = ("direct", "caio", "litellm", "portkey", "tensorzero")
NAMES = {"litellm": "LiteLLM", "portkey": "Portkey", "tensorzero": "TensorZero"}
LABELS = {"direct": "direct", "caio": "CAIO", **NAMES}
COLORS = {
    "direct": "#9aa5b1",
    "caio": "#2680c2",
    "litellm": "#d64545",
    "portkey": "#8e6bbf",
    "tensorzero": "#e8a33d",
}


def _main_table(peers: dict[str, Any], table: Any) -> list[str]:
    header = [
        "path",
        "processes",
        "p50 ms",
        "p99 ms",
        "added p50 ms",
        "req/s @64",
        "req/s per process",
        "CPU µs/req",
        "TTFT p50 ms",
        "added TTFT ms",
    ]
    rows = []
    for name in ORDER:
        p = peers.get(name)
        if p is None:
            continue
        rows.append(
            [
                p["label"],
                p["processes"] or "-",
                p["p50_ms"],
                p["p99_ms"],
                p.get("added_p50_ms", "-"),
                p["rps"],
                p.get("rps_per_process", "-"),
                p.get("cpu_us_per_request", "-"),
                p["ttft_p50_ms"],
                p.get("added_ttft_p50_ms", "-"),
            ]
        )
    lines: list[str] = table(header, rows)
    return lines


def _ratio_table(ratios: dict[str, float], table: Any) -> list[str]:
    others = [o for o in NAMES if any(k.endswith(f"_vs_{o}") for k in ratios)]
    if not others:
        return []
    what = (
        ("added_p50", "added p50 latency (lower is better)"),
        ("rps", "throughput"),
        ("rps_per_process", "throughput per process"),
        ("cpu_per_request", "CPU per request (lower is better)"),
        ("added_ttft", "added time to first token (lower is better)"),
    )
    rows = [
        [label, *[ratios.get(f"{key}_caio_vs_{o}", "-") for o in others]] for key, label in what
    ]
    lines: list[str] = table(["CAIO vs", *[NAMES[o] for o in others]], rows)
    return lines


def _without_gateway(caio: dict[str, Any], route: dict[str, Any] | None, table: Any) -> list[str]:
    if route is None:
        return []
    gateway_cpu = caio["cpu_us_by_process"].get("gateway", 0.0)
    rows = [
        [
            "HTTP client -> CAIO gateway -> router -> bridge -> fake",
            caio["p50_ms"],
            caio["p99_ms"],
            caio["rps"],
            caio["cpu_us_per_request"],
        ],
        [
            "NATS client -> router -> bridge -> fake (no gateway; once)",
            route["p50_ms"],
            route["p99_ms"],
            route["rps"],
            route["cpu_us_per_request"],
        ],
    ]
    header = ["CAIO path", "p50 ms", "p99 ms", "req/s @64", "CPU µs/req (CAIO processes)"]
    lines: list[str] = table(header, rows)
    gap = round(caio["p50_ms"] - route["p50_ms"], 3)
    from benchmarks.report import _fmt

    return [
        *lines,
        f"The HTTP gateway's share: about {_fmt(gap)} ms of p50 and {_fmt(gateway_cpu)} µs "
        "of CPU per request (its own process).",
        "",
    ]


def _floor(caio: dict[str, Any], floor: dict[str, Any] | None, table: Any) -> list[str]:
    """CAIO's path against the same three hops doing nothing (benchmarks/gateways/floor.py)."""
    if floor is None:
        return []
    from benchmarks.report import _fmt

    header = ["path (3 processes)", "p50 ms", "added p50 ms", "req/s @64", "CPU µs/req"]
    rows = [
        [
            "CAIO: gateway, router, HTTP bridge",
            caio["p50_ms"],
            caio["added_p50_ms"],
            caio["rps"],
            caio["cpu_us_per_request"],
        ],
        [
            "floor: HTTP-to-NATS hop, audited forwarder, NATS-to-HTTP hop (once)",
            floor["p50_ms"],
            floor["added_p50_ms"],
            floor["rps"],
            floor["cpu_us_per_request"],
        ],
    ]
    by_process = ", ".join(f"{n} {_fmt(v)}" for n, v in floor["cpu_us_by_process"].items())
    return [
        "The same three hops doing nothing but what any such path must do (pass the body"
        " on, store an acked audit record before answering, call the upstream), with no"
        " keys, contract, schemas or decision:",
        "",
        *table(header, rows),
        f"The floor's CPU per request by process (µs): {by_process}.",
        "",
    ]


def render(data: dict[str, Any]) -> list[str]:
    from benchmarks.report import _fmt, _table  # here: benchmarks.report imports this module

    peers = data["peers"]
    config = data["config"]
    lines = _main_table(peers, _table)
    lines += _ratio_table(data.get("ratios", {}), _table)
    caio = peers.get("caio")
    if caio is not None:
        by_process = caio["cpu_us_by_process"]
        rows = [[name, value] for name, value in by_process.items()]
        rows.append(["sum (the CPU µs/req above)", caio["cpu_us_per_request"]])
        for name, value in caio.get("context_cpu_us", {}).items():
            rows.append([f"{name} (not in the sum)", value])
        lines += ["CAIO's CPU per request, by process:", ""]
        lines += _table(["process", "CPU µs/req"], rows)
        lines += _without_gateway(caio, data.get("caio_without_gateway"), _table)
        lines += _floor(caio, data.get("floor"), _table)
    versions = [f"{p['label']}: {p['version']}" for n, p in peers.items() if n != "direct"]
    lines += [
        f"Versions: {'; '.join(versions)}.",
        "",
        f"Each figure is the median of {config['rounds']} interleaved round(s). Latency: "
        f"{config['sequential']} sequential requests; throughput: {config['inflight']} in flight "
        f"for {config['seconds']:g} s; TTFT: {config['stream']} sequential streams of "
        f"{config['stream_chunks']} content chunks, {config['chunk_interval_ms']:g} ms apart "
        "at the upstream.",
        "",
    ]
    client = {n: p["client_cpu_us_per_request"] for n, p in peers.items()}
    lines += [
        "The load client spent "
        + ", ".join(f"{_fmt(v)} µs ({n})" for n, v in client.items())
        + " of its own CPU per request.",
        "",
    ]
    for name, why in data.get("skipped", {}).items():
        first = why.strip().splitlines()[0] if why.strip() else "no reason given"
        lines += [f"Not measured: **{name}**: {first[:300]}", ""]
    return lines


def draw(data: dict[str, Any], path: Path) -> None:
    """Four panels: added p50, throughput, gateway CPU per request, added TTFT."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on a CI runner
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    peers = data["peers"]
    names = [n for n in ORDER if n in peers]
    gateways = [n for n in names if n != "direct"]
    panels = (
        ("added_p50_ms", gateways, "Added p50 latency over direct (ms)"),
        ("rps", names, "Throughput at 64 in flight (req/s)"),
        ("cpu_us_per_request", gateways, "Gateway CPU per request (µs, all its processes)"),
        ("added_ttft_p50_ms", gateways, "Added time to first token, p50 (ms)"),
    )
    fig, axes = plt.subplots(2, 2, figsize=(11, 7))
    for axis, (key, shown, title) in zip(axes.flat, panels, strict=True):
        values = [max(float(peers[n].get(key, 0.0)), 0.0) for n in shown]
        bars = axis.bar([LABELS[n] for n in shown], values, color=[COLORS[n] for n in shown])
        axis.bar_label(bars, labels=[_short(v) for v in values], fontsize=8)
        positive = [v for v in values if v > 0]
        if positive and min(positive) * 20 < max(positive):
            axis.set_yscale("log")  # LiteLLM is often 10-100x the others
            axis.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
            axis.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            axis.yaxis.set_minor_formatter(NullFormatter())
            title += ", log scale"
        axis.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _short(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"
