"""What a scenario runs in: its own nats-server, the run's settings, its processes.

Each scenario gets a fresh nats-server (own port, own JetStream store), so
one scenario's streams and registry never slow the next. ``Budget`` holds
the sizes: the full run, or ``--quick`` (a smoke test: same code paths,
tiny counts, no conclusions).
"""

from __future__ import annotations

import contextlib
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.procs import RoleProcess, run_to_result
from caio_integration.natsserver import NatsServer, NatsServerConfig

__all__ = ["Budget", "Stage"]


@dataclass(frozen=True, slots=True)
class Budget:
    """How long and how big: the full run or the quick smoke run."""

    quick: bool
    rounds: int  # repeated, interleaved measurements; the median is reported
    sequential: int  # requests one at a time, for latency
    seconds: float  # per throughput point
    in_flight: tuple[int, ...]
    scale_sizes: tuple[int, ...]
    pool: int
    jobs: int
    litellm: bool = True  # scenario 4's LiteLLM side (needs its own venv)

    @classmethod
    def full(cls) -> Budget:
        return cls(False, 3, 2000, 5.0, (64, 256), (10, 1_000, 10_000), 100, 20_000)

    @classmethod
    def smoke(cls) -> Budget:
        return cls(True, 1, 50, 0.5, (64,), (10, 100), 100, 200, litellm=False)

    @property
    def warmup(self) -> int:
        return 20 if self.quick else 300


class Stage:
    """A nats-server plus the role processes of one scenario; stops them all."""

    def __init__(self, budget: Budget, loop: str = "uvloop") -> None:
        self.budget = budget
        self.loop = loop
        self._stack = contextlib.ExitStack()
        self.nats: NatsServer | None = None

    def __enter__(self) -> Stage:
        store = Path(self._stack.enter_context(tempfile.TemporaryDirectory(prefix="caio-bench-")))
        self.nats = self._stack.enter_context(NatsServer(NatsServerConfig(store_dir=store)))
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    prefix = "bench"

    @property
    def url(self) -> str:
        assert self.nats is not None
        return self.nats.url

    def common(self, loop: str | None = None) -> list[str]:
        return ["--nats-url", self.url, "--loop", loop or self.loop]

    def role(self, name: str, *args: str, loop: str | None = None) -> RoleProcess:
        """Start ``benchmarks.roles.<name>``; it stops with the stage."""
        process = RoleProcess(f"benchmarks.roles.{name}", [*self.common(loop), *args])
        return self._stack.enter_context(process)

    def load(
        self,
        subject: str,
        *,
        body: str,
        headers: dict[str, str] | None = None,
        expect: str = '"ok"',
        sequential: int | None = None,
        in_flight: tuple[int, ...] | None = None,
        watch: dict[str, int] | None = None,
    ) -> dict[str, Any]:
        """One load-generator run: sequential latency then throughput at each in-flight."""
        budget = self.budget
        args = [*self.common(), "--subject", subject, "--body", body, "--expect", expect]
        for key, value in (headers or {}).items():
            args += ["--header", f"{key}:{value}"]
        args += [
            "--warmup",
            str(budget.warmup),
            "--sequential",
            str(budget.sequential if sequential is None else sequential),
            "--in-flight",
            ",".join(str(n) for n in (in_flight or budget.in_flight)),
            "--seconds",
            str(budget.seconds),
        ]
        result = run_to_result("benchmarks.roles.load", args, watch=watch)
        if result["errors"]:
            raise RuntimeError(
                f"{subject}: {result['errors']} bad replies: {result['first_error']}"
            )
        return result
