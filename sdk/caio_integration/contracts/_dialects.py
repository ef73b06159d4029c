"""The flat template dialect (seed 002) rewritten in the nested dialect (seed 001).

Only schema-valid documents arrive here, so the mapping can index without
checks. Nothing a flat contract says is dropped: what has no nested field
of its own is kept where the model keeps free-form data (``p99_ms`` as the
latency bound's ``p99_max``, unknown constraints as constraint extras,
``per_<unit>`` prices as cost extras). docs/contracts.md has the table.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ACCURACY_PROPERTY",
    "AVAILABILITY_PROPERTY",
    "LATENCY_PROPERTY",
    "flat_to_nested",
    "normalize_document",
]

LATENCY_PROPERTY = "p95_latency_ms"
ACCURACY_PROPERTY = "accuracy"
AVAILABILITY_PROPERTY = "availability_pct"

Document = dict[str, Any]


def _guarantees(flat: Document) -> Document:
    nested: Document = {}
    if "latency" in flat:
        latency = flat["latency"]
        bound: Document = {"max": latency["p95_ms"]}
        if "p99_ms" in latency:
            bound["p99_max"] = latency["p99_ms"]
        nested["latency"] = {"property": LATENCY_PROPERTY, "bound": bound}
    if "accuracy" in flat:
        nested["accuracy"] = {
            "property": ACCURACY_PROPERTY,
            "bound": {"min": flat["accuracy"]["min"]},
        }
    if "availability" in flat:
        # Not one of the named guarantees: the model keeps it as an extra Guarantee.
        target = flat["availability"]["target"]
        nested["availability"] = {"property": AVAILABILITY_PROPERTY, "bound": {"min": target}}
    return nested


def _constraints(flat: Document) -> Document:
    nested = {key: value for key, value in flat.items() if key != "max_tokens"}
    if "max_tokens" in flat:
        nested["context_length"] = {"max_tokens": flat["max_tokens"]}
    return nested


def _cost(flat: Document) -> Document:
    # The schema requires per_token or per_request; per_token decides the model
    # because it is the price matching compares (cost_per_token).
    nested: Document = {"model": "per_token" if "per_token" in flat else "per_request"}
    renamed = {"per_token": "token_cost", "per_request": "request_cost"}
    for key, value in flat.items():
        nested[renamed.get(key, key)] = value
    return nested


def flat_to_nested(flat: Document) -> Document:
    """A schema-valid flat contract as a nested one (new containers, same leaves)."""
    service: Document = {
        "id": flat["service_id"],
        "name": flat["name"],
        "version": flat["version"],
    }
    if "description" in flat:
        service["description"] = flat["description"]
    service["capabilities"] = [{"type": name} for name in flat["capabilities"]]
    if "guarantees" in flat:
        service["guarantees"] = _guarantees(flat["guarantees"])
    if "cost" in flat:
        service["cost"] = _cost(flat["cost"])
    if "constraints" in flat:
        service["constraints"] = _constraints(flat["constraints"])
    if "metadata" in flat:
        service["metadata"] = flat["metadata"]
    service.update((key, value) for key, value in flat.items() if key.startswith("x-"))
    return {"service": service}


def normalize_document(document: Document) -> Document:
    """Either dialect as the nested dialect; a nested document is returned as is."""
    return document if "service" in document else flat_to_nested(document)
