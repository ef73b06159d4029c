"""The benchmark command runs every scenario end to end (``--quick``: a smoke test).

No thresholds here: speed is judged by the full run's ratios in
docs/benchmarks.md, never by a timed assertion in the suite.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.report import END, START, write_report

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(600)
def test_the_quick_run_measures_every_scenario_and_writes_json_markdown_and_plots(
    tmp_path: Path,
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )

    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((tmp_path / "benchmarks.json").read_text())
    assert results["meta"]["quick"] is True
    assert results["overhead"]["ratios"]["rps_64_vs_forwarder"] > 0
    assert results["scale"]["ratios"]["decision_largest_vs_smallest"] > 0
    assert results["jobs"]["jobs"]["ok"] == results["jobs"]["jobs"]["jobs"]
    assert results["openai"]["caio"]["rps"] > 0
    assert [p["routers"] for p in results["routers"]["points"].values()] == [1, 2, 4]
    assert all(p["req_per_s"] > 0 for p in results["routers"]["points"].values())
    assert results["gateways"]["peers"]["caio"]["rps"] > 0
    report = (tmp_path / "benchmarks.md").read_text()
    assert START in report
    assert END in report
    assert "### Targets" in report
    for name in ("bench-overhead.png", "bench-scale.png", "bench-openai.png"):
        assert (tmp_path / "img" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_rerun_replaces_only_the_generated_section(tmp_path: Path) -> None:
    results = json.loads((ROOT / "docs" / "benchmarks.json").read_text())
    page = tmp_path / "benchmarks.md"
    page.write_text(
        f"# Benchmarks\n\nProse before.\n\n{START}\nold numbers\n{END}\n\nProse after.\n"
    )

    write_report(results, tmp_path)
    once = page.read_text()
    write_report(results, tmp_path)

    assert page.read_text() == once
    assert once.startswith("# Benchmarks\n\nProse before.\n\n")
    assert once.endswith(f"{END}\n\nProse after.\n")
    assert "old numbers" not in once
