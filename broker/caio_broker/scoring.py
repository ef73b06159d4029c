"""How a contract ranks for a capability: one documented, deterministic score.

    score = 0.5 * accuracy + 0.3 * latency + 0.2 * cost            (0..1)

    accuracy = the accuracy promised for the capability (its own ``min``,
               else the service's accuracy bound), 0 when none is promised
    latency  = 1000 / (1000 + p95_ms), 0 when no p95 bound is promised
    cost     = 1 / (1 + 1000 * cost_per_token), 0 when the cost is unknown

A service is ranked on what its contract promises: promising nothing ranks
lowest. Ties are broken by service id, so the order is total and the same
registry always gives the same ranking. Rounded to 6 places so the score
prints the same in every language.
"""

from __future__ import annotations

from caio_integration.contracts import ServiceContract

__all__ = [
    "ACCURACY_WEIGHT",
    "COST_WEIGHT",
    "LATENCY_WEIGHT",
    "contract_score",
    "promised_accuracy",
]

ACCURACY_WEIGHT = 0.5
LATENCY_WEIGHT = 0.3
COST_WEIGHT = 0.2


def promised_accuracy(contract: ServiceContract, capability: str | None) -> float | None:
    """Accuracy promised for a capability, or for the service when none is named."""
    if capability is not None:
        return contract.accuracy_for(capability)
    accuracy = contract.guarantees.accuracy
    return accuracy.bound.min if accuracy is not None else None


def contract_score(contract: ServiceContract, capability: str | None) -> float:
    accuracy = promised_accuracy(contract, capability) or 0.0
    p95 = contract.p95_latency_ms
    latency = 1000.0 / (1000.0 + p95) if p95 is not None else 0.0
    cost_per_token = contract.cost_per_token
    cost = 1.0 / (1.0 + 1000.0 * cost_per_token) if cost_per_token is not None else 0.0
    score = ACCURACY_WEIGHT * accuracy + LATENCY_WEIGHT * latency + COST_WEIGHT * cost
    return round(score, 6)
