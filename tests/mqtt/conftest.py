"""MQTT fixtures: nats-server on deploy/nats/mqtt/nats-server.conf, a router with
keys on, the ingress, and paho-mqtt devices.

The server runs the deploy file itself, with only the MQTT listen line moved
to a free loopback port (nats-server has no flag for it) and the passwords in
its environment; the client port and store dir are flags, as the file expects.
"""

from __future__ import annotations

import asyncio
import re
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nats
import orjson
import paho.mqtt.client as mqtt
import pytest
from nats.aio.client import Client as NATS

from caio.mqtt_ingress import MqttIngress, MqttIngressConfig
from caio_broker.router import Router, RouterConfig
from caio_integration.natsserver import NatsServer, NatsServerConfig
from caio_integration.subjects import Subjects
from tests.integration.conftest import FakeService, contract

REPO = Path(__file__).resolve().parents[2]
MQTT_CONF = REPO / "deploy" / "nats" / "mqtt" / "nats-server.conf"
CAIO_PASSWORD = "caio-test-password"
DEVICE = "device-1"
DEVICE_PASSWORD = "device-1-test-password"
PREFIX = "caio"  # the deploy file's permissions name the default prefix; the server is ours alone
WAIT_S = 5.0


@dataclass
class MqttServer:
    server: NatsServer
    mqtt_port: int

    @property
    def url(self) -> str:
        """CAIO's processes connect as the file's `caio` user."""
        return f"nats://caio:{CAIO_PASSWORD}@{self.server.host}:{self.server.port}"


@pytest.fixture
def mqtt_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[MqttServer]:
    text = MQTT_CONF.read_text()
    assert "listen: 0.0.0.0:1883" in text
    conf = tmp_path / "mqtt.conf"
    conf.write_text(text.replace("listen: 0.0.0.0:1883", "listen: 127.0.0.1:-1"))
    monkeypatch.setenv("CAIO_PROCESSES_NATS_PASSWORD", CAIO_PASSWORD)
    monkeypatch.setenv("CAIO_MQTT_DEVICE_1_PASSWORD", DEVICE_PASSWORD)
    config = NatsServerConfig(store_dir=tmp_path / "store", config_file=conf)
    with NatsServer(config) as server:
        found = re.search(r"Listening for MQTT clients on mqtt://[^:]+:(\d+)", server.log_tail(200))
        assert found, server.log_tail()
        yield MqttServer(server, int(found.group(1)))


@pytest.fixture
async def nc(mqtt_server: MqttServer) -> AsyncIterator[NATS]:
    client = await nats.connect(mqtt_server.url)
    yield client
    await client.drain()


@pytest.fixture
async def router(mqtt_server: MqttServer) -> AsyncIterator[Router]:
    service = Router(RouterConfig(nats_url=mqtt_server.url, prefix=PREFIX))  # API keys required
    await service.start()
    yield service
    await service.stop()


@pytest.fixture
async def ingress(mqtt_server: MqttServer) -> AsyncIterator[MqttIngress]:
    service = await MqttIngress(MqttIngressConfig(nats_url=mqtt_server.url, prefix=PREFIX)).start()
    yield service
    await service.stop()


@pytest.fixture
async def caller_key(router: Router) -> str:
    assert router.keys is not None
    secret, _ = await router.keys.create("mqtt-device-1", "caller")
    return secret


@pytest.fixture
async def reviewer(nc: NATS, router: Router) -> AsyncIterator[FakeService]:
    """A registered, heartbeating ``code_review`` service."""
    assert router.keys is not None
    admin, _ = await router.keys.create("root", "admin")
    body = orjson.dumps({"contract": contract("reviewer", ["code_review"])})
    headers = {"Authorization": f"Bearer {admin}"}
    msg = await nc.request(Subjects(PREFIX).registry("register"), body, timeout=5, headers=headers)
    assert orjson.loads(msg.data)["status"] == "registered", msg.data
    service = await FakeService(nc, Subjects(PREFIX), "reviewer", ["code_review"]).start()
    await service.beat()
    assert await router.liveness.wait_available("reviewer", timeout_s=5)
    yield service
    await service.unsubscribe()


class Device:
    """A paho-mqtt client (MQTT 3.1.1) as the ``device-1`` user; callbacks set events."""

    def __init__(self, port: int, username: str = DEVICE, password: str = DEVICE_PASSWORD) -> None:
        self.port = port
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=f"{username}-{uuid.uuid4().hex[:8]}",
            protocol=mqtt.MQTTv311,
        )
        self.client.username_pw_set(username, password)
        self.connected = threading.Event()
        self.subscribed = threading.Event()
        self.connect_reason: Any = None
        self.granted: list[Any] = []
        self.messages: list[tuple[str, bytes]] = []
        self.arrived = threading.Condition()
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        self.connect_reason = reason
        self.connected.set()

    def _on_subscribe(
        self, client: mqtt.Client, userdata: Any, mid: int, reasons: Any, props: Any
    ) -> None:
        self.granted = list(reasons)
        self.subscribed.set()

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        with self.arrived:
            self.messages.append((message.topic, message.payload))
            self.arrived.notify_all()

    async def connect(self) -> Device:
        self.client.connect("127.0.0.1", self.port, keepalive=30)
        self.client.loop_start()
        assert await asyncio.to_thread(self.connected.wait, WAIT_S), "no CONNACK"
        assert not self.connect_reason.is_failure, self.connect_reason
        return self

    async def subscribe(self, topic: str, qos: int = 1) -> None:
        self.subscribed.clear()
        self.client.subscribe(topic, qos=qos)
        assert await asyncio.to_thread(self.subscribed.wait, WAIT_S), "no SUBACK"
        assert not any(r.is_failure for r in self.granted), self.granted

    async def publish(self, topic: str, payload: bytes | dict[str, Any], qos: int = 1) -> None:
        data = payload if isinstance(payload, bytes) else orjson.dumps(payload)
        info = self.client.publish(topic, data, qos=qos)
        await asyncio.to_thread(info.wait_for_publish, WAIT_S)  # PUBACK (QoS 1)
        assert info.is_published()

    async def next_message(self, topic: str, timeout: float = WAIT_S) -> dict[str, Any]:
        """The first message on ``topic`` not read yet, as JSON."""

        def wait() -> bytes | None:
            with self.arrived:
                if not self.arrived.wait_for(
                    lambda: any(t == topic for t, _ in self.messages), timeout
                ):
                    return None
                at = next(i for i, (t, _) in enumerate(self.messages) if t == topic)
                return self.messages.pop(at)[1]

        payload = await asyncio.to_thread(wait)
        assert payload is not None, f"nothing arrived on {topic} in {timeout} s"
        reply = orjson.loads(payload)
        assert isinstance(reply, dict)
        return reply

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
async def device(mqtt_server: MqttServer) -> AsyncIterator[Device]:
    client = await Device(mqtt_server.mqtt_port).connect()
    yield client
    client.close()
