"""The contract's cache policy: accepted as documented, typos and nonsense refused."""

from __future__ import annotations

from typing import Any

import pytest

from caio_integration.contracts import contract_errors, parse_contract
from tests.integration.conftest import contract


def with_cache(cache: Any) -> dict[str, Any]:
    document = contract("svc")
    document["service"]["cache"] = cache
    return document


def test_a_cache_policy_is_read_as_its_ttl() -> None:
    assert contract_errors(with_cache({"ttl_s": 60})) == []
    assert parse_contract(with_cache({"ttl_s": 60})).cache_ttl_s == 60


@pytest.mark.parametrize(
    ("cache", "named"),
    [
        ({"ttl": 60}, "ttl"),  # a typo of ttl_s
        ({"ttl_s": 0}, "ttl_s"),
        ({"ttl_s": 86_401}, "ttl_s"),
        ({"ttl_s": "60"}, "ttl_s"),
    ],
)
def test_a_wrong_cache_policy_is_refused_at_its_field(cache: dict[str, Any], named: str) -> None:
    errors = contract_errors(with_cache(cache))

    assert errors
    assert any("cache" in e and named in e for e in errors), errors


def test_without_a_policy_only_a_deterministic_contract_is_cached() -> None:
    plain = parse_contract(contract("svc"))
    deterministic = contract("svc")
    deterministic["service"]["guarantees"]["determinism"] = {"property": "deterministic_output"}

    assert plain.cache_ttl_s is None
    assert parse_contract(deterministic).cache_ttl_s == 600.0
