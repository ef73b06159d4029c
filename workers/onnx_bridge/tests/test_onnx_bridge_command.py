"""``python -m caio_onnx_bridge CONTRACT`` and ``caio bridge onnx CONTRACT``: the bridge as a
process, serving until it is told to stop, or refusing a contract it cannot serve."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from nats.aio.client import Client as NATS
from onnx_bridge_support import contract_document, write_contract

from caio_integration.subjects import Subjects
from caio_integration.testing import ask_service

# The child finds this package however the tests found it (installed, or on PYTHONPATH).
ENV = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": os.pathsep.join(sys.path)}


async def test_the_command_serves_a_contract_until_it_is_told_to_stop(
    caio_nats_url: str, caio_prefix: str, caio_nc: NATS, tmp_path: Path
) -> None:
    heartbeats = await caio_nc.subscribe(Subjects(caio_prefix).heartbeat("linear"))
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "caio_onnx_bridge",
        str(write_contract(tmp_path)),
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
        answer = await ask_service(
            caio_nc,
            "linear",
            "linear_predict",
            {"features": [[1, 1, 1]], "ids": [7]},
            prefix=caio_prefix,
        )
    finally:
        await heartbeats.unsubscribe()
        process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), timeout=30)

    assert first["service_id"] == "linear"
    assert answer.result == {"scores": [[9.5, 11.0]], "next_ids": [8]}
    assert code == 0


async def test_the_command_refuses_a_missing_model_before_connecting(tmp_path: Path) -> None:
    contract = write_contract(tmp_path, contract_document(model="gone.onnx"))
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "caio_onnx_bridge",
        str(contract),
        "--nats-url",
        "nats://127.0.0.1:9",  # never reached: the contract is refused first
        env=ENV,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), timeout=30)

    assert process.returncode == 2
    assert f"$.service.api.model: no such model file: {tmp_path / 'gone.onnx'}" in (stderr.decode())


def test_caio_bridge_onnx_refuses_an_input_the_model_lacks_in_one_error(tmp_path: Path) -> None:
    pytest.importorskip("caio.cli")
    caio = shutil.which("caio", path=str(Path(sys.executable).parent))
    if caio is None:
        pytest.skip("the caio command is not installed")
    binding = {"capability": "linear_predict", "inputs": {"x": "features", "id": "ids"}}
    contract = write_contract(tmp_path, contract_document(bindings=[binding]))

    done = subprocess.run(
        [caio, "bridge", "onnx", str(contract), "--nats-url", "nats://127.0.0.1:9"],
        capture_output=True,
        text=True,
        env=ENV,
        stdin=subprocess.DEVNULL,
        timeout=60,
        check=False,
    )

    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("error: the ONNX bridge cannot serve linear")
    assert "$.service.api.bindings[0].inputs: the model has no input 'id'" in done.stderr
