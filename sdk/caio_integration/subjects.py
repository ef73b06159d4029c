"""The NATS subjects of the CAIO protocol, built from one configurable prefix.

Names become subject tokens only after ``is_safe_token`` accepted them: a
service id or capability with ``.``, ``*``, ``>`` or a space would otherwise
address other subjects than the caller meant.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "DEFAULT_PREFIX",
    "SAFE_REQUEST_ID",
    "SAFE_TOKEN",
    "Subjects",
    "is_safe_request_id",
    "is_safe_token",
]

DEFAULT_PREFIX = "caio"
SAFE_TOKEN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
# A durable job's request id becomes the token of its result subject: a little
# wider than SAFE_TOKEN (upper case, 128 long, as RouteRequest allows), but
# still never a dot, wildcard, space or empty token.
SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")
_SAFE_PREFIX = re.compile(r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$")

REGISTRY_OPERATIONS = ("register", "deregister", "get", "list", "discover", "validate")


def is_safe_token(name: object) -> bool:
    """True if ``name`` may become one subject token (service id, capability)."""
    return isinstance(name, str) and SAFE_TOKEN.fullmatch(name) is not None


def is_safe_request_id(request_id: object) -> bool:
    """True if ``request_id`` may name a job's result subject."""
    return isinstance(request_id, str) and SAFE_REQUEST_ID.fullmatch(request_id) is not None


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

    @property
    def cache_bucket(self) -> str:
        """Reusable answers (an extension: caio_broker.cache)."""
        return self.jetstream_name("CAIO_CACHE")

    @property
    def spend_bucket(self) -> str:
        """Budgeted keys' spend per day and month (an extension: caio_broker.budgets)."""
        return self.jetstream_name("CAIO_SPEND")

    def keys(self, operation: str) -> str:
        return f"{self.prefix}.keys.{operation}"

    @property
    def keys_all(self) -> str:
        return f"{self.prefix}.keys.*"

    # -- durable jobs (docs/jobs.md): capability and request id are checked
    # with is_safe_token / is_safe_request_id before they get here.

    def job(self, capability: str) -> str:
        return f"{self.prefix}.jobs.{capability}"

    @property
    def jobs_all(self) -> str:
        """One token after ``jobs``: dead letters (``jobs.dead.<cap>``) never match."""
        return f"{self.prefix}.jobs.*"

    def result(self, request_id: str) -> str:
        return f"{self.prefix}.results.{request_id}"

    @property
    def results_all(self) -> str:
        return f"{self.prefix}.results.*"

    def dead_letter(self, capability: str | None) -> str:
        return f"{self.prefix}.jobs.dead.{capability or '_'}"

    @property
    def dead_letters_all(self) -> str:
        return f"{self.prefix}.jobs.dead.*"

    @property
    def jobs_stream(self) -> str:
        return self.jetstream_name("CAIO_JOBS")

    @property
    def results_stream(self) -> str:
        return self.jetstream_name("CAIO_RESULTS")

    @property
    def dead_letter_stream(self) -> str:
        return self.jetstream_name("CAIO_DEAD")

    def name_in(self, subject: str, area: str) -> str:
        """What ``<prefix>.<area>.<name>`` names: the capability of a route or job, the
        operation of a registry or keys request, the service of a heartbeat.

        The one place a subject is sliced. The subscription's wildcard already
        matched ``subject``, so only the tail is cut off, at no parsing cost.
        """
        return subject[len(self.prefix) + len(area) + 2 :]
