"""The router's in-memory view of the registry, indexed by capability.

The KV bucket is the truth; every router keeps this view of it, fed by a KV
watch (and written through on its own registrations, so a caller that
registers and then routes through the same router sees its service at once).
Changes apply in KV revision order and a stale change is ignored, so the
watch and the write-through can arrive in any order.

Matching reads ``ranked(capability)``: the services offering a capability,
pre-sorted by their contract score and cached until the next change, so a
decision costs the number of services for that capability, not the size of
the registry.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from jsonschema.protocols import Validator

from caio_broker.revisions import RevisionClock
from caio_broker.scoring import contract_score
from caio_integration.contracts import ServiceContract, compile_output_schemas

__all__ = ["Catalog", "CatalogEntry", "Ranked"]


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    contract: ServiceContract
    revision: int
    capabilities: frozenset[str]
    # Every routed reply carries the chosen contract's guarantees: dumped once here.
    guarantees_json: dict[str, Any]
    # Capability -> its output schema, compiled once: every result is checked against it.
    output_checks: Mapping[str, Validator]


@dataclass(frozen=True, slots=True)
class Ranked:
    """One service offering a capability, with its contract score."""

    score: float
    service_id: str
    entry: CatalogEntry


def _rank_key(item: Ranked) -> tuple[float, str]:
    # Best score first; the service id breaks ties so the order is total.
    return (-item.score, item.service_id)


class Catalog:
    __slots__ = ("_by_capability", "_clock", "_deleted_at", "_entries", "_ranked")

    def __init__(self) -> None:
        self._entries: dict[str, CatalogEntry] = {}
        self._by_capability: dict[str, set[str]] = {}
        self._ranked: dict[str, list[Ranked]] = {}
        self._deleted_at: dict[str, int] = {}
        self._clock = RevisionClock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, service_id: str) -> CatalogEntry | None:
        return self._entries.get(service_id)

    def entries(self) -> Iterable[CatalogEntry]:
        return self._entries.values()

    def ids_for(self, capability: str) -> set[str]:
        return self._by_capability.get(capability, set())

    def put(self, contract: ServiceContract, revision: int) -> bool:
        """Apply a stored contract; False if a newer change was already applied."""
        service_id = contract.id
        if not self._is_newer(service_id, revision):
            return False
        old = self._entries.get(service_id)
        if old is not None:
            self._unindex(old)
        entry = CatalogEntry(
            contract,
            revision,
            frozenset(contract.capability_names),
            contract.guarantees.model_dump(mode="json", exclude_none=True),
            compile_output_schemas(contract),
        )
        self._entries[service_id] = entry
        self._deleted_at.pop(service_id, None)
        for capability in entry.capabilities:
            self._by_capability.setdefault(capability, set()).add(service_id)
            self._ranked.pop(capability, None)
        self._clock.advance(revision)
        return True

    def delete(self, service_id: str, revision: int) -> bool:
        if not self._is_newer(service_id, revision):
            return False
        old = self._entries.pop(service_id, None)
        if old is not None:
            self._unindex(old)
        self._deleted_at[service_id] = revision
        self._clock.advance(revision)
        return True

    @property
    def revision(self) -> int:
        """Highest KV revision applied: the decision's ``registry_revision``."""
        return self._clock.revision

    async def wait_for_revision(self, revision: int, timeout_s: float) -> bool:
        """Wait until changes up to ``revision`` are applied; False on timeout."""
        return await self._clock.wait_for(revision, timeout_s)

    def ranked(self, capability: str) -> Sequence[Ranked]:
        """Services offering ``capability``, best contract score first (cached)."""
        ranked = self._ranked.get(capability)
        if ranked is None:
            ranked = sorted(
                (
                    Ranked(contract_score(entry.contract, capability), sid, entry)
                    for sid in self._by_capability.get(capability, ())
                    for entry in (self._entries[sid],)
                ),
                key=_rank_key,
            )
            self._ranked[capability] = ranked
        return ranked

    def _is_newer(self, service_id: str, revision: int) -> bool:
        current = self._entries.get(service_id)
        seen = current.revision if current is not None else self._deleted_at.get(service_id, 0)
        return revision > seen

    def _unindex(self, entry: CatalogEntry) -> None:
        for capability in entry.capabilities:
            ids = self._by_capability.get(capability)
            if ids is not None:
                ids.discard(entry.contract.id)
                if not ids:
                    del self._by_capability[capability]
            self._ranked.pop(capability, None)
