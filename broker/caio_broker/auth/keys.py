"""API keys: who a caller is, what it may do, stored as hashes in a KV bucket.

A secret looks like ``caio_<key_id>_<43 url-safe characters>``: the key id
finds the record in O(1), the rest carries 256 random bits. Only the
SHA-256 of the secret is stored; with that much entropy a slow hash adds
nothing, and comparing digests with ``hmac.compare_digest`` keeps timing
flat. The secret is shown once, when the key is created.

Records live in KV bucket ``CAIO_KEYS`` (one per prefix), shared by every
router: ``id.<key_id>`` holds the record and ``name.<name>`` claims the name,
created atomically so two keys cannot share a name (a service belongs to
the key *name* that registered it, so a rotated key keeps its services).
Every router keeps the records in memory, fed by a KV watch: a revoked key
stops working on every router within one watch delivery.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Iterable

from nats.js import JetStreamContext
from nats.js.errors import (
    KeyNotFoundError,
    KeyWrongLastSequenceError,
    NoKeysError,
)
from nats.js.kv import KeyValue
from pydantic import BaseModel, ConfigDict, Field

from caio_broker.revisions import RevisionClock
from caio_broker.store import open_bucket
from caio_integration._json import dumps, loads
from caio_integration.errors import Conflict, NotFound
from caio_integration.subjects import Subjects
from caio_integration.wire import KeyPolicy, Role, ServiceGlob, Token

__all__ = ["ApiKey", "CallerPolicy", "KeyStore", "Role", "new_secret", "split_secret"]

ROLE_RANK: dict[str, int] = {"caller": 0, "publisher": 1, "admin": 2}
# The policy on the wire is the one stored with the key.
CallerPolicy = KeyPolicy

_SECRET = re.compile(r"^caio_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")


class ApiKey(BaseModel):
    model_config = ConfigDict(strict=True, frozen=True, extra="forbid")

    key_id: str
    name: Token
    role: Role
    capabilities: list[Token] | None = None  # None: every capability
    services: list[ServiceGlob] | None = None  # None: every service
    policy: CallerPolicy = Field(default_factory=CallerPolicy)
    created_at: float
    expires_at: float | None = None
    revoked_at: float | None = None
    secret_sha256: str

    def at_least(self, role: Role) -> bool:
        return ROLE_RANK[self.role] >= ROLE_RANK[role]

    def allows_capability(self, capability: str) -> bool:
        return self.capabilities is None or capability in self.capabilities

    def allows_service(self, service_id: str) -> bool:
        return self.services is None or any(
            fnmatch.fnmatchcase(service_id, g) for g in self.services
        )

    def problem(self, now: float) -> str | None:
        """Why this key cannot be used now, or None."""
        if self.revoked_at is not None:
            return "this API key was revoked"
        if self.expires_at is not None and now >= self.expires_at:
            return "this API key has expired"
        return None

    def public(self) -> dict[str, object]:
        """The record without its hash: what ``caio keys list`` shows."""
        return self.model_dump(mode="json", exclude={"secret_sha256"})


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_secret() -> tuple[str, str, str]:
    """A fresh ``(secret, key_id, sha256)``."""
    key_id = secrets.token_hex(6)
    secret = f"caio_{key_id}_{secrets.token_urlsafe(32)}"
    return secret, key_id, _digest(secret)


def split_secret(secret: str) -> str | None:
    """The key id inside a well-formed secret, else None."""
    match = _SECRET.fullmatch(secret)
    return match.group(1) if match else None


class KeyStore:
    """The keys bucket plus an in-memory copy of it for the hot path."""

    __slots__ = ("_by_id", "_kv", "_watch_task", "revisions")

    def __init__(self, kv: KeyValue) -> None:
        self._kv = kv
        self._by_id: dict[str, ApiKey] = {}
        self.revisions = RevisionClock()  # await another router's key change with wait_for
        self._watch_task: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, js: JetStreamContext, subjects: Subjects, replicas: int = 1) -> KeyStore:
        kv = await open_bucket(js, subjects.keys_bucket, replicas, "CAIO API keys (hashes only)")
        return cls(kv)

    # -- the hot path: in memory ------------------------------------------------

    def verify(self, secret: str) -> ApiKey | None:
        """The key a secret belongs to, if the secret is right (usable or not)."""
        key_id = split_secret(secret)
        key = self._by_id.get(key_id) if key_id else None
        if key is None or not hmac.compare_digest(key.secret_sha256, _digest(secret)):
            return None
        return key

    def cached(self) -> Iterable[ApiKey]:
        return self._by_id.values()

    async def follow(self) -> None:
        """Load every key, then keep the copy current; returns once loaded."""
        watcher = await self._kv.watch("id.>")
        loaded = asyncio.get_running_loop().create_future()

        async def run() -> None:
            while True:
                try:
                    entry = await watcher.updates(timeout=3600)  # type: ignore[no-untyped-call]
                except TimeoutError:
                    continue
                if entry is None:
                    if not loaded.done():
                        loaded.set_result(None)
                    continue
                key_id = entry.key.removeprefix("id.")
                if entry.operation in ("DEL", "PURGE") or not entry.value:
                    self._by_id.pop(key_id, None)
                else:
                    self._by_id[key_id] = ApiKey.model_validate(loads(entry.value))
                if entry.revision is not None:
                    self.revisions.advance(entry.revision)

        self._watch_task = asyncio.create_task(run(), name="caio-keys-watch")
        await loaded

    async def close(self) -> None:
        if self._watch_task is not None:
            self._watch_task.cancel()
            await asyncio.gather(self._watch_task, return_exceptions=True)
            self._watch_task = None

    # -- administration: straight to KV ----------------------------------------

    async def create(
        self,
        name: str,
        role: Role,
        *,
        capabilities: list[str] | None = None,
        services: list[str] | None = None,
        policy: CallerPolicy | None = None,
        expires_at: float | None = None,
    ) -> tuple[str, ApiKey]:
        """A new key; returns ``(secret, record)``. The secret is not kept anywhere."""
        secret, key_id, digest = new_secret()
        key = ApiKey(
            key_id=key_id,
            name=name,
            role=role,
            capabilities=capabilities,
            services=services,
            policy=policy or CallerPolicy(),
            created_at=time.time(),
            expires_at=expires_at,
            secret_sha256=digest,
        )
        try:
            await self._kv.create(f"name.{name}", key_id.encode())
        except KeyWrongLastSequenceError:
            raise Conflict(f"a key named {name} exists; revoke it or pick another name") from None
        await self._kv.create(f"id.{key_id}", dumps(key.model_dump(mode="json")))
        self._by_id[key_id] = key
        return secret, key

    async def get(self, id_or_name: str) -> tuple[ApiKey, int]:
        key_id = id_or_name
        try:
            claimed = await self._kv.get(f"name.{id_or_name}")
            if claimed.value:
                key_id = claimed.value.decode()
        except KeyNotFoundError:
            pass
        try:
            entry = await self._kv.get(f"id.{key_id}")
        except KeyNotFoundError:
            raise NotFound(f"no API key {id_or_name}") from None
        assert entry.value is not None
        assert entry.revision is not None
        return ApiKey.model_validate(loads(entry.value)), entry.revision

    async def revoke(self, id_or_name: str) -> ApiKey:
        """Mark revoked (kept, so the audit trail still resolves its name); frees the name."""
        key, revision = await self.get(id_or_name)
        if key.revoked_at is None:
            key = key.model_copy(update={"revoked_at": time.time()})
            await self._kv.update(
                f"id.{key.key_id}", dumps(key.model_dump(mode="json")), last=revision
            )
            self._by_id[key.key_id] = key
        with contextlib.suppress(KeyNotFoundError):
            await self._kv.delete(f"name.{key.name}")
        return key

    async def all(self) -> list[ApiKey]:
        try:
            names = await self._kv.keys()
        except NoKeysError:
            return []
        keys = []
        for name in names:
            if name.startswith("id."):
                entry = await self._kv.get(name)
                if entry.value:
                    keys.append(ApiKey.model_validate(loads(entry.value)))
        return sorted(keys, key=lambda k: (k.name, k.created_at))
