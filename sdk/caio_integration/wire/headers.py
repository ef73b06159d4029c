"""NATS headers the protocol reads."""

from __future__ import annotations

from pydantic import BaseModel, Field

__all__ = ["AuthorizationHeaders"]


class AuthorizationHeaders(BaseModel):
    """NATS headers of every request a router authenticates (registry, route, keys, jobs)."""

    authorization: str = Field(
        alias="Authorization",
        pattern=r"^Bearer \S+$",
        description="`Bearer <key>`, the secret of an API key (`caio_<key_id>_<random>`)."
        " Without it, or with a key that is unknown, revoked or expired, the reply is"
        " `unauthenticated`. A router started with `--insecure-no-auth` accepts requests"
        " without it.",
    )
