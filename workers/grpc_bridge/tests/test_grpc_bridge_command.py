"""``python -m caio_grpc_bridge CONTRACT`` and ``caio bridge grpc CONTRACT``: the bridge as a
process, serving until it is told to stop, or refusing a contract it cannot serve."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import sys
from pathlib import Path

import pytest
from grpc_bridge_support import SERVICE, contract_document, write_contract
from nats.aio.client import Client as NATS

from caio_integration.subjects import Subjects
from caio_integration.testing import ask_service

# The child finds this package however the tests found it (installed, or on PYTHONPATH).
ENV = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": os.pathsep.join(sys.path)}


async def test_the_command_serves_a_contract_until_it_is_told_to_stop(
    caio_nats_url: str, caio_prefix: str, caio_nc: NATS, tmp_path: Path, grpc_target: str
) -> None:
    heartbeats = await caio_nc.subscribe(Subjects(caio_prefix).heartbeat("greeter"))
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "caio_grpc_bridge",
        str(write_contract(tmp_path, contract_document(grpc_target))),
        "--nats-url",
        caio_nats_url,
        "--prefix",
        caio_prefix,
        "--no-register",
        env=ENV,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        first = json.loads((await heartbeats.next_msg(timeout=30)).data)
        answer = await ask_service(caio_nc, "greeter", "greet", {"name": "Bo"}, prefix=caio_prefix)
    finally:
        await heartbeats.unsubscribe()
        process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), timeout=30)

    assert first["service_id"] == "greeter"
    assert answer.result["message"] == "Hello, Bo!"
    assert code == 0


async def test_caio_bridge_grpc_refuses_a_method_the_server_lacks_in_one_error(
    tmp_path: Path, grpc_target: str
) -> None:
    pytest.importorskip("caio.cli")
    caio = shutil.which("caio", path=str(Path(sys.executable).parent))
    if caio is None:
        pytest.skip("the caio command is not installed")
    document = contract_document(grpc_target)
    document["service"]["api"]["methods"][0]["method"] = f"{SERVICE}/Hello"

    process = await asyncio.create_subprocess_exec(
        caio,
        "bridge",
        "grpc",
        str(write_contract(tmp_path, document)),
        "--nats-url",
        "nats://127.0.0.1:9",  # never reached: the methods are found first
        env=ENV,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, raw = await asyncio.wait_for(process.communicate(), timeout=60)
    stderr = raw.decode()

    assert process.returncode == 1, stderr
    assert "Traceback" not in stderr
    assert stderr.startswith("error: the gRPC bridge cannot serve greeter")
    assert f"$.service.api.methods[0].method: {SERVICE} has no method 'Hello'" in stderr
