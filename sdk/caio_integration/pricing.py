"""What one result cost: the serving contract's ``cost`` times the service's ``usage``.

A contract prices tokens (``token_cost``), requests (``request_cost``) and
any other unit (``per_<unit>``, e.g. ``per_image``); a service's reply says
what it used (``usage``). The price of a result is the sum of what applies::

    request_cost                              once per answered request
    + token_cost  x tokens                    total_tokens, else tokens, else
                                              prompt_tokens + completion_tokens
    + per_<unit>  x usage[<unit>] or usage[<unit>s]

``cost.model: free`` costs nothing. A contract without ``cost`` has no price
(``None``): nothing is known, which is not the same as free. Prices are in
the contract's ``currency``; CAIO adds them up as they are and converts
nothing, so a deployment's budgets assume one currency.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from caio_integration.contracts.model import Cost

__all__ = ["Price", "price_of", "tokens_in"]


@dataclass(frozen=True, slots=True)
class Price:
    amount: float
    currency: str

    def to_json(self) -> dict[str, Any]:
        return {"amount": self.amount, "currency": self.currency}


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if value >= 0 else None


def tokens_in(usage: Mapping[str, Any]) -> float | None:
    """The tokens a usage reports: ``total_tokens``, ``tokens``, or prompt + completion."""
    for key in ("total_tokens", "tokens"):
        if (count := _number(usage.get(key))) is not None:
            return count
    prompt, completion = (
        _number(usage.get("prompt_tokens")),
        _number(usage.get("completion_tokens")),
    )
    if prompt is None and completion is None:
        return None
    return (prompt or 0.0) + (completion or 0.0)


def price_of(cost: Cost | None, usage: Mapping[str, Any] | None) -> Price | None:
    """The price of one answered request; None when the contract states no cost."""
    if cost is None:
        return None
    if cost.model == "free":
        return Price(0.0, cost.currency)
    amount = cost.request_cost or 0.0
    used = usage or {}
    if cost.token_cost and (tokens := tokens_in(used)) is not None:
        amount += cost.token_cost * tokens
    for key, unit_price in (cost.__pydantic_extra__ or {}).items():
        unit = key.removeprefix("per_")
        count = _number(used.get(unit))
        if count is None:
            count = _number(used.get(unit + "s"))
        if count is not None:
            amount += unit_price * count
    return Price(round(amount, 12), cost.currency)  # float sums: no 0.30000000000000004
