"""The NATS subjects of the CAIO protocol, built from one configurable prefix.

Names become subject tokens only after ``is_safe_token`` accepted them: a
service id or capability with ``.``, ``*``, ``>`` or a space would otherwise
address other subjects than the caller meant.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["DEFAULT_PREFIX", "SAFE_TOKEN", "Subjects", "is_safe_token"]

DEFAULT_PREFIX = "caio"
SAFE_TOKEN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_SAFE_PREFIX = re.compile(r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$")

REGISTRY_OPERATIONS = ("register", "deregister", "get", "list", "discover", "validate")


def is_safe_token(name: object) -> bool:
    """True if ``name`` may become one subject token (service id, capability)."""
    return isinstance(name, str) and SAFE_TOKEN.fullmatch(name) is not None


@dataclass(frozen=True, slots=True)
class Subjects:
    """Every subject CAIO speaks on, for one prefix (``CAIO_PREFIX``)."""

    prefix: str = DEFAULT_PREFIX

    def __post_init__(self) -> None:
        if not _SAFE_PREFIX.fullmatch(self.prefix):
            raise ValueError(f"unsafe subject prefix {self.prefix!r}")

    def registry(self, operation: str) -> str:
        return f"{self.prefix}.registry.{operation}"

    @property
    def registry_all(self) -> str:
        return f"{self.prefix}.registry.*"

    def route(self, capability: str) -> str:
        return f"{self.prefix}.route.{capability}"

    @property
    def route_all(self) -> str:
        return f"{self.prefix}.route.*"

    def service(self, service_id: str, capability: str) -> str:
        return f"{self.prefix}.svc.{service_id}.{capability}"

    def heartbeat(self, service_id: str) -> str:
        return f"{self.prefix}.heartbeat.{service_id}"

    @property
    def heartbeat_all(self) -> str:
        return f"{self.prefix}.heartbeat.*"

    def audit(self, kind: str, service_id: str | None) -> str:
        """``<prefix>.audit.<kind>.<service_id or _>``: replay filters by subject."""
        return f"{self.prefix}.audit.{kind}.{service_id or '_'}"

    @property
    def audit_all(self) -> str:
        return f"{self.prefix}.audit.>"

    # -- JetStream names: the protocol's names for the default prefix; other
    # prefixes (tests, several CAIOs on one server) get their own suffix.

    def jetstream_name(self, base: str) -> str:
        if self.prefix == DEFAULT_PREFIX:
            return base
        return f"{base}_{self.prefix.replace('.', '_').replace('-', '_')}"

    @property
    def audit_stream(self) -> str:
        return self.jetstream_name("CAIO_AUDIT")

    @property
    def registry_bucket(self) -> str:
        return self.jetstream_name("CAIO_REGISTRY")

    @property
    def keys_bucket(self) -> str:
        return self.jetstream_name("CAIO_KEYS")

    def keys(self, operation: str) -> str:
        return f"{self.prefix}.keys.{operation}"

    @property
    def keys_all(self) -> str:
        return f"{self.prefix}.keys.*"

    def token_position(self, subject: str, index: int) -> str | None:
        """The token at ``index`` after the prefix (``route.<cap>`` -> 1)."""
        if not subject.startswith(self.prefix + "."):
            return None
        tokens = subject[len(self.prefix) + 1 :].split(".")
        return tokens[index] if index < len(tokens) else None
