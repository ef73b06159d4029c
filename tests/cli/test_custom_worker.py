"""`caio worker module:Class --contract FILE` runs your own BridgeWorker like a built-in."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import pytest
from nats.aio.client import Client as NATS

from caio_broker.router import Router
from caio_integration.subjects import Subjects
from tests.cli.conftest import CAIO, Ran, caio_now
from tests.integration.conftest import request

WORKER_MODULE = """
from typing import ClassVar

from caio_integration.errors import InvalidRequest
from caio_integration.wire import ServiceRequest
from caio_integration.bridge import BridgeWorker, WorkResult


class ShoutWorker(BridgeWorker):
    implemented_capabilities: ClassVar[frozenset[str]] = frozenset({"shouting"})

    async def handle(self, capability: str, request: ServiceRequest) -> WorkResult:
        text = request.context.get("text")
        if not isinstance(text, str):
            raise InvalidRequest("context.text must be a string")
        return WorkResult({"shouted": text.upper()}, {"chars": len(text)})


class WhisperWorker(ShoutWorker):
    implemented_capabilities: ClassVar[frozenset[str]] = frozenset({"whispering"})


class NotAWorker:
    pass
"""

CONTRACT = """\
service:
  id: shouter
  name: Shouts back
  version: 1.0.0
  capabilities:
    - type: shouting
"""


@pytest.fixture(autouse=True)
def my_worker_files() -> None:
    """A user's worker module and its contract, in the directory `caio worker` runs in."""
    Path("my_workers.py").write_text(WORKER_MODULE)
    Path("shouter.yaml").write_text(CONTRACT)


async def test_a_custom_worker_is_registered_served_and_routed_to(
    nats_url: str, prefix: str, router: Router, nc: NATS, subjects: Subjects
) -> None:
    worker = await asyncio.create_subprocess_exec(
        CAIO,
        "worker",
        "my_workers:ShoutWorker",
        "--contract",
        "shouter.yaml",
        "--nats-url",
        nats_url,
        "--prefix",
        prefix,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        assert await router.liveness.wait_available("shouter", timeout_s=30)
        reply = await request(
            nc, subjects.route("shouting"), {"context": {"text": "hello from my worker"}}
        )
        refused = await request(nc, subjects.route("shouting"), {"context": {}})
        worker.send_signal(signal.SIGINT)
        output, _ = await asyncio.wait_for(worker.communicate(), 30)
    finally:
        if worker.returncode is None:
            worker.kill()
            await worker.wait()

    assert reply["status"] == "ok", reply
    assert reply["service_id"] == "shouter"
    assert reply["result"] == {"shouted": "HELLO FROM MY WORKER"}
    assert refused["status"] == "error"
    assert refused["error"]["code"] == "invalid_request"
    assert worker.returncode == 0, output.decode()
    assert b"contract_registered" in output


def one_line_error(ran: Ran) -> str:
    assert ran.code == 1, ran.text
    assert "Traceback" not in ran.text
    [line] = ran.err.strip().splitlines()
    return line


NOWHERE = ("--nats-url", "nats://127.0.0.1:1")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["no_such_module:Worker", "--contract", "shouter.yaml"], "no module named"),
        (["my_workers:Missing", "--contract", "shouter.yaml"], "has no 'Missing'"),
        (["my_workers:NotAWorker", "--contract", "shouter.yaml"], "not a subclass of"),
        (["my_workers:ShoutWorker"], "needs its contract: --contract FILE"),
        (["my_workers:ShoutWorker", "--contract", "nope.yaml"], "cannot read nope.yaml"),
        (["my_workers:WhisperWorker", "--contract", "shouter.yaml"], "implements ['whispering']"),
        ([":Worker", "--contract", "shouter.yaml"], "module:Class"),
        (["gpt"], "built-in workers: codex, local-review, or your own"),
    ],
)
def test_each_mistake_naming_a_worker_is_one_line(args: list[str], expected: str) -> None:
    line = one_line_error(caio_now("worker", *args, *NOWHERE))

    assert expected in line


def test_the_help_shows_both_forms() -> None:
    ran = caio_now("worker", "--help", env={"COLUMNS": "120"})

    assert ran.code == 0
    assert "module:Class" in ran.out
    assert "local-review" in ran.out


def test_the_catalog_builds_a_custom_worker_from_the_current_directory(
    nats_url: str, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from caio.workers.catalog import create_worker
    from caio_integration.bridge import WorkerConfig

    monkeypatch.syspath_prepend(Path.cwd())  # as the loader does, undone after the test
    monkeypatch.delitem(sys.modules, "my_workers", raising=False)

    worker = create_worker(
        "my_workers:ShoutWorker",
        WorkerConfig(nats_url=nats_url, prefix=prefix),
        Path("shouter.yaml"),
    )

    assert type(worker).__name__ == "ShoutWorker"
    assert worker.service_id == "shouter"
    assert worker.contract.capability_names == ("shouting",)
    with pytest.raises(ValueError, match="needs its contract"):
        create_worker("my_workers:ShoutWorker", WorkerConfig(nats_url=nats_url, prefix=prefix))
