"""``python -m caio_http_bridge CONTRACT``: the bridge as a process, as ``caio bridge http``."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys

from fake_upstream import FakeUpstream
from http_bridge_support import EXAMPLES
from nats.aio.client import Client as NATS

from caio_integration.subjects import Subjects
from caio_integration.testing import ask_service


async def test_the_command_serves_a_contract_until_it_is_told_to_stop(
    caio_nats_url: str, caio_prefix: str, caio_nc: NATS, upstream: FakeUpstream
) -> None:
    heartbeats = await caio_nc.subscribe(Subjects(caio_prefix).heartbeat("sentiment-model"))
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "caio_http_bridge",
        str(EXAMPLES / "sentiment-model.yaml"),
        "--nats-url",
        caio_nats_url,
        "--prefix",
        caio_prefix,
        "--base-url",
        upstream.base_url,
        "--no-register",
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        first = json.loads((await heartbeats.next_msg(timeout=30)).data)
        answer = await ask_service(
            caio_nc,
            "sentiment-model",
            "sentiment_analysis",
            {"texts": ["good"]},
            prefix=caio_prefix,
        )
    finally:
        await heartbeats.unsubscribe()  # unread beats would hold up the connection's drain
        process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), timeout=30)

    assert first["service_id"] == "sentiment-model"
    assert answer.result == {"predictions": [{"label": "positive", "score": 0.9}]}
    assert code == 0


async def test_the_command_refuses_a_contract_it_cannot_serve_with_every_reason() -> None:
    contract = EXAMPLES.parent / "local-review.yaml"  # served by its worker on NATS, not HTTP
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "caio_http_bridge",
        str(contract),
        "--nats-url",
        "nats://127.0.0.1:9",  # never reached: the contract is refused first
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), timeout=30)

    assert process.returncode == 2
    assert "$.service.api: protocol http is required, found api.protocol 'nats'" in stderr.decode()
