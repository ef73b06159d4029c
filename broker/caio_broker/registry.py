"""The registry subjects: register, deregister, get, list, discover, validate.

Each operation takes a decoded request body and returns the reply body, or
raises a ``CAIOError`` that the router turns into an error reply. A
rejected registration changes nothing: validation and the conflict check
happen before the one KV write, and that write is conditional on the
revision that was checked. Every change is audited before the reply.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from caio_broker.audit import AuditLog
from caio_broker.auth.guard import ANONYMOUS, Caller
from caio_broker.catalog import Catalog
from caio_broker.health import ServiceHealth
from caio_broker.matching import MatchQuery, match
from caio_broker.store import ContractStore, StoredContract, encode_entry
from caio_integration.contracts import (
    ServiceContract,
    contract_errors,
    parse_contract,
    parse_contract_yaml,
)
from caio_integration.errors import Conflict, Forbidden, InvalidContract, InvalidRequest, NotFound
from caio_integration.wire import (
    AuditRecord,
    DeregisterReply,
    DiscoveredService,
    DiscoverReply,
    DiscoverRequest,
    GetReply,
    HeartbeatRejection,
    ListReply,
    ListRequest,
    RegisterReply,
    RegisterRequest,
    ReplyBody,
    ServiceIdRequest,
    ServiceStats,
    ServiceSummary,
    StatsReply,
    StatsRequest,
    ValidateReply,
    ValidateRequest,
    parse,
)

__all__ = ["Registry", "RegistryContext"]


@dataclass(frozen=True, slots=True)
class RegistryContext:
    """Who asked: for the role and ownership checks and the audit record."""

    request_id: str | None = None
    caller: Caller = ANONYMOUS


def _may_change(caller: Caller, service_id: str, stored: StoredContract | None) -> None:
    """Publishers change only their own ids (globs on the key) and services they own."""
    key = caller.key
    if key is None or key.role == "admin":
        return
    if not key.at_least("publisher"):
        raise Forbidden(f"key {key.name} may not change the registry (role {key.role})")
    if not key.allows_service(service_id):
        raise Forbidden(
            f"key {key.name} may not register service {service_id}",
            details={"service_id": service_id},
        )
    if stored is None:
        return
    if stored.owner is not None and stored.owner != key.name:
        raise Forbidden(
            f"service {service_id} belongs to another key",
            details={"service_id": service_id},
        )
    if stored.owner is None:
        raise Forbidden(
            f"service {service_id} was registered without an owner; only an admin may change it",
            details={"service_id": service_id},
        )


def _contract_source(
    body: dict[str, Any], model: type[RegisterRequest | ValidateRequest]
) -> tuple[str, object]:
    """Which of ``contract`` / ``contract_yaml`` the body carries (exactly one)."""
    parse(model, body)  # unknown fields (a misspelled "replace") are refused
    has_contract, has_yaml = "contract" in body, "contract_yaml" in body
    if has_contract == has_yaml:
        raise InvalidRequest('send exactly one of "contract" (an object) or "contract_yaml" (text)')
    if has_yaml:
        if not isinstance(body["contract_yaml"], str):
            raise InvalidRequest('"contract_yaml" must be a string of YAML')
        return "yaml", body["contract_yaml"]
    return "json", body["contract"]


def _parse_source(body: dict[str, Any]) -> ServiceContract:
    kind, source = _contract_source(body, RegisterRequest)
    if kind == "yaml":
        assert isinstance(source, str)
        return parse_contract_yaml(source)
    return parse_contract(source)


class Registry:
    __slots__ = ("_audit", "_catalog", "_handlers", "_health", "_liveness", "_store")

    def __init__(
        self, store: ContractStore, catalog: Catalog, health: ServiceHealth, audit: AuditLog
    ) -> None:
        self._store = store
        self._catalog = catalog
        self._health = health
        self._liveness = health.liveness
        self._audit = audit
        self._handlers: dict[
            str, Callable[[dict[str, Any], RegistryContext], Awaitable[ReplyBody]]
        ] = {
            "register": self.register,
            "deregister": self.deregister,
            "get": self.get,
            "list": self.list,
            "discover": self.discover,
            "validate": self.validate,
            "stats": self.stats,
        }

    @property
    def operations(self) -> tuple[str, ...]:
        return tuple(self._handlers)

    async def handle(
        self, operation: str, body: dict[str, Any], context: RegistryContext
    ) -> ReplyBody:
        handler = self._handlers.get(operation)
        if handler is None:
            raise InvalidRequest(
                f"unknown registry operation {operation!r}; use one of {', '.join(self._handlers)}"
            )
        return await handler(body, context)

    # -- writes ----------------------------------------------------------

    async def register(self, body: dict[str, Any], context: RegistryContext) -> RegisterReply:
        replace = parse(RegisterRequest, body).replace
        try:
            contract = _parse_source(body)
        except InvalidContract as exc:
            reason = "; ".join(exc.details.get("errors", [])[:3]) or exc.message
            self._health.rejections.rejected(
                "registration", None, reason, caller=context.caller.name
            )
            await self._audit.record(
                AuditRecord(
                    kind="invalid",
                    outcome="invalid",
                    request_id=context.request_id,
                    caller=context.caller.name,
                    error=exc.to_error(),
                    operation="register",
                )
            )
            raise
        document = contract.to_document()
        service_id = contract.id
        stored = await self._store.get(service_id)
        _may_change(context.caller, service_id, stored)
        owner = stored.owner if stored is not None else context.caller.name
        value = encode_entry(document, owner)

        if stored is not None and stored.document == document:
            action, revision = "unchanged", stored.revision
            message = f"service {service_id} is already registered with this contract"
        elif stored is not None and not replace:
            raise Conflict(
                f"service {service_id} is registered with a different contract; "
                'send "replace": true to replace it',
                details={"service_id": service_id, "revision": stored.revision},
            )
        elif stored is not None:
            action = "replaced"
            revision = await self._store.replace(service_id, value, stored.revision)
            message = f"service {service_id} replaced"
        else:
            action = "registered"
            revision = await self._store.create(service_id, value)
            message = f"service {service_id} registered"

        self._catalog.put(contract, revision)
        await self._audit_change(context, service_id, action, revision)
        return RegisterReply(
            status="registered",
            service_id=service_id,
            revision=revision,
            message=message,
            action=action,
        )

    async def deregister(self, body: dict[str, Any], context: RegistryContext) -> DeregisterReply:
        service_id = parse(ServiceIdRequest, body).service_id
        stored = await self._require(service_id)
        _may_change(context.caller, service_id, stored)
        revision = await self._store.delete(service_id, stored.revision)
        self._catalog.delete(service_id, revision)
        await self._audit_change(context, service_id, "deregistered", revision)
        return DeregisterReply(status="deregistered", service_id=service_id, revision=revision)

    # -- reads -----------------------------------------------------------

    async def get(self, body: dict[str, Any], context: RegistryContext) -> GetReply:
        service_id = parse(ServiceIdRequest, body).service_id
        stored = await self._require(service_id)
        return GetReply(
            status="ok",
            service_id=service_id,
            contract=stored.document,
            revision=stored.revision,
            owner=stored.owner,
            availability=self._liveness.availability(service_id),
            instances=self._liveness.live_instances(service_id),
        )

    async def list(self, body: dict[str, Any], context: RegistryContext) -> ListReply:
        capability = parse(ListRequest, body).capability
        if capability is None:
            entries = list(self._catalog.entries())
        else:
            entries = [
                e for sid in self._catalog.ids_for(capability) if (e := self._catalog.get(sid))
            ]
        entries.sort(key=lambda e: e.contract.id)
        services = [self._listed(e.contract, e.revision) for e in entries]
        return ListReply(status="ok", services=services, count=len(services))

    def _listed(self, contract: ServiceContract, revision: int) -> ServiceSummary:
        service_id = contract.id
        listed = ServiceSummary(
            service_id=service_id,
            service_name=contract.name,
            version=contract.version,
            capabilities=list(contract.capability_names),
            availability=self._liveness.availability(service_id),
            revision=revision,
        )
        rejected = self._health.rejections.last("heartbeat", service_id)
        if rejected is not None:
            # Extension: why a worker that is heartbeating is still not live.
            listed.last_heartbeat_rejected = HeartbeatRejection(**rejected.to_json())
        return listed

    async def discover(self, body: dict[str, Any], context: RegistryContext) -> DiscoverReply:
        request = parse(DiscoverRequest, body)
        capabilities = request.capabilities
        query = MatchQuery(
            capability=capabilities[0] if capabilities else None,
            requirements=tuple(capabilities[1:]),
            guarantees=request.guarantees,
            constraints=request.constraints,
        )
        decision = match(self._catalog, query, self._health.unavailable)
        services = [
            DiscoveredService(
                service_id=c.service_id,
                score=c.score,
                service_name=c.entry.contract.name,
                capabilities=list(c.entry.contract.capability_names),
                availability="available",
            )
            for c in decision.candidates
        ]
        return DiscoverReply(
            status="ok",
            services=services,
            count=len(services),
            excluded=decision.excluded,
            excluded_codes=decision.excluded_codes,
            registry_revision=decision.registry_revision,
        )

    async def validate(self, body: dict[str, Any], context: RegistryContext) -> ValidateReply:
        kind, source = _contract_source(body, ValidateRequest)
        if kind == "yaml":
            assert isinstance(source, str)
            try:
                parse_contract_yaml(source)
                errors: list[str] = []
            except InvalidContract as exc:
                errors = list(exc.details.get("errors", [exc.message]))
        else:
            errors = contract_errors(source)
        return ValidateReply(status="ok", is_valid=not errors, errors=errors)

    async def stats(self, body: dict[str, Any], context: RegistryContext) -> StatsReply:
        """This router's view: contract bounds beside what it observed (extension)."""
        wanted = parse(StatsRequest, body).capability
        entries = sorted(
            (e for e in self._catalog.entries() if wanted is None or wanted in e.capabilities),
            key=lambda e: e.contract.id,
        )
        services = [ServiceStats(**self._health.stats(e.contract)) for e in entries]
        return StatsReply(
            status="ok",
            scope="router",
            services=services,
            count=len(services),
            rejected=self._health.rejections.to_json(),
        )

    async def _audit_change(
        self, context: RegistryContext, service_id: str, action: str, revision: int
    ) -> None:
        await self._audit.record(
            AuditRecord(
                kind="registry",
                outcome="ok",
                request_id=context.request_id,
                caller=context.caller.name,
                service_id=service_id,
                decision={"action": action, "registry_revision": revision},
            )
        )

    async def _require(self, service_id: str) -> StoredContract:
        stored = await self._store.get(service_id)
        if stored is None:
            raise NotFound(
                f"no service {service_id} is registered", details={"service_id": service_id}
            )
        return stored
