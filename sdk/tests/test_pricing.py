"""A result's price: the contract's cost times the service's usage."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from caio_integration.contracts.model import Cost
from caio_integration.pricing import Price, price_of, tokens_in


def test_tokens_are_priced_by_the_token_cost() -> None:
    assert price_of(Cost(token_cost=0.5), {"tokens": 3}) == Price(1.5, "USD")


def test_openai_usage_counts_its_total_tokens() -> None:
    usage = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}

    assert price_of(Cost(token_cost=0.01), usage) == Price(0.15, "USD")


def test_prompt_and_completion_tokens_add_up_without_a_total() -> None:
    assert tokens_in({"prompt_tokens": 10, "completion_tokens": 5}) == 15


def test_a_request_cost_is_paid_once_and_other_units_by_their_count() -> None:
    cost = Cost.model_validate({"request_cost": 0.002, "per_image": 0.04, "currency": "EUR"})

    assert price_of(cost, {"images": 2}) == Price(0.082, "EUR")


def test_a_free_service_costs_nothing_and_a_contract_without_cost_has_no_price() -> None:
    assert price_of(Cost(model="free", token_cost=1.0), {"tokens": 100}) == Price(0.0, "USD")
    assert price_of(None, {"tokens": 100}) is None


@pytest.mark.parametrize("usage", [None, {}, {"tokens": "many"}, {"tokens": -3}, {"tokens": True}])
def test_usage_that_says_nothing_usable_costs_only_the_request(usage: object) -> None:
    cost = Cost(token_cost=0.5, request_cost=0.25)

    assert price_of(cost, usage) == Price(0.25, "USD")  # type: ignore[arg-type]


@given(
    st.floats(min_value=0, max_value=10, allow_nan=False),
    st.floats(min_value=0, max_value=10, allow_nan=False),
    st.integers(min_value=0, max_value=1_000_000),
)
def test_a_price_is_never_negative_and_grows_with_the_tokens(
    token_cost: float, request_cost: float, tokens: int
) -> None:
    cost = Cost(token_cost=token_cost, request_cost=request_cost)
    fewer = price_of(cost, {"tokens": tokens})
    more = price_of(cost, {"tokens": tokens + 1})

    assert fewer is not None
    assert more is not None
    assert 0 <= fewer.amount <= more.amount
