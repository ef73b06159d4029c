"""How a CAIO process authenticates to NATS: credentials from the environment.

``NatsCredentials.from_env()`` reads the ``CAIO_NATS_*`` variables below and
``connect_options()`` turns them into keyword arguments for ``nats.connect``
(and so for ``RouterConfig.connect_options``, ``WorkerConfig.connect_options``
and ``CAIOClient(connect_options=...)``). docs/security.md says which user
each process should be and how the server is configured.

| variable | ``nats.connect`` option |
|---|---|
| ``CAIO_NATS_USER`` + ``CAIO_NATS_PASSWORD`` | ``user``, ``password`` |
| ``CAIO_NATS_TOKEN`` | ``token`` |
| ``CAIO_NATS_NKEY_SEED`` (path to a seed file) | ``nkeys_seed`` |
| ``CAIO_NATS_CREDS`` (path to a ``.creds`` file) | ``user_credentials`` |
| ``CAIO_NATS_TLS_CA``, ``_TLS_CERT``, ``_TLS_KEY`` (paths) | ``tls`` (an ``SSLContext``) |
| ``CAIO_NATS_TLS_HOSTNAME`` | ``tls_hostname`` |
| ``CAIO_NATS_INBOX_PREFIX`` | ``inbox_prefix`` |

Exactly one way of authenticating may be set; a contradictory mix is a
``ValueError`` at construction, not a surprise at connect time. Secrets
(password, token) never appear in ``repr``.
"""

from __future__ import annotations

import importlib.util
import os
import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

__all__ = ["ENV_VARS", "NatsCredentials"]

ENV_VARS: dict[str, str] = {
    "user": "CAIO_NATS_USER",
    "password": "CAIO_NATS_PASSWORD",
    "token": "CAIO_NATS_TOKEN",
    "nkey_seed_file": "CAIO_NATS_NKEY_SEED",
    "creds_file": "CAIO_NATS_CREDS",
    "tls_ca_file": "CAIO_NATS_TLS_CA",
    "tls_cert_file": "CAIO_NATS_TLS_CERT",
    "tls_key_file": "CAIO_NATS_TLS_KEY",
    "tls_hostname": "CAIO_NATS_TLS_HOSTNAME",
    "inbox_prefix": "CAIO_NATS_INBOX_PREFIX",
}
_SECRETS = frozenset({"password", "token"})
# Subject tokens without wildcards or whitespace; nats-py appends ".<nuid>".
_INBOX_PREFIX = re.compile(r"^[^.*>\s]+(\.[^.*>\s]+)*$")


def _nkeys_installed() -> bool:
    """nats-py signs nkey / JWT challenges with the optional ``nkeys`` package."""
    return importlib.util.find_spec("nkeys") is not None


@dataclass(frozen=True, slots=True)
class NatsCredentials:
    """One process's NATS identity and transport security; every field optional."""

    user: str | None = None
    password: str | None = None
    token: str | None = None
    nkey_seed_file: str | None = None
    creds_file: str | None = None
    tls_ca_file: str | None = None
    tls_cert_file: str | None = None
    tls_key_file: str | None = None
    tls_hostname: str | None = None
    inbox_prefix: str | None = None

    def __post_init__(self) -> None:
        for f in fields(self):
            if getattr(self, f.name) == "":
                raise ValueError(f"{f.name} is empty; leave it unset instead")
        if (self.user is None) != (self.password is None):
            raise ValueError(
                f"{ENV_VARS['user']} and {ENV_VARS['password']} go together: set both or neither"
            )
        methods = [
            name
            for name, value in (
                ("user/password", self.user),
                ("token", self.token),
                ("nkey seed", self.nkey_seed_file),
                ("creds file", self.creds_file),
            )
            if value is not None
        ]
        if len(methods) > 1:
            raise ValueError(f"choose one way to authenticate to NATS, not {' and '.join(methods)}")
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError(
                f"{ENV_VARS['tls_cert_file']} and {ENV_VARS['tls_key_file']} go together: "
                "a client certificate needs its key"
            )
        if self.tls_hostname is not None and not self.uses_tls:
            raise ValueError(
                f"{ENV_VARS['tls_hostname']} is set but no TLS file is "
                f"({ENV_VARS['tls_ca_file']} or {ENV_VARS['tls_cert_file']})"
            )
        if self.inbox_prefix is not None and not _INBOX_PREFIX.fullmatch(self.inbox_prefix):
            raise ValueError(
                f"inbox prefix {self.inbox_prefix!r} must be a plain subject: "
                "no wildcards, spaces, empty tokens or trailing dot"
            )

    def __repr__(self) -> str:
        shown = []
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            shown.append(f"{f.name}=<hidden>" if f.name in _SECRETS else f"{f.name}={value!r}")
        return f"NatsCredentials({', '.join(shown)})"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> NatsCredentials:
        """Read the ``CAIO_NATS_*`` variables; unset and empty ones count as absent."""
        env = os.environ if env is None else env
        values = {name: env.get(var) or None for name, var in ENV_VARS.items()}
        return cls(**values)

    @property
    def uses_tls(self) -> bool:
        return self.tls_ca_file is not None or self.tls_cert_file is not None

    def ssl_context(self) -> ssl.SSLContext | None:
        """A client context verifying the server (with ``tls_ca_file`` if given,
        else the system's CAs) and presenting the client certificate if given."""
        if not self.uses_tls:
            return None
        for name in ("tls_ca_file", "tls_cert_file", "tls_key_file"):
            self._require_file(name)
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=self.tls_ca_file)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        if self.tls_cert_file is not None:
            try:
                context.load_cert_chain(self.tls_cert_file, self.tls_key_file)
            except ssl.SSLError as exc:
                raise ValueError(
                    f"{ENV_VARS['tls_cert_file']} / {ENV_VARS['tls_key_file']}: "
                    f"not a certificate and its matching key ({exc.reason or exc})"
                ) from None
        return context

    def connect_options(self) -> dict[str, Any]:
        """Keyword arguments for ``nats.connect``; empty when nothing is set."""
        options: dict[str, Any] = {}
        if self.user is not None:
            options["user"] = self.user
            options["password"] = self.password
        if self.token is not None:
            options["token"] = self.token
        needs_nkeys = self.nkey_seed_file is not None or self.creds_file is not None
        if needs_nkeys and not _nkeys_installed():
            raise ValueError(
                "NATS nkey and creds authentication needs the 'nkeys' package (pip install nkeys)"
            )
        if self.nkey_seed_file is not None:
            options["nkeys_seed"] = self._require_file("nkey_seed_file")
        if self.creds_file is not None:
            options["user_credentials"] = self._require_file("creds_file")
        context = self.ssl_context()
        if context is not None:
            options["tls"] = context
        if self.tls_hostname is not None:
            options["tls_hostname"] = self.tls_hostname
        if self.inbox_prefix is not None:
            options["inbox_prefix"] = self.inbox_prefix
        return options

    def _require_file(self, name: str) -> str | None:
        value: str | None = getattr(self, name)
        if value is not None and not Path(value).is_file():
            raise ValueError(f"{ENV_VARS[name]}: no such file: {value}")
        return value
