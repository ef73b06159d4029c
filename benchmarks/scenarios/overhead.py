"""Scenario 1: what the router adds to one call, against a bare forwarder and no hop.

Three paths to the same echo service, measured in interleaved rounds (the
median is reported, so a noisy moment does not pick the winner):

    direct      load -> echo
    forwarder   load -> bare forwarder -> echo      (the floor for any router)
    audited     load -> audited forwarder -> echo   (the floor for any router that
                                                     stores an acked audit record
                                                     before replying, as the
                                                     protocol requires)
    caio        load -> CAIO router -> echo         (auth, matching, limits,
                                                     forwarding, audit ack)

Besides latency and throughput, the CPU the middle process spent per
request shows where a gap comes from. Variants: the same pair on the
stdlib event loop instead of uvloop (alternating rounds), and a FastStream
forwarder (one round).
"""

from __future__ import annotations

import statistics
from typing import Any

from benchmarks.fleet import CAPABILITY, pool_ids
from benchmarks.harness import Budget, Stage
from benchmarks.procs import RoleProcess

__all__ = ["run"]

ECHO_BODY = '{"context":{"prompt":"def add(a, b): return a + b","language":"python"}}'


def _completed(result: dict[str, Any], budget: Budget) -> int:
    sequential = int(result.get("sequential", {}).get("n", 0))
    return budget.warmup + sequential + sum(int(t["completed"]) for t in result["throughput"])


def _metrics(result: dict[str, Any], budget: Budget, middle: str | None) -> dict[str, float]:
    metrics: dict[str, float] = {}
    if "sequential" in result:
        metrics["p50_ms"] = result["sequential"]["p50_ms"]
        metrics["p99_ms"] = result["sequential"]["p99_ms"]
    for point in result["throughput"]:
        metrics[f"rps_{point['in_flight']}"] = point["req_per_s"]
    if middle is not None:
        cpu_s = result["cpu_s"][middle]
        metrics["cpu_us_per_request"] = round(cpu_s / _completed(result, budget) * 1e6, 1)
    return metrics


def _median(rounds: list[dict[str, float]]) -> dict[str, float]:
    return {key: round(statistics.median(r[key] for r in rounds), 4) for key in rounds[0]}


def _paths(
    stage: Stage, forwarder: RoleProcess, audited: RoleProcess | None, router: RoleProcess
) -> dict[str, Any]:
    """(subject, body, headers, middle process) for each path."""
    auth = {"Authorization": f"Bearer {router.info['api_key']}"}
    paths = {
        "direct": (f"{stage.prefix}.echo", ECHO_BODY, None, None),
        "forwarder": (f"{stage.prefix}.fwd", ECHO_BODY, None, forwarder),
        "caio": (f"{stage.prefix}.route.{CAPABILITY}", ECHO_BODY, auth, router),
    }
    if audited is not None:
        paths["audited"] = (f"{stage.prefix}.afwd", ECHO_BODY, None, audited)
    return paths


def _measure(stage: Stage, paths: dict[str, Any], names: list[str]) -> dict[str, dict[str, float]]:
    results = {}
    for name in names:
        subject, body, headers, middle = paths[name]
        watch = {"middle": middle.pid} if middle is not None else None
        # direct and forwarder echo the body; a routed reply says "status": "ok"
        expect = '"ok"' if name == "caio" else "def add"
        raw = stage.load(subject, body=body, headers=headers, expect=expect, watch=watch)
        results[name] = _metrics(raw, stage.budget, "middle" if middle is not None else None)
    return results


def _one_stage(budget: Budget, loop: str, rounds: int, names: list[str]) -> list[dict[str, Any]]:
    with Stage(budget, loop=loop) as stage:
        stage.role("echo", "--services", ",".join(pool_ids(1, 1)))
        forwarder = stage.role("forwarder")
        audited = stage.role("forwarder", "--audited") if "audited" in names else None
        router = stage.role("router", "--contracts", "1", "--pool", "1")
        paths = _paths(stage, forwarder, audited, router)
        return [_measure(stage, paths, names) for _ in range(rounds)]


def _ratios(cases: dict[str, dict[str, float]], budget: Budget) -> dict[str, float]:
    caio = cases["caio"]
    ratios = {}
    floors = [("forwarder", "forwarder"), ("audited", "audited")]
    for name, suffix in floors:
        if name not in cases:
            continue
        floor = cases[name]
        ratios[f"p50_vs_{suffix}"] = round(caio["p50_ms"] / floor["p50_ms"], 3)
        ratios[f"p99_vs_{suffix}"] = round(caio["p99_ms"] / floor["p99_ms"], 3)
        cpu = caio["cpu_us_per_request"] / floor["cpu_us_per_request"]
        ratios[f"cpu_vs_{suffix}"] = round(cpu, 3)
        for n in budget.in_flight:
            ratios[f"rps_{n}_vs_{suffix}"] = round(caio[f"rps_{n}"] / floor[f"rps_{n}"], 3)
    if "audited" in cases:
        # The protocol's own floor against the bare one: what storing the record costs.
        audited, bare = cases["audited"], cases["forwarder"]
        ratios["audited_p50_vs_forwarder"] = round(audited["p50_ms"] / bare["p50_ms"], 3)
        for n in budget.in_flight:
            ratio = audited[f"rps_{n}"] / bare[f"rps_{n}"]
            ratios[f"audited_rps_{n}_vs_forwarder"] = round(ratio, 3)
    return ratios


def run(budget: Budget) -> dict[str, Any]:
    names = ["direct", "forwarder", "audited", "caio"]
    rounds, stdlib_rounds = [], []
    for _ in range(budget.rounds):
        # Fresh processes each round, the two event loops alternating: neither
        # one lucky process nor one noisy minute decides a ratio.
        rounds += _one_stage(budget, "uvloop", 1, names)
        stdlib_rounds += _one_stage(budget, "asyncio", 1, ["forwarder", "caio"])
    cases = {name: _median([r[name] for r in rounds]) for name in names}
    stdlib = {name: _median([r[name] for r in stdlib_rounds]) for name in ("forwarder", "caio")}
    return {
        "cases": cases,
        "ratios": _ratios(cases, budget),
        "rounds": rounds,
        "variants": {
            "asyncio_loop": {**stdlib, "ratios": _ratios(stdlib, budget)},
            "faststream_forwarder": _faststream(budget),
        },
    }


def _faststream(budget: Budget) -> dict[str, float]:
    """The bare forwarder written as a FastStream subscriber (logging off)."""
    with Stage(budget) as stage:
        stage.role("echo")
        stage.role("faststream_forwarder")
        forwarder = stage.role("forwarder")
        measured = {}
        for name, subject in (("faststream", "ffwd"), ("raw_nats_py", "fwd")):
            middle = forwarder.pid if name == "raw_nats_py" else None
            raw = stage.load(
                f"{stage.prefix}.{subject}",
                body=ECHO_BODY,
                expect="def add",
                watch={"middle": middle} if middle else None,
            )
            measured[name] = _metrics(raw, budget, None)
        return {
            **{f"{k}_{m}": v for k, ms in measured.items() for m, v in ms.items()},
            "rps_64_faststream_vs_raw": round(
                measured["faststream"]["rps_64"] / measured["raw_nats_py"]["rps_64"], 3
            ),
        }
