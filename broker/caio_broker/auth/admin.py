"""``<prefix>.keys.create|list|revoke``: API key administration, for admin keys only.

The secret of a new key is in the create reply and nowhere else. Every
change is audited (kind ``keys``, an extension of the protocol's kinds).
"""

from __future__ import annotations

import time
from typing import Any

from caio_broker.audit import AuditLog
from caio_broker.auth.guard import Caller
from caio_broker.auth.keys import KeyStore
from caio_integration.errors import Forbidden, InvalidRequest
from caio_integration.wire import (
    ApiKeyInfo,
    AuditRecord,
    KeyCreateReply,
    KeyCreateRequest,
    KeyListReply,
    KeyListRequest,
    KeyRevokeReply,
    KeyRevokeRequest,
    ReplyBody,
    parse,
)

__all__ = ["KeyAdmin"]


class KeyAdmin:
    __slots__ = ("_audit", "_keys")

    def __init__(self, keys: KeyStore, audit: AuditLog) -> None:
        self._keys = keys
        self._audit = audit

    async def handle(
        self, operation: str, body: dict[str, Any], caller: Caller, request_id: str | None
    ) -> ReplyBody:
        if not caller.at_least("admin"):
            raise Forbidden(f"key {caller.name} may not manage API keys (admin only)")
        if operation == "create":
            return await self._create(parse(KeyCreateRequest, body), caller, request_id)
        if operation == "list":
            parse(KeyListRequest, body)
            keys = [ApiKeyInfo(**key.public()) for key in await self._keys.all()]
            return KeyListReply(status="ok", keys=keys, count=len(keys))
        if operation == "revoke":
            key = await self._keys.revoke(parse(KeyRevokeRequest, body).key)
            await self._record("revoked", key.name, caller, request_id)
            return KeyRevokeReply(status="revoked", key_id=key.key_id, name=key.name)
        raise InvalidRequest(f"unknown keys operation {operation!r}; use create, list or revoke")

    async def _create(
        self, body: KeyCreateRequest, caller: Caller, request_id: str | None
    ) -> KeyCreateReply:
        secret, key = await self._keys.create(
            body.name,
            body.role,
            capabilities=body.capabilities,
            services=body.services,
            policy=body.policy,
            expires_at=time.time() + body.expires_in_s if body.expires_in_s else None,
        )
        await self._record("created", key.name, caller, request_id)
        return KeyCreateReply(status="created", secret=secret, **key.public())

    async def _record(self, action: str, name: str, caller: Caller, request_id: str | None) -> None:
        await self._audit.record(
            AuditRecord(
                kind="keys",
                outcome="ok",
                request_id=request_id,
                caller=caller.name,
                decision={"action": action, "key": name},
            )
        )
