"""Matching and ranking: tables of cases, then properties checked by Hypothesis.

The properties compare ``match`` with an oracle written independently and
plainly below (``satisfies``): whatever the registry and the request, every
accepted service satisfies every constraint, every rejected one fails one,
and the decision does not depend on the order contracts were registered in.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from caio_broker.catalog import Catalog
from caio_broker.matching import Exclusion, MatchQuery, match
from caio_broker.scoring import contract_score
from caio_integration.contracts import ServiceContract
from caio_integration.wire import RouteConstraints, RouteGuarantees


def make(
    service_id: str,
    capabilities: tuple[str, ...] = ("code_review",),
    *,
    p95: float | None = 1000,
    accuracy: float | None = 0.8,
    cap_accuracy: float | None = None,
    token_cost: float | None = 0.0001,
    free: bool = False,
    locality: str | None = "cloud",
    hipaa: bool = False,
    context: int | None = 8000,
) -> ServiceContract:
    service: dict[str, Any] = {
        "id": service_id,
        "name": service_id,
        "version": "1.0.0",
        "capabilities": [
            {"type": c, **({"accuracy": {"min": cap_accuracy}} if cap_accuracy is not None else {})}
            for c in capabilities
        ],
        "guarantees": {},
        "privacy": {"hipaa_compliant": hipaa},
    }
    if p95 is not None:
        service["guarantees"]["latency"] = {"property": "p95_latency_ms", "bound": {"max": p95}}
    if accuracy is not None:
        service["guarantees"]["accuracy"] = {"property": "accuracy", "bound": {"min": accuracy}}
    if free:
        service["cost"] = {"model": "free"}
    elif token_cost is not None:
        service["cost"] = {"model": "per_token", "token_cost": token_cost}
    if locality is not None:
        service["privacy"]["data_locality"] = locality
    if context is not None:
        service["constraints"] = {"context_length": {"max_tokens": context}}
    return ServiceContract.model_validate(service)


def catalog_of(*contracts: ServiceContract) -> Catalog:
    catalog = Catalog()
    for revision, contract in enumerate(contracts, start=1):
        catalog.put(contract, revision)
    return catalog


def query(capability: str = "code_review", **kwargs: Any) -> MatchQuery:
    guarantees = {k: kwargs.pop(k) for k in list(kwargs) if k in RouteGuarantees.model_fields}
    requirements = tuple(kwargs.pop("requirements", ()))
    return MatchQuery(
        capability, requirements, RouteGuarantees(**guarantees), RouteConstraints(**kwargs)
    )


def everyone(_: str) -> Exclusion | None:
    return None  # every service has a live worker


# -- tables -------------------------------------------------------------------

FILTER_CASES = [
    # (contract, request constraints, accepted?, words in the exclusion reason)
    (make("s", p95=500), {"max_p95_latency_ms": 1000}, True, ""),
    (make("s", p95=1500), {"max_p95_latency_ms": 1000}, False, "p95 latency"),
    (make("s", p95=None), {"max_p95_latency_ms": 1000}, False, "no p95"),
    (make("s", accuracy=0.9), {"min_accuracy": 0.85}, True, ""),
    (make("s", accuracy=0.8), {"min_accuracy": 0.85}, False, "below"),
    (make("s", accuracy=0.5, cap_accuracy=0.9), {"min_accuracy": 0.85}, True, ""),
    (make("s", accuracy=None), {"min_accuracy": 0.1}, False, "no accuracy"),
    (make("s", token_cost=0.001), {"max_cost_per_token": 0.001}, True, ""),
    (make("s", token_cost=0.002), {"max_cost_per_token": 0.001}, False, "cost per token"),
    (make("s", token_cost=None), {"max_cost_per_token": 1.0}, False, "not stated"),
    (make("s", free=True), {"max_cost_per_token": 0.0}, True, ""),
    (make("s", locality="on_prem"), {"data_locality": ["on_prem", "eu"]}, True, ""),
    (make("s", locality="cloud"), {"data_locality": ["on_prem"]}, False, "data locality cloud"),
    (make("s", locality=None), {"data_locality": ["on_prem"]}, False, "not stated"),
    (make("s", hipaa=True), {"hipaa_compliant": True}, True, ""),
    (make("s", hipaa=False), {"hipaa_compliant": True}, False, "HIPAA"),
    (make("s", hipaa=False), {"hipaa_compliant": False}, True, ""),
    (make("s", context=8000), {"min_context_tokens": 8000}, True, ""),
    (make("s", context=4096), {"min_context_tokens": 8000}, False, "context length"),
    (make("s", context=None), {"min_context_tokens": 1}, False, "not stated"),
    (make("s"), {"service_ids": ["s"]}, True, ""),
    (make("s"), {"service_ids": ["other"]}, False, "service_ids"),
    (make("s"), {"exclude_service_ids": ["s"]}, False, "exclude_service_ids"),
    (make("s", ("code_review",)), {"requirements": ["code_generation"]}, False, "lacks"),
    (
        make("s", ("code_review", "code_generation")),
        {"requirements": ["code_generation"]},
        True,
        "",
    ),
]


# What a program reads: the stable code of each kind of exclusion.
CODE_OF = {
    "max_p95_latency_ms": "guarantee_unmet",
    "min_accuracy": "guarantee_unmet",
    "max_cost_per_token": "cost",
    "data_locality": "privacy",
    "hipaa_compliant": "privacy",
    "min_context_tokens": "context_too_small",
    "service_ids": "not_requested",
    "exclude_service_ids": "excluded_by_request",
    "requirements": "capability_missing",
}


@pytest.mark.parametrize(("contract", "asked", "accepted", "reason"), FILTER_CASES)
def test_each_constraint_accepts_or_excludes_with_a_reason(
    contract: ServiceContract, asked: dict[str, Any], accepted: bool, reason: str
) -> None:
    decision = match(catalog_of(contract), query(**asked), everyone)

    assert [c.service_id for c in decision.candidates] == (["s"] if accepted else [])
    if not accepted:
        assert reason in decision.excluded["s"]
        assert decision.excluded_codes["s"] == CODE_OF[next(iter(asked))]


def test_an_unavailable_service_is_excluded_last() -> None:
    down = Exclusion("unavailable", "unavailable: no live worker")
    decision = match(catalog_of(make("s")), query(), lambda _: down)

    assert decision.excluded == {"s": "unavailable: no live worker"}
    assert decision.excluded_codes == {"s": "unavailable"}


RANKING_CASES = [
    # (contracts, expected order, why)
    ([make("a", accuracy=0.7), make("b", accuracy=0.9)], ["b", "a"], "higher accuracy first"),
    ([make("a", p95=5000), make("b", p95=100)], ["b", "a"], "lower latency first"),
    ([make("a", token_cost=0.01), make("b", free=True)], ["b", "a"], "cheaper first"),
    ([make("b"), make("a"), make("c")], ["a", "b", "c"], "ties broken by id"),
    ([make("a", accuracy=None, p95=None, token_cost=None), make("b")], ["b", "a"], "promises rank"),
]


@pytest.mark.parametrize(
    ("contracts", "order", "why"), RANKING_CASES, ids=[c[2] for c in RANKING_CASES]
)
def test_ranking_follows_the_documented_rule(
    contracts: list[ServiceContract], order: list[str], why: str
) -> None:
    decision = match(catalog_of(*contracts), query(), everyone)

    assert [c.service_id for c in decision.candidates] == order


def test_the_score_is_the_documented_formula() -> None:
    contract = make("s", accuracy=0.8, p95=1000, token_cost=0.001)

    assert contract_score(contract, "code_review") == round(0.5 * 0.8 + 0.3 * 0.5 + 0.2 * 0.5, 6)


def test_unrelated_contracts_are_never_looked_at() -> None:
    related = make("wanted")
    catalog = catalog_of(related, *(make(f"other-{i}", ("translation",)) for i in range(500)))

    decision = match(catalog, query(), everyone)

    assert [c.service_id for c in decision.candidates] == ["wanted"]
    assert decision.excluded == {}  # the 500 others were not even candidates to exclude


def test_a_replaced_contract_moves_between_capabilities() -> None:
    catalog = catalog_of(make("s", ("code_review",)))
    catalog.put(make("s", ("code_generation",)), 2)

    assert match(catalog, query("code_review"), everyone).candidates == ()
    assert [
        c.service_id for c in match(catalog, query("code_generation"), everyone).candidates
    ] == ["s"]


def test_a_stale_change_is_ignored() -> None:
    catalog = catalog_of(make("s", accuracy=0.9))
    catalog.delete("s", 5)

    assert not catalog.put(make("s", accuracy=0.1), 3)  # older than the delete
    assert catalog.get("s") is None
    assert catalog.revision == 5


# -- properties ---------------------------------------------------------------

CAPS = ("code_review", "code_generation", "text_embedding")
LOCALITIES = ("cloud", "on_prem", "eu")

contracts = st.builds(
    make,
    st.sampled_from([f"svc-{i}" for i in range(12)]),
    st.lists(st.sampled_from(CAPS), min_size=1, max_size=3, unique=True).map(tuple),
    p95=st.none() | st.sampled_from([50.0, 500.0, 2000.0, 9000.0]),
    accuracy=st.none() | st.sampled_from([0.5, 0.8, 0.9, 0.99]),
    cap_accuracy=st.none() | st.sampled_from([0.6, 0.95]),
    token_cost=st.none() | st.sampled_from([0.0, 0.0001, 0.01]),
    free=st.booleans(),
    locality=st.none() | st.sampled_from(LOCALITIES),
    hipaa=st.booleans(),
    context=st.none() | st.sampled_from([2048, 8000, 128000]),
)

queries = st.builds(
    lambda cap, reqs, g, c: MatchQuery(cap, tuple(reqs), g, c),
    st.sampled_from(CAPS),
    st.lists(st.sampled_from(CAPS), max_size=2, unique=True),
    st.builds(
        RouteGuarantees,
        max_p95_latency_ms=st.none() | st.sampled_from([100.0, 1000.0, 5000.0]),
        min_accuracy=st.none() | st.sampled_from([0.7, 0.85, 0.95]),
    ),
    st.builds(
        RouteConstraints,
        max_cost_per_token=st.none() | st.sampled_from([0.0, 0.001]),
        data_locality=st.none() | st.lists(st.sampled_from(LOCALITIES), min_size=1, unique=True),
        hipaa_compliant=st.none() | st.booleans(),
        min_context_tokens=st.none() | st.sampled_from([4000, 100000]),
        exclude_service_ids=st.none() | st.lists(st.sampled_from(["svc-1", "svc-2"]), max_size=1),
    ),
)


def satisfies(contract: ServiceContract, q: MatchQuery) -> bool:
    """The oracle: every constraint, stated plainly and independently of matching."""
    g, c = q.guarantees, q.constraints
    caps = {cap.type: cap for cap in contract.capabilities}
    wanted = [q.capability, *q.requirements]
    if any(w not in caps for w in wanted):
        return False
    if c.exclude_service_ids and contract.id in c.exclude_service_ids:
        return False
    latency = contract.guarantees.latency
    if g.max_p95_latency_ms is not None and (
        latency is None or latency.bound.max is None or latency.bound.max > g.max_p95_latency_ms
    ):
        return False
    if g.min_accuracy is not None:
        for w in wanted:
            own = caps[w].accuracy.min if caps[w].accuracy else None
            service = (
                contract.guarantees.accuracy.bound.min if contract.guarantees.accuracy else None
            )
            promised = own if own is not None else service
            if promised is None or promised < g.min_accuracy:
                return False
    if c.max_cost_per_token is not None:
        cost = contract.cost
        price = 0.0 if cost and cost.model == "free" else (cost.token_cost if cost else None)
        if price is None or price > c.max_cost_per_token:
            return False
    if c.data_locality is not None and contract.privacy.data_locality not in c.data_locality:
        return False
    if c.hipaa_compliant and not contract.privacy.hipaa_compliant:
        return False
    if c.min_context_tokens is not None:
        length = contract.constraints.context_length
        if length is None or length.max_tokens is None or length.max_tokens < c.min_context_tokens:
            return False
    return True


def dedupe(items: list[ServiceContract]) -> list[ServiceContract]:
    return list({c.id: c for c in items}.values())


@settings(max_examples=200, deadline=None)
@given(st.lists(contracts, max_size=10).map(dedupe), queries)
def test_every_accepted_service_satisfies_every_constraint_and_every_rejected_one_fails(
    registered: list[ServiceContract], q: MatchQuery
) -> None:
    decision = match(catalog_of(*registered), q, everyone)

    offering = {c.id for c in registered if q.capability in c.capability_names}
    accepted = {c.service_id for c in decision.candidates}
    assert accepted | set(decision.excluded) == offering
    assert not accepted & set(decision.excluded)
    for contract in registered:
        if contract.id in offering:
            assert satisfies(contract, q) == (contract.id in accepted), decision.excluded.get(
                contract.id
            )


@settings(max_examples=150, deadline=None)
@given(st.lists(contracts, max_size=10).map(dedupe), queries, st.randoms())
def test_the_decision_does_not_depend_on_registration_order(
    registered: list[ServiceContract], q: MatchQuery, rng: Any
) -> None:
    shuffled = list(registered)
    rng.shuffle(shuffled)

    first = match(catalog_of(*registered), q, everyone)
    second = match(catalog_of(*shuffled), q, everyone)

    assert [(c.service_id, c.score) for c in first.candidates] == [
        (c.service_id, c.score) for c in second.candidates
    ]
    assert first.excluded == second.excluded


@settings(max_examples=150, deadline=None)
@given(st.lists(contracts, max_size=10).map(dedupe), queries)
def test_candidates_are_ordered_by_score_then_id(
    registered: list[ServiceContract], q: MatchQuery
) -> None:
    decision = match(catalog_of(*registered), q, everyone)

    keys = [(-c.score, c.service_id) for c in decision.candidates]
    assert keys == sorted(keys)


# -- a route's best few: limit and lagging services ------------------------------


@settings(max_examples=150, deadline=None)
@given(st.lists(contracts, max_size=10).map(dedupe), queries, st.integers(1, 4))
def test_a_limited_decision_is_the_full_decisions_best_few(
    registered: list[ServiceContract], q: MatchQuery, limit: int
) -> None:
    catalog = catalog_of(*registered)

    full = match(catalog, q, everyone)
    limited = match(catalog, q, everyone, limit=limit)

    assert limited.candidates == full.candidates[:limit]
    # what was looked at is explained exactly as in the full decision
    assert limited.excluded.items() <= full.excluded.items()
    assert limited.pool == full.pool


def test_a_limited_scan_stops_once_it_has_enough_candidates() -> None:
    catalog = catalog_of(*(make(f"s{i:03d}", p95=100 + i) for i in range(100)))
    looked_at: list[str] = []

    def unavailable(service_id: str) -> Exclusion | None:
        looked_at.append(service_id)
        return None

    decision = match(catalog, query(), unavailable, limit=3)

    assert len(decision.candidates) == 3
    assert len(looked_at) == 3
    assert decision.pool == 100


def test_services_not_keeping_their_p95_go_after_the_others_and_fill_only_free_places() -> None:
    catalog = catalog_of(make("best", p95=100), make("good", p95=200), make("fine", p95=300))
    lagging = {"best"}.__contains__

    everyone_lags_last = match(catalog, query(), everyone, lagging=lagging)
    two_places = match(catalog, query(), everyone, limit=2, lagging=lagging)
    only_laggards = match(catalog_of(make("best")), query(), everyone, limit=2, lagging=lagging)

    assert [c.service_id for c in everyone_lags_last.candidates] == ["good", "fine", "best"]
    assert [c.service_id for c in two_places.candidates] == ["good", "fine"]
    assert [c.service_id for c in only_laggards.candidates] == ["best"]
