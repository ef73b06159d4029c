"""A py-spy flame graph of the router under the overhead load (64 in flight).

    pip install py-spy
    python -m benchmarks.flame [--out docs/img/router-flame.svg] [--seconds 8]

The router runs as in the benchmark (auth on, audit acked before each
reply) with nothing attached to it; py-spy samples it from outside, native
frames included, while the load runs. Unlike the ``profile`` scenario's
cProfile, sampling does not slow Python code more than C code, so the
widths are the shares of the router's time as it runs. The SVG opens in a
browser (hover for names, click to zoom).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import threading
from pathlib import Path

from benchmarks.fleet import CAPABILITY, pool_ids
from benchmarks.harness import Budget, Stage
from benchmarks.procs import ROOT
from benchmarks.scenarios.overhead import ECHO_BODY

__all__ = ["main"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.flame", description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img" / "router-flame.svg")
    parser.add_argument("--seconds", type=float, default=8.0, help="how long py-spy samples")
    parser.add_argument(
        "--format", default="flamegraph", help="py-spy's output format (raw: collapsed stacks)"
    )
    args = parser.parse_args(argv)
    py_spy = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
    if py_spy is None:
        sys.exit("py-spy is not installed: pip install py-spy")
    # The load runs longer than the sampling, so every sample sees a busy router.
    budget = Budget(True, 1, 0, args.seconds + 4, (64,), (10,), 100, 200, litellm=False)
    with Stage(budget) as stage:
        stage.role("echo", "--services", ",".join(pool_ids(1, 1)))
        router = stage.role("router", "--contracts", "1", "--pool", "1")
        record = [py_spy, "record", "--pid", str(router.pid), "--duration", str(int(args.seconds))]
        record += ["--rate", "250", "--format", args.format, "--output", str(args.out)]
        args.out.parent.mkdir(parents=True, exist_ok=True)
        sampler = threading.Thread(target=subprocess.run, args=(record,), kwargs={"check": True})
        sampler.start()
        stage.load(
            f"{stage.prefix}.route.{CAPABILITY}",
            body=ECHO_BODY,
            headers={"Authorization": f"Bearer {router.info['api_key']}"},
            sequential=0,
            in_flight=(64,),
        )
        sampler.join()
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
