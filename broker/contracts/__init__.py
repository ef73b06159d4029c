"""Service contracts: the schema-checked, normalized model of what a service promises."""

from broker.contracts.model import ServiceContract

__all__ = ["ServiceContract"]
