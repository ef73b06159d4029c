"""`caio mqtt-ingress` runs the ingress: a device routes through the command, and
SIGTERM stops it cleanly."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from tests.integration.conftest import FakeService
from tests.mqtt.conftest import CAIO_PASSWORD, Device, MqttServer
from tests.mqtt.test_mqtt_ingress import ROUTE, body, reply_topic

CAIO = str(Path(sys.executable).parent / "caio")


async def test_the_command_serves_devices_until_sigterm(
    mqtt_server: MqttServer, device: Device, caller_key: str, reviewer: FakeService
) -> None:
    process = await asyncio.create_subprocess_exec(
        CAIO,
        "mqtt-ingress",
        "--nats-url",
        f"nats://{mqtt_server.server.host}:{mqtt_server.server.port}",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        # Credentials as a deployment passes them: CAIO_NATS_USER/PASSWORD, not the URL.
        env={
            **os.environ,
            "CAIO_LOG_FORMAT": "json",
            "CAIO_NATS_USER": "caio",
            "CAIO_NATS_PASSWORD": CAIO_PASSWORD,
        },
    )
    assert process.stderr is not None
    try:
        # Ready once it logs that it subscribed (it flushes the subscription first).
        async with asyncio.timeout(10):
            while b"mqtt_ingress_started" not in (line := await process.stderr.readline()):
                assert line, "caio mqtt-ingress exited before it started"
        topic = reply_topic()
        await device.subscribe(topic)
        await device.publish(ROUTE, body(caller_key, topic))
        reply = await device.next_message(topic)
        assert reply["status"] == "ok", reply
        assert reply["service_id"] == "reviewer"
        assert len(reviewer.received) == 1
    finally:
        process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), timeout=10)
    assert code == 0
