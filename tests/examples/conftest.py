"""Fixtures for the example workers in examples/: how to run each, or why not.

The examples are written in other languages from docs/protocol.md alone, so
what they need comes from outside the venv: Node.js with the example's
node_modules (``npm ci --prefix examples/js-worker``), and Go with Debian's
nats.go source. In CI (``CI`` or ``CAIO_TEST_CI`` set) a missing node_modules is a
failure, not a skip: the JavaScript example must run there.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.security.conftest import make_key, secure_router

__all__ = ["make_key", "secure_router"]  # the authenticated router and its keys, reused

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
JS_WORKER = EXAMPLES / "js-worker"
GO_WORKER = EXAMPLES / "go-worker"
# Debian's golang-github-nats-io-go-nats-dev puts nats.go here, for GOPATH builds.
DEBIAN_GOPATH = Path("/usr/share/gocode")


def in_ci() -> bool:
    return any(
        os.environ.get(name, "") not in ("", "0", "false") for name in ("CI", "CAIO_TEST_CI")
    )


@pytest.fixture(scope="session")
def js_worker_argv() -> list[str]:
    """``node worker.mjs``; skipped (failed in CI) when Node or node_modules is missing."""
    node = shutil.which("node")
    reason = None
    if node is None:
        reason = "node is not installed"
    elif not all(
        (JS_WORKER / "node_modules" / "@nats-io" / name).is_dir()
        for name in ("transport-node", "services")
    ):
        reason = (
            "examples/js-worker/node_modules is missing: run `npm ci --prefix examples/js-worker`"
        )
    if reason is not None:
        if in_ci():
            pytest.fail(f"the JavaScript example must run in CI, but {reason}", pytrace=False)
        pytest.skip(reason)
    assert node is not None
    return [node, str(JS_WORKER / "worker.mjs")]


@pytest.fixture(scope="session")
def go_worker_argv(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The Go example, compiled once per session; skipped when Go or nats.go is missing."""
    go = shutil.which("go")
    if go is None:
        pytest.skip(
            "go is not installed (apt-get install golang-go golang-github-nats-io-go-nats-dev)"
        )
    if not (DEBIAN_GOPATH / "src" / "github.com" / "nats-io" / "nats.go").is_dir():
        pytest.skip("nats.go source is missing (apt-get install golang-github-nats-io-go-nats-dev)")
    binary = tmp_path_factory.mktemp("go-worker") / "go-worker"
    # GOPATH mode against Debian's source: no module proxy is needed (or reachable).
    env = {**os.environ, "GO111MODULE": "off", "GOPATH": str(DEBIAN_GOPATH), "GOFLAGS": ""}
    if "HOME" not in env and "GOCACHE" not in env:
        env["GOCACHE"] = str(tmp_path_factory.mktemp("gocache"))
    built = subprocess.run(
        [go, "build", "-o", str(binary), "."],
        cwd=GO_WORKER,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert built.returncode == 0, f"go build failed:\n{built.stdout}{built.stderr}"
    return [str(binary)]
