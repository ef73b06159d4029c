"""Benchmark processes: each role runs in its own Python process.

A router, a bare forwarder, an echo service and the load generator compete
for the same two cores in every comparison, so each gets its own process
(and its own event loop), the way they would run in production. A role
prints one line ``READY {json}`` when it can take traffic; nothing is
guessed with a sleep. Stopping is SIGTERM, then SIGKILL.

``/proc`` gives each process's resident memory and CPU time, so a report
can say how much CPU a routed request costs next to a forwarded one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from caio_integration.processes import stop_process

__all__ = ["CpuTimes", "MachineLoad", "RoleProcess", "cpu_seconds", "rss_mib"]

_READY = "READY "
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
ROOT = Path(__file__).resolve().parent.parent


class RoleError(RuntimeError):
    """A role process died or never became ready."""


def rss_mib(pid: int) -> float:
    """Resident set size of ``pid`` in MiB (Linux ``/proc``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RoleError(f"no VmRSS for pid {pid}")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time used so far by ``pid``."""
    # The command name may contain spaces: fields start after the last ')'.
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


@dataclass(slots=True)
class CpuTimes:
    """CPU seconds used by a set of processes between two instants."""

    before: dict[str, float]

    @classmethod
    def start(cls, procs: dict[str, int]) -> CpuTimes:
        return cls({name: cpu_seconds(pid) for name, pid in procs.items()})

    def since(self, procs: dict[str, int]) -> dict[str, float]:
        return {name: cpu_seconds(pid) - self.before[name] for name, pid in procs.items()}


def _machine_jiffies() -> tuple[int, int]:
    """(busy, total) clock ticks of all CPUs since boot, from /proc/stat's first line."""
    fields = [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


class MachineLoad:
    """How busy the whole machine's CPUs were while a block ran, in windows of
    ``interval_s``: what bounds a scale-out figure on one machine is whether any
    core was left idle. ``busy`` is the share of all cores (1.0: every core busy)
    in each window."""

    def __init__(self, interval_s: float = 0.5) -> None:
        self.interval_s = interval_s
        self.busy: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        last = _machine_jiffies()
        while not self._stop.wait(self.interval_s):
            now = _machine_jiffies()
            total = now[1] - last[1]
            if total > 0:
                self.busy.append((now[0] - last[0]) / total)
            last = now

    def __enter__(self) -> MachineLoad:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def steady(self) -> float:
        """The busy share of the busier half of the windows (the throughput phase,
        not the load process's start-up and warm-up)."""
        if not self.busy:
            return 0.0
        busiest = sorted(self.busy, reverse=True)[: max(1, len(self.busy) // 2)]
        return sum(busiest) / len(busiest)


class RoleProcess:
    """``python -m benchmarks.<module> args...``, ready once it says so."""

    def __init__(
        self,
        module: str,
        args: list[str],
        *,
        env: dict[str, str] | None = None,
        ready_timeout_s: float = 60.0,
    ) -> None:
        self.name = module.rsplit(".", 1)[-1]
        self._argv = [sys.executable, "-m", module, *args]
        self._env = {**os.environ, "CAIO_LOG_LEVEL": "warning", **(env or {})}
        self._ready_timeout_s = ready_timeout_s
        self._process: subprocess.Popen[str] | None = None
        self._stderr: deque[str] = deque(maxlen=40)
        self.info: dict[str, Any] = {}

    @property
    def pid(self) -> int:
        if self._process is None:
            raise RoleError(f"{self.name} is not running")
        return self._process.pid

    def start(self) -> RoleProcess:
        self._process = process = subprocess.Popen(
            self._argv,
            cwd=ROOT,
            env=self._env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        threading.Thread(target=self._read_stderr, daemon=True).start()
        ready = threading.Event()
        threading.Thread(target=self._read_stdout, args=(ready,), daemon=True).start()
        if not ready.wait(self._ready_timeout_s) or process.poll() is not None:
            tail = "\n".join(self._stderr)
            self.stop()
            raise RoleError(f"{' '.join(self._argv[2:])} did not become ready:\n{tail}")
        return self

    def _read_stdout(self, ready: threading.Event) -> None:
        assert self._process is not None
        assert self._process.stdout is not None
        for line in self._process.stdout:
            if line.startswith(_READY) and not ready.is_set():
                self.info = json.loads(line[len(_READY) :])
                ready.set()
        ready.set()  # exited: the waiter sees it died

    def _read_stderr(self) -> None:
        assert self._process is not None
        assert self._process.stderr is not None
        for line in self._process.stderr:
            self._stderr.append(line.rstrip())

    def stop(self, timeout_s: float = 10.0) -> None:
        process, self._process = self._process, None
        stop_process(process, timeout_s)

    def __enter__(self) -> RoleProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def run_to_result(
    module: str, args: list[str], *, timeout_s: float = 600.0, watch: dict[str, int] | None = None
) -> dict[str, Any]:
    """Run a role to completion and return its ``RESULT {json}``.

    With ``watch``, the CPU seconds those processes used meanwhile are added
    under ``"cpu_s"``.
    """
    argv = [sys.executable, "-m", module, *args]
    env = {**os.environ, "CAIO_LOG_LEVEL": "warning"}
    cpu = CpuTimes.start(watch) if watch else None
    done = subprocess.run(
        argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout_s, check=False
    )
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            result: dict[str, Any] = json.loads(line[len("RESULT ") :])
            if cpu is not None and watch is not None:
                result["cpu_s"] = {k: round(v, 3) for k, v in cpu.since(watch).items()}
            return result
    raise RoleError(
        f"{' '.join(argv[2:])} gave no result (exit {done.returncode}):\n{done.stderr[-2000:]}"
    )
