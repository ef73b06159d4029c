"""Scenario 4: the Codex worker behind CAIO against LiteLLM's proxy, same fake backend.

    direct    HTTP load -> fake OpenAI server                       (baseline)
    caio      NATS load -> CAIO router -> Codex worker (openai SDK) -> fake server
    litellm   HTTP load -> LiteLLM proxy (1 worker, 2 deployments, simple-shuffle)
                        -> fake server

"Added" latency is a path's p50 minus the direct p50. LiteLLM runs from its
own venv (``benchmarks.openai_side.litellm_proxy``; created on the first
run that needs it, a few minutes); ``--quick`` leaves it out unless asked.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from benchmarks.harness import Budget, Stage
from benchmarks.openai_side.litellm_proxy import LiteLLMProxy
from benchmarks.procs import ROOT, CpuTimes, RoleProcess

__all__ = ["run"]

PROMPT = "Write a Python function that adds two numbers."
ROUTE_BODY = json.dumps({"context": {"prompt": PROMPT, "language": "python"}})


def _http_load(budget: Budget, url: str, header: str, model: str, seq: int) -> dict[str, Any]:
    argv = [
        sys.executable,
        "-m",
        "benchmarks.openai_side.http_load",
        "--url",
        url,
        "--header",
        header,
        "--model",
        model,
        "--sequential",
        str(seq),
        "--inflight",
        "64",
        "--seconds",
        str(budget.seconds),
    ]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=False, timeout=600)
    if done.returncode != 0 or not done.stdout.strip():
        raise RuntimeError(f"http_load failed: {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    if result["sequential"]["errors"] or result["throughput"]["errors"]:
        raise RuntimeError(f"http_load saw errors against {url}: {done.stderr[-1000:]}")
    return {
        "p50_ms": result["sequential"]["p50_ms"],
        "p99_ms": result["sequential"]["p99_ms"],
        "rps": result["throughput"]["req_per_s"],
    }


def _litellm(budget: Budget, upstream: str, seq: int, direct_p50: float) -> dict[str, Any]:
    with LiteLLMProxy(upstream, deployments=2) as proxy:
        before = CpuTimes.start({"litellm": proxy.pid})
        measured = _http_load(budget, proxy.chat_url, proxy.auth_header, "bench-model", seq)
        cpu = before.since({"litellm": proxy.pid})["litellm"]
    return {
        **measured,
        "added_p50_ms": round(measured["p50_ms"] - direct_p50, 3),
        "processes": 1,
        "cpu_s": round(cpu, 2),
    }


def run(budget: Budget) -> dict[str, Any]:
    seq = 30 if budget.quick else 500
    with (
        Stage(budget) as stage,
        RoleProcess("benchmarks.openai_side.fake_openai", ["--port", "0"]) as fake,
    ):
        upstream = f"http://127.0.0.1:{fake.info['port']}/v1"
        direct = _http_load(
            budget,
            f"{upstream}/chat/completions",
            "Authorization: Bearer sk-bench-fake",
            "fake-ok",
            seq,
        )
        router = stage.role("router", "--contracts", "0")
        worker = stage.role(
            "codex", "--admin-key", router.info["admin_key"], "--openai-base-url", upstream
        )
        routed = stage.load(
            f"{stage.prefix}.route.code_generation",
            body=ROUTE_BODY,
            headers={"Authorization": f"Bearer {router.info['api_key']}"},
            expect="def f",
            sequential=seq,
            in_flight=(64,),
            watch={"router": router.pid, "worker": worker.pid},
        )
        caio = {
            "p50_ms": routed["sequential"]["p50_ms"],
            "p99_ms": routed["sequential"]["p99_ms"],
            "rps": routed["throughput"][0]["req_per_s"],
            "added_p50_ms": round(routed["sequential"]["p50_ms"] - direct["p50_ms"], 3),
            "processes": 2,
            "cpu_s": routed["cpu_s"],
        }
        result: dict[str, Any] = {"direct": direct, "caio": caio}
        if not budget.litellm:
            result["litellm"] = None
            result["litellm_skipped"] = "not run (--no-litellm; the default with --quick)"
        else:
            result["litellm"] = _litellm(budget, upstream, min(seq, 200), direct["p50_ms"])
    litellm = result["litellm"]
    if litellm is not None:
        result["ratios"] = {
            "rps_caio_vs_litellm": round(caio["rps"] / litellm["rps"], 1),
            "rps_per_process_caio_vs_litellm": round(
                caio["rps"] / caio["processes"] / litellm["rps"], 1
            ),
            "added_p50_caio_vs_litellm": round(
                max(caio["added_p50_ms"], 0.0) / litellm["added_p50_ms"], 4
            ),
        }
    return result
