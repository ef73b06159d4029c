"""Which services satisfy a request, best first, and why the others don't.

Matching is pure: the same request, registry revision and liveness give the
same ``Decision``. The pool is the services offering the requested
capability (from the catalog's index, already ranked by contract score);
each is checked against the request in a fixed order, and the first failed
check is its exclusion: a stable code (``caio_integration.wire.ExclusionCode``,
in parentheses below) that programs decide by, and a sentence for people:

    1. excluded by the request's ``exclude_service_ids`` (excluded_by_request), not
       among its ``service_ids`` (not_requested), outside the caller key's
       services (not_permitted)
    2. lacks a required extra capability (capability_missing)
    3. p95 latency bound missing or above ``max_p95_latency_ms`` (guarantee_unmet)
    4. accuracy missing or below ``min_accuracy``, for every required capability
       (guarantee_unmet)
    5. cost per token unknown or above ``max_cost_per_token`` (cost)
    6. data locality unknown or not in ``data_locality`` (privacy)
    7. not HIPAA compliant when ``hipaa_compliant`` is asked for (privacy)
    8. context length unknown or below ``min_context_tokens`` (context_too_small)
    9. no live worker (unavailable), this router's circuit for it open
       (circuit_open), or, on a route asking for a p95, an observed p95 above
       what was asked (observed_p95)

Services breaking their own contract's p95 as observed are ranked after the
others. A route asks for its best few candidates (``limit``): the scan stops
there, so its cost does not grow with the registry.

A missing promise never satisfies a bound: a request is only ever sent to a
service whose contract says it meets every constraint the caller gave.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from caio_broker.catalog import Catalog, CatalogEntry, Ranked
from caio_broker.scoring import contract_score, promised_accuracy
from caio_integration.wire import ExclusionCode, RouteConstraints, RouteGuarantees

__all__ = ["Candidate", "Decision", "Exclusion", "MatchQuery", "match"]


@dataclass(frozen=True, slots=True)
class Exclusion:
    """Why a service was left out: a stable code to decide by, a sentence to read."""

    code: ExclusionCode
    text: str


@dataclass(frozen=True, slots=True)
class MatchQuery:
    """What a route or discover request asks for."""

    capability: str | None
    requirements: tuple[str, ...] = ()
    guarantees: RouteGuarantees = field(default_factory=RouteGuarantees)
    constraints: RouteConstraints = field(default_factory=RouteConstraints)
    permitted: Callable[[str], bool] | None = None  # the caller's key: which service ids

    @property
    def capabilities(self) -> tuple[str, ...]:
        head = (self.capability,) if self.capability is not None else ()
        return head + tuple(r for r in self.requirements if r != self.capability)


@dataclass(frozen=True, slots=True)
class Candidate:
    service_id: str
    score: float
    entry: CatalogEntry

    def to_json(self) -> dict[str, Any]:
        return {"service_id": self.service_id, "score": self.score}


@dataclass(frozen=True, slots=True)
class Decision:
    capability: str | None
    candidates: tuple[Candidate, ...]
    exclusions: dict[str, Exclusion]
    registry_revision: int
    pool: int = 0  # how many services offer the capability

    @property
    def best(self) -> Candidate | None:
        return self.candidates[0] if self.candidates else None

    @property
    def excluded(self) -> dict[str, str]:
        """Service id -> why it was left out, for people (the protocol's ``excluded``)."""
        return {sid: exclusion.text for sid, exclusion in self.exclusions.items()}

    @property
    def excluded_codes(self) -> dict[str, ExclusionCode]:
        """Service id -> the exclusion's stable code, for programs."""
        return {sid: exclusion.code for sid, exclusion in self.exclusions.items()}

    def to_json(self) -> dict[str, Any]:
        return {
            "candidates": [c.to_json() for c in self.candidates],
            "excluded": self.excluded,
            "excluded_codes": self.excluded_codes,
            "registry_revision": self.registry_revision,
            "pool": self.pool,
        }


def _pool(catalog: Catalog, query: MatchQuery) -> Sequence[Ranked]:
    if query.capability is not None:
        return catalog.ranked(query.capability)
    # discover without a capability: every service, ranked on service-level promises
    everything = (
        Ranked(contract_score(e.contract, None), e.contract.id, e) for e in catalog.entries()
    )
    return sorted(everything, key=lambda r: (-r.score, r.service_id))


def _exclusion(
    entry: CatalogEntry, query: MatchQuery, capabilities: tuple[str, ...]
) -> Exclusion | None:
    """The first check this service fails; None when it passes all."""
    contract = entry.contract
    guarantees, constraints = query.guarantees, query.constraints

    if constraints.exclude_service_ids and contract.id in constraints.exclude_service_ids:
        return Exclusion("excluded_by_request", "excluded by the request's exclude_service_ids")
    if constraints.service_ids is not None and contract.id not in constraints.service_ids:
        return Exclusion("not_requested", "not among the request's service_ids")
    if query.permitted is not None and not query.permitted(contract.id):
        return Exclusion("not_permitted", "not permitted for this caller's key")
    for cap in capabilities:
        if cap not in entry.capabilities:
            return Exclusion("capability_missing", f"lacks required capability {cap}")

    if guarantees.max_p95_latency_ms is not None:
        p95 = contract.p95_latency_ms
        if p95 is None:
            return Exclusion("guarantee_unmet", "promises no p95 latency bound")
        if p95 > guarantees.max_p95_latency_ms:
            return Exclusion(
                "guarantee_unmet",
                f"p95 latency bound {p95:g} ms is above {guarantees.max_p95_latency_ms:g} ms",
            )
    if guarantees.min_accuracy is not None:
        wanted: tuple[str | None, ...] = capabilities or (None,)
        for asked in wanted:
            accuracy = promised_accuracy(contract, asked)
            subject = asked or "the service"
            if accuracy is None:
                return Exclusion("guarantee_unmet", f"promises no accuracy for {subject}")
            if accuracy < guarantees.min_accuracy:
                return Exclusion(
                    "guarantee_unmet",
                    f"accuracy {accuracy:g} for {subject} is below {guarantees.min_accuracy:g}",
                )

    if constraints.max_cost_per_token is not None:
        cost = contract.cost_per_token
        if cost is None:
            return Exclusion("cost", "cost per token is not stated")
        if cost > constraints.max_cost_per_token:
            return Exclusion(
                "cost", f"cost per token {cost:g} is above {constraints.max_cost_per_token:g}"
            )
    if constraints.data_locality is not None:
        locality = contract.privacy.data_locality
        if locality is None:
            return Exclusion("privacy", "data locality is not stated")
        if locality not in constraints.data_locality:
            return Exclusion(
                "privacy",
                f"data locality {locality} is not one of {', '.join(constraints.data_locality)}",
            )
    if constraints.hipaa_compliant and not contract.privacy.hipaa_compliant:
        return Exclusion("privacy", "is not HIPAA compliant")
    if constraints.min_context_tokens is not None:
        context = contract.context_tokens
        if context is None:
            return Exclusion("context_too_small", "context length is not stated")
        if context < constraints.min_context_tokens:
            return Exclusion(
                "context_too_small",
                f"context length {context} tokens is below {constraints.min_context_tokens}",
            )
    return None


def match(
    catalog: Catalog,
    query: MatchQuery,
    unavailable: Callable[[str], Exclusion | None],
    *,
    limit: int | None = None,
    lagging: Callable[[str], bool] | None = None,
) -> Decision:
    """Rank the services satisfying ``query``; explain every one left out.

    ``lagging`` services (not keeping their contract's p95 right now) go
    after the others, in rank order. With a ``limit`` the scan stops once
    that many good candidates are found: a route needs its best few
    fallbacks, not the whole pool, so a decision costs the same with 10 or
    10,000 services registered. ``excluded`` then explains the services
    looked at, and ``pool`` says how many offer the capability.
    """
    candidates: list[Candidate] = []
    behind: list[Candidate] = []
    exclusions: dict[str, Exclusion] = {}
    pool = _pool(catalog, query)
    capabilities = query.capabilities
    for ranked in pool:
        exclusion = _exclusion(ranked.entry, query, capabilities)
        if exclusion is None:
            exclusion = unavailable(ranked.service_id)
        if exclusion is not None:
            exclusions[ranked.service_id] = exclusion
            continue
        candidate = Candidate(ranked.service_id, ranked.score, ranked.entry)
        if lagging is not None and lagging(ranked.service_id):
            behind.append(candidate)
            continue
        candidates.append(candidate)
        if limit is not None and len(candidates) >= limit:
            break
    chosen = candidates + behind if behind else candidates
    if limit is not None:
        chosen = chosen[:limit]
    return Decision(query.capability, tuple(chosen), exclusions, catalog.revision, len(pool))
