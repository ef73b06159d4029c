"""Circuit breakers, one per service, kept by each router for itself.

After ``threshold`` consecutive failed attempts a service's circuit opens:
matching leaves it out for ``cooldown_s``. Then it is half-open: one request
may probe it; success closes the circuit, failure opens it again. State is
per router on purpose: it reacts to what this router sees within one
request, needs no round trip, and a service that fails for one router fails
for the others soon enough (docs/protocol.md, "Resilience").
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

__all__ = ["BreakerSettings", "Breakers"]

State = Literal["closed", "open", "half_open"]


@dataclass(frozen=True, slots=True)
class BreakerSettings:
    threshold: int = 5
    cooldown_s: float = 10.0


@dataclass(slots=True)
class _Circuit:
    failures: int = 0
    opened_at: float | None = None
    probing: bool = False


class Breakers:
    __slots__ = ("_circuits", "_clock", "settings")

    def __init__(
        self, settings: BreakerSettings, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.settings = settings
        self._clock = clock
        self._circuits: dict[str, _Circuit] = {}

    def state(self, service_id: str) -> State:
        circuit = self._circuits.get(service_id)
        if circuit is None or circuit.opened_at is None:
            return "closed"
        if self._clock() - circuit.opened_at < self.settings.cooldown_s:
            return "open"
        return "half_open"

    def open_services(self) -> list[str]:
        """The services whose circuit is open now (for ``caio_circuit_open``)."""
        return [sid for sid in list(self._circuits) if self.state(sid) == "open"]

    def allows(self, service_id: str) -> bool:
        """May a request go to this service now? Claims the probe when half-open."""
        state = self.state(service_id)
        if state == "closed":
            return True
        if state == "open":
            return False
        circuit = self._circuits[service_id]
        if circuit.probing:
            return False
        circuit.probing = True
        return True

    def released(self, service_id: str) -> None:
        """The claimed call did not happen (e.g. a limit): the probe is free again."""
        circuit = self._circuits.get(service_id)
        if circuit is not None:
            circuit.probing = False

    def succeeded(self, service_id: str) -> None:
        self._circuits.pop(service_id, None)

    def failed(self, service_id: str) -> None:
        circuit = self._circuits.setdefault(service_id, _Circuit())
        circuit.probing = False
        if circuit.opened_at is not None:  # a failed probe: open again
            circuit.opened_at = self._clock()
            return
        circuit.failures += 1
        if circuit.failures >= self.settings.threshold:
            circuit.opened_at = self._clock()
