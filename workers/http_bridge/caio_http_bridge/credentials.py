"""The credentials the bridge sends upstream, and keeping them out of every text it writes.

A contract names *where* a credential is read (``auth: {env: NAME}`` or
``auth: {file: PATH}``), never the credential: the schema has no key for one.
The bridge reads each credential once, in ``setup()``, so a missing one
refuses to start instead of failing the first request. The value lives in a
``Credential`` whose ``repr`` hides it; every message built from an
upstream's text goes through ``scrub`` first, because upstreams echo keys
back (OpenAI's 401 quotes the key it was given).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from caio_integration.contracts.model import HttpAuth

__all__ = ["MAX_MESSAGE_CHARS", "Credential", "CredentialError", "read_credential", "scrub"]

MAX_MESSAGE_CHARS = 300  # an upstream's message, as forwarded: enough to act on, never a flood
_HIDDEN = "***"
# Key-shaped strings an upstream may echo back even when it is not ours
# (sk-..., rk-..., pk-..., and bearer tokens in quoted headers).
_KEYLIKE = re.compile(
    r"\b(sk|rk|pk|key)-[A-Za-z0-9_\-*.]{6,}|(?i:bearer)\s+[A-Za-z0-9_\-.~+/=]{8,}"
)
# A header value on one line: a credential holding CR or LF would inject headers.
_ONE_LINE = re.compile(r"[^\r\n\x00]+")


class CredentialError(ValueError):
    """A credential the contract names cannot be read; the message says where, never what."""


@dataclass(frozen=True, slots=True)
class Credential:
    """One header to send, e.g. ``Authorization: Bearer <secret>``; printed without the secret."""

    header: str
    secret: str = field(repr=False)
    scheme: str | None = None
    source: str = ""  # "env OPENAI_API_KEY" or "file /run/secrets/key": for logs

    @property
    def value(self) -> str:
        return f"{self.scheme} {self.secret}" if self.scheme else self.secret


def read_credential(
    auth: HttpAuth, base_dir: Path, env: Mapping[str, str] | None = None
) -> Credential:
    """Read the credential ``auth`` names: an environment variable, or a file.

    A relative file is read from ``base_dir`` (the contract file's directory);
    its trailing newline is dropped (``echo KEY > file`` writes one).
    Raises ``CredentialError`` naming the variable or file.
    """
    if auth.env is not None:
        source = f"env {auth.env}"
        variables = os.environ if env is None else env
        secret = variables.get(auth.env, "")
        if not secret:
            raise CredentialError(f"the environment variable {auth.env} is not set or empty")
    else:
        assert auth.file is not None  # HttpAuth holds exactly one of env and file
        path = (base_dir / Path(auth.file).expanduser()).resolve()
        source = f"file {path}"
        try:
            secret = path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            raise CredentialError(f"the credential file {path} does not exist") from None
        except (OSError, UnicodeDecodeError) as exc:
            why = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise CredentialError(f"the credential file {path} cannot be read: {why}") from None
        if not secret:
            raise CredentialError(f"the credential file {path} is empty")
    if not _ONE_LINE.fullmatch(secret):
        raise CredentialError(f"the credential from {source} spans lines or holds NUL")
    return Credential(header=auth.header, secret=secret, scheme=auth.scheme, source=source)


def scrub(text: str, secrets: Iterable[str] = (), limit: int = MAX_MESSAGE_CHARS) -> str:
    """``text`` safe to forward or log: no known secret, nothing key-shaped, bounded length.

    Secrets are removed before truncating, so a cut can never leave half a
    secret behind, and the bound applies to what is left.
    """
    for secret in secrets:
        if secret:
            text = text.replace(secret, _HIDDEN)
    text = _KEYLIKE.sub(_HIDDEN, text)
    text = " ".join(text.split())  # one line: messages end up in NATS headers too
    return text if len(text) <= limit else text[: limit - 1] + "…"
