"""The other side of the comparison: each gateway as its own process, before one fake upstream.

- ``direct``: no gateway; the load client calls the fake upstream (the baseline);
- ``litellm``: LiteLLM's proxy (``benchmarks/openai_side/litellm_proxy.py``:
  its own venv, offline config, one worker, no database), one deployment;
- ``portkey``: Portkey's open-source gateway (npm ``@portkey-ai/gateway``),
  ``node build/start-server.js --port=P --headless``, told per request where
  the upstream is with its documented headers ``x-portkey-provider: openai``
  and ``x-portkey-custom-host`` (127.0.0.1 is on its default trusted-host list);
- ``tensorzero``: TensorZero's gateway embedded in a Python process
  (``tensorzero_serve``), with one model whose one provider is the fake
  upstream (``type = "openai"``), observability off (no ClickHouse).

Every context manager yields a ``Peer``: the URL, model and headers the load
client uses, and the processes whose CPU is charged to the gateway.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.gateways.install import (
    PORTKEY_VERSION,
    TENSORZERO_VERSION,
    ensure_portkey,
    ensure_tensorzero,
    node,
)
from benchmarks.gateways.server import ServerProcess, free_port, http_answers
from benchmarks.openai_side.litellm_proxy import LITELLM_VERSION, MODEL_NAME, LiteLLMProxy

__all__ = ["Peer", "direct", "litellm", "portkey", "tensorzero"]

UPSTREAM_MODEL = "fake-ok"
UPSTREAM_AUTH = "Authorization: Bearer sk-bench-fake"
_SERVE_TENSORZERO = Path(__file__).with_name("tensorzero_serve.py")
# Every call here is local: no peer may go through an HTTP proxy.
_DROP_ENV = frozenset(
    {"HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"}
)


@dataclass(frozen=True, slots=True)
class Peer:
    """One path the load client can call, and what runs it."""

    name: str
    label: str
    version: str
    chat_url: str
    model: str
    headers: tuple[str, ...]  # "Name: value", as the load client takes them
    pids: Mapping[str, int] = field(default_factory=dict)  # CPU charged to the gateway
    context_pids: Mapping[str, int] = field(default_factory=dict)  # reported, not charged

    @property
    def processes(self) -> int:
        return len(self.pids)


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _DROP_ENV}
    env.update(NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost", **extra)
    return env


@contextmanager
def direct(upstream: str) -> Iterator[Peer]:
    yield Peer(
        name="direct",
        label="fake upstream, direct",
        version="-",
        chat_url=f"{upstream}/chat/completions",
        model=UPSTREAM_MODEL,
        headers=(UPSTREAM_AUTH,),
    )


@contextmanager
def litellm(upstream: str) -> Iterator[Peer]:
    with LiteLLMProxy(upstream, deployments=1) as proxy:
        yield Peer(
            name="litellm",
            label="LiteLLM proxy",
            version=f"litellm {LITELLM_VERSION}",
            chat_url=proxy.chat_url,
            model=MODEL_NAME,
            headers=(proxy.auth_header,),
            pids={"litellm": proxy.pid},
        )


def _node_version(executable: str) -> str:
    done = subprocess.run(
        [executable, "--version"], capture_output=True, text=True, check=False, timeout=10
    )
    return done.stdout.strip() or "unknown"


@contextmanager
def portkey(upstream: str) -> Iterator[Peer]:
    entry = ensure_portkey()
    executable = node()
    port = free_port()
    argv = [executable, str(entry), f"--port={port}", "--headless"]
    env = _env(NODE_ENV="production")
    with ServerProcess(
        "portkey", argv, probe=http_answers(f"http://127.0.0.1:{port}/"), env=env
    ) as server:
        yield Peer(
            name="portkey",
            label="Portkey gateway",
            version=f"@portkey-ai/gateway {PORTKEY_VERSION}, node {_node_version(executable)}",
            chat_url=f"http://127.0.0.1:{port}/v1/chat/completions",
            model=UPSTREAM_MODEL,
            headers=(
                "x-portkey-provider: openai",
                f"x-portkey-custom-host: {upstream}",
                UPSTREAM_AUTH,
            ),
            pids={"portkey": server.pid},
        )


TENSORZERO_CONFIG = """\
# No ClickHouse: TensorZero stores no inferences and runs as a stateless gateway.
[gateway.observability]
enabled = false

[models.bench]
routing = ["fake"]

[models.bench.providers.fake]
type = "openai"
api_base = "{upstream}/"
model_name = "{model}"
api_key_location = "none"
"""


@contextmanager
def tensorzero(upstream: str) -> Iterator[Peer]:
    python = ensure_tensorzero()
    with tempfile.TemporaryDirectory(prefix="caio-bench-tensorzero-") as folder:
        config = Path(folder) / "tensorzero.toml"
        config.write_text(TENSORZERO_CONFIG.format(upstream=upstream, model=UPSTREAM_MODEL))
        env = {k: v for k, v in _env().items() if not k.startswith("TENSORZERO_")}
        env.update(TENSORZERO_DISABLE_PSEUDONYMOUS_USAGE_ANALYTICS="1", RUST_LOG="warn")
        argv = [str(python), str(_SERVE_TENSORZERO), "--config", str(config)]
        with ServerProcess("tensorzero", argv, env=env) as server:
            server.wait_until(lambda: server.ready_info() is not None, 60.0)
            info = server.ready_info()
            assert info is not None
            yield Peer(
                name="tensorzero",
                label="TensorZero gateway (embedded)",
                version=f"tensorzero {TENSORZERO_VERSION}",
                chat_url=f"{info['base_url']}/chat/completions",
                model="tensorzero::model_name::bench",
                headers=(),
                pids={"tensorzero": server.pid},
            )
