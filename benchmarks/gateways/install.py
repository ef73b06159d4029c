"""Where the other gateways come from: pinned versions, installed once under ~/.cache.

None of them can live in the project's venv, so each gets its own place
under ``~/.cache/caio-bench`` (as LiteLLM does, ``litellm_proxy``):

- Portkey's gateway, ``npm install @portkey-ai/gateway`` into ``portkey/``,
  run with ``node``. The npm package ships no lockfile and asks for
  ``@hono/node-server ^1.3.3``; npm then picks 1.19, whose responses break
  every streamed answer (``TypeError: immutable``, Portkey-AI/gateway#1389).
  So its dependencies are pinned (npm ``overrides``) to the versions in
  Portkey's own ``package-lock.json`` for that release;
- TensorZero, ``pip install tensorzero`` into the venv ``tensorzero/``. The
  wheel carries TensorZero's Rust gateway as a Python extension, and its
  ``_start_http_gateway`` (what ``patch_openai_client`` uses) serves the
  gateway's HTTP API from inside a Python process: no Docker, and with
  observability off, no ClickHouse or Postgres.

A marker file holding the install spec makes "already installed" one file
read, so ``--quick`` can run a peer only when it is already here.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.openai_side.litellm_proxy import DEFAULT_VENV as LITELLM_VENV
from benchmarks.openai_side.litellm_proxy import LITELLM_SPEC

__all__ = [
    "CACHE",
    "PORTKEY_SPEC",
    "TENSORZERO_SPEC",
    "PeerUnavailable",
    "ensure_portkey",
    "ensure_tensorzero",
    "litellm_cached",
    "portkey_cached",
    "tensorzero_cached",
]

CACHE = Path.home() / ".cache" / "caio-bench"
PORTKEY_VERSION = "1.15.2"
PORTKEY_SPEC = f"@portkey-ai/gateway@{PORTKEY_VERSION}"
PORTKEY_DIR = CACHE / "portkey"
PORTKEY_ENTRY = PORTKEY_DIR / "node_modules" / "@portkey-ai" / "gateway" / "build"
# Portkey's package-lock.json at v1.15.2: what its own builds and tests run on.
PORTKEY_LOCKED = {
    "@aws-crypto/sha256-js": "5.2.0",
    "@cfworker/json-schema": "4.0.3",
    "@hono/node-server": "1.13.5",
    "@hono/node-ws": "1.2.0",
    "@portkey-ai/mustache": "2.1.3",
    "@smithy/signature-v4": "2.1.1",
    "async-retry": "1.3.3",
    "avsc": "5.7.7",
    "hono": "4.9.7",
    "ioredis": "5.8.0",
    "jose": "6.0.11",
    "ws": "8.18.3",
    "zod": "3.25.76",
}
_PORTKEY_MARK = f"{PORTKEY_SPEC} {json.dumps(PORTKEY_LOCKED, sort_keys=True)}"
TENSORZERO_VERSION = "2026.6.0"
TENSORZERO_SPEC = f"tensorzero=={TENSORZERO_VERSION}"
TENSORZERO_VENV = CACHE / "tensorzero"
_MARKER = ".caio-bench-installed"


class PeerUnavailable(RuntimeError):
    """A peer cannot run here (no node, no network for its first install...): it is skipped."""


def _log(msg: str) -> None:
    sys.stderr.write(f"[gateways] {msg}\n")
    sys.stderr.flush()


def _installed(place: Path, spec: str) -> bool:
    marker = place / _MARKER
    return marker.exists() and marker.read_text().strip() == spec


def _run(argv: list[str], cwd: Path | None, what: str) -> None:
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False, timeout=900)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout)[-1500:]
        raise PeerUnavailable(f"{what} failed (exit {done.returncode}): {tail}")


def litellm_cached() -> bool:
    return (LITELLM_VENV / "bin" / "litellm").exists() and _installed(LITELLM_VENV, LITELLM_SPEC)


def portkey_cached() -> bool:
    return (PORTKEY_ENTRY / "start-server.js").exists() and _installed(PORTKEY_DIR, _PORTKEY_MARK)


def tensorzero_cached() -> bool:
    python = TENSORZERO_VENV / "bin" / "python"
    return python.exists() and _installed(TENSORZERO_VENV, TENSORZERO_SPEC)


def node() -> str:
    found = shutil.which("node")
    if found is None:
        raise PeerUnavailable("Portkey's gateway needs Node.js: `node` is not on PATH")
    return found


def ensure_portkey() -> Path:
    """Portkey's server script (``build/start-server.js``), installed with npm if missing."""
    node()
    entry = PORTKEY_ENTRY / "start-server.js"
    if portkey_cached():
        return entry
    npm = shutil.which("npm")
    if npm is None:
        raise PeerUnavailable("installing Portkey's gateway needs npm, which is not on PATH")
    started = time.monotonic()
    _log(f"installing {PORTKEY_SPEC} into {PORTKEY_DIR}")
    PORTKEY_DIR.mkdir(parents=True, exist_ok=True)
    package = {"name": "caio-bench-portkey", "private": True, "overrides": PORTKEY_LOCKED}
    (PORTKEY_DIR / "package.json").write_text(json.dumps(package, indent=2) + "\n")
    for stale in (PORTKEY_DIR / "package-lock.json", PORTKEY_DIR / _MARKER):
        stale.unlink(missing_ok=True)
    shutil.rmtree(PORTKEY_DIR / "node_modules", ignore_errors=True)
    _run([npm, "install", "--no-audit", "--no-fund", PORTKEY_SPEC], PORTKEY_DIR, "npm install")
    if not entry.exists():
        raise PeerUnavailable(f"{PORTKEY_SPEC} installed but {entry} is missing")
    (PORTKEY_DIR / _MARKER).write_text(_PORTKEY_MARK + "\n")
    _log(f"Portkey ready in {time.monotonic() - started:.0f} s")
    return entry


def ensure_tensorzero() -> Path:
    """The TensorZero venv's python, created and filled with pip if missing."""
    python = TENSORZERO_VENV / "bin" / "python"
    if tensorzero_cached():
        return python
    started = time.monotonic()
    if not python.exists():
        _log(f"creating venv at {TENSORZERO_VENV}")
        TENSORZERO_VENV.parent.mkdir(parents=True, exist_ok=True)
        # From inside a venv, `-m venv` still builds on the base interpreter.
        _run([sys.executable, "-m", "venv", str(TENSORZERO_VENV)], None, "python -m venv")
    _log(f"installing {TENSORZERO_SPEC}")
    _run([str(python), "-m", "pip", "install", "--quiet", TENSORZERO_SPEC], None, "pip install")
    (TENSORZERO_VENV / _MARKER).write_text(TENSORZERO_SPEC + "\n")
    _log(f"TensorZero ready in {time.monotonic() - started:.0f} s")
    return python
