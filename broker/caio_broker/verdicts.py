"""Each answered route measured against the serving contract: the reply's ``verdict``.

What one result can be checked against, it is:

- ``latency``: the winning attempt's time against the contract's p95 bound
  (``kept`` is whether this one result is within it; the bound itself is a
  p95, which the router's observed-guarantee window judges over many
  results and demotes the service on, caio_broker.observed);
- ``output_schema``: the capability's declared output schema (a result that
  breaks it never reaches a caller: it is a ``service_error`` and the next
  candidate is tried), so a delivered result kept it; a streamed answer is
  not checked (its chunks went out as they came);
- ``unchecked``: the contract's other guarantees (accuracy, determinism...),
  which no single result can show.

The contract's invariant id is named where a guarantee has one
(``INV-CODEX-0001``), so an audit reader can tie a verdict to its invariant.
"""

from __future__ import annotations

from typing import Any

from caio_broker.catalog import CatalogEntry

__all__ = ["verdict_of"]


def verdict_of(
    entry: CatalogEntry, capability: str, attempt_ms: float, streamed: bool
) -> dict[str, Any] | None:
    """The verdict on one delivered result; None when the contract promises nothing."""
    contract = entry.contract
    verdict: dict[str, Any] = {}
    latency = contract.guarantees.latency
    if latency is not None and latency.bound.max is not None:
        bound = latency.bound.max
        verdict["latency"] = {
            "bound_ms": bound,
            "observed_ms": attempt_ms,
            "kept": attempt_ms <= bound,
            **({"invariant": latency.invariant} if latency.invariant else {}),
        }
    if capability in entry.output_checks:
        verdict["output_schema"] = {"kept": True} if not streamed else {"checked": False}
    others = [name for name in _named(contract.guarantees) if name != "latency"]
    if others:
        verdict["unchecked"] = others
    return verdict or None


def _named(guarantees: Any) -> list[str]:
    names = [n for n in ("latency", "accuracy", "determinism") if getattr(guarantees, n, None)]
    return names + sorted(guarantees.__pydantic_extra__ or {})
