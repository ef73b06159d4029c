"""CAIO: a contract-based router for AI services over NATS."""

__version__ = "0.2.0"
