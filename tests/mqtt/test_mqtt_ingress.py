"""MQTT devices route through nats-server's MQTT listener and ``caio mqtt-ingress``.

Everything is real: nats-server on deploy/nats/mqtt/nats-server.conf (the
device may only publish ``caio/mqtt/route/+`` and read its own reply
subtree), a router with API keys required, the ingress, a fake service, and
paho-mqtt speaking MQTT 3.1.1. Waits are on paho's callbacks, never sleeps.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import orjson
import pytest
from nats.aio.client import Client as NATS

from caio.mqtt_ingress import MqttIngress, reply_subject, route_topic
from caio_integration.subjects import Subjects
from tests.integration.conftest import FakeService
from tests.mqtt.conftest import DEVICE, PREFIX, Device

ROUTE = route_topic("code_review")  # caio/mqtt/route/code_review


def reply_topic() -> str:
    return f"caio/mqtt/reply/{DEVICE}/{uuid.uuid4().hex[:12]}"


async def last_audit(nc: NATS) -> dict[str, Any]:
    js = nc.jetstream()
    stream = Subjects(PREFIX).audit_stream
    info = await js.stream_info(stream)
    record = orjson.loads((await js.get_msg(stream, info.state.last_seq)).data)
    assert isinstance(record, dict)
    return record


def body(key: str | None, topic: str, **request: Any) -> dict[str, Any]:
    return {
        "api_key": key,
        "reply_topic": topic,
        "request": {"context": {"prompt": "review this"}, **request},
    }


@pytest.mark.usefixtures("ingress")
async def test_a_device_routes_and_gets_the_result_on_its_reply_topic(
    device: Device, caller_key: str, reviewer: FakeService, nc: NATS
) -> None:
    topic = reply_topic()
    await device.subscribe(topic)
    await device.publish(ROUTE, body(caller_key, topic, request_id="mqtt-ok-1"))

    reply = await device.next_message(topic)

    assert reply["status"] == "ok", reply
    assert reply["request_id"] == "mqtt-ok-1"
    assert reply["service_id"] == "reviewer"
    assert reply["capability"] == "code_review"
    assert reply["result"] == {"served_by": "reviewer", "echo": {"prompt": "review this"}}
    # The router decided and audited it, for the key's caller, like any NATS request.
    assert [r["request_id"] for r in reviewer.received] == ["mqtt-ok-1"]
    record = await last_audit(nc)
    assert (record["request_id"], record["outcome"]) == ("mqtt-ok-1", "ok")


@pytest.mark.usefixtures("ingress")
async def test_a_wrong_or_missing_key_is_unauthenticated_on_the_reply_topic(
    device: Device, caller_key: str, reviewer: FakeService
) -> None:
    topic = reply_topic()
    await device.subscribe(topic)

    await device.publish(ROUTE, body(caller_key + "x", topic, request_id="mqtt-bad-key"))
    wrong = await device.next_message(topic)
    await device.publish(ROUTE, {"reply_topic": topic, "request": {"context": {}}})
    missing = await device.next_message(topic)

    assert wrong["status"] == "error", wrong
    assert wrong["error"]["code"] == "unauthenticated"
    assert missing["error"]["code"] == "unauthenticated", missing
    assert reviewer.received == []  # nothing reached the service


@pytest.mark.usefixtures("ingress")
@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"request": "review this"}, "request must be a JSON object"),
        ({"request": {"context": {}, "stream": True}}, "stream"),
        ({"reply_to": "x"}, "reply_to"),  # unknown fields are refused, named
        ({"api_key": "a key with spaces"}, "api_key"),
    ],
)
async def test_a_malformed_body_gets_invalid_request_on_the_reply_topic(
    device: Device, caller_key: str, reviewer: FakeService, change: dict[str, Any], named: str
) -> None:
    topic = reply_topic()
    await device.subscribe(topic)
    await device.publish(ROUTE, body(caller_key, topic) | change)

    reply = await device.next_message(topic)

    assert reply["status"] == "error", reply
    assert reply["error"]["code"] == "invalid_request"
    assert named in reply["error"]["message"]
    assert reviewer.received == []


@pytest.mark.usefixtures("ingress")
async def test_a_bad_capability_or_route_request_is_invalid_request(
    device: Device, caller_key: str, reviewer: FakeService
) -> None:
    topic = reply_topic()
    await device.subscribe(topic)

    # A '.' in a topic level becomes '//' in the subject: not a capability name.
    await device.publish(route_topic("code.review"), body(caller_key, topic))
    bad_name = await device.next_message(topic)
    # The router's own validation (unknown field) comes back unchanged.
    await device.publish(ROUTE, body(caller_key, topic, priority="high"))
    router_says = await device.next_message(topic)

    assert bad_name["error"]["code"] == "invalid_request", bad_name
    assert "capability" in bad_name["error"]["message"]
    assert router_says["error"]["code"] == "invalid_request", router_says
    assert "priority" in str(router_says["error"])
    assert reviewer.received == []


async def test_input_without_a_usable_reply_topic_never_stops_the_ingress(
    device: Device, caller_key: str, reviewer: FakeService, nc: NATS, ingress: MqttIngress
) -> None:
    # Not JSON, and a reply topic outside caio/mqtt/reply/: nothing to answer over MQTT.
    await device.publish(ROUTE, b"\xff not json")
    await device.publish(ROUTE, body(caller_key, "caio/route/code_review"))
    # A NATS caller on the same subject gets the error on its reply subject.
    answer = orjson.loads((await nc.request("caio.mqtt.route.code_review", b"{", timeout=5)).data)
    outside = body(caller_key, "caio/registry/register")
    misdirected = await nc.request("caio.mqtt.route.code_review", orjson.dumps(outside), timeout=5)

    assert answer["error"]["code"] == "invalid_request", answer
    assert "reply_topic" in orjson.loads(misdirected.data)["error"]["message"]
    # ...and the ingress still serves the next good request (paho keeps the order).
    topic = reply_topic()
    await device.subscribe(topic)
    await device.publish(ROUTE, body(caller_key, topic))
    assert (await device.next_message(topic))["status"] == "ok"
    assert len(reviewer.received) == 1


async def test_no_router_is_service_unavailable_on_the_reply_topic(
    device: Device, ingress: MqttIngress
) -> None:
    topic = reply_topic()
    await device.subscribe(topic)
    await device.publish(ROUTE, body("any-key", topic, request_id="nobody-home"))

    reply = await device.next_message(topic)

    assert reply["error"]["code"] == "service_unavailable", reply
    assert reply["request_id"] == "nobody-home"


async def test_the_device_user_cannot_read_another_devices_replies(
    device: Device,
) -> None:
    # The deploy file lets device-1 read only caio/mqtt/reply/device-1/...
    device.subscribed.clear()
    device.client.subscribe("caio/mqtt/reply/device-2/+", qos=1)
    assert await asyncio.to_thread(device.subscribed.wait, 5)
    assert all(r.is_failure for r in device.granted), device.granted


def test_only_plain_reply_topics_under_the_reply_subtree_are_accepted() -> None:
    assert reply_subject("caio/mqtt/reply/dev/abc") == "caio.mqtt.reply.dev.abc"
    assert reply_subject("p/q/mqtt/reply/x", prefix="p.q") == "p.q.mqtt.reply.x"
    for bad in [
        None,
        42,
        "caio/mqtt/reply/",
        "caio/mqtt/reply/+",
        "caio/mqtt/reply/#",
        "caio/mqtt/reply/a//b",
        "caio/mqtt/reply/a.b",
        "caio/mqtt/reply/a b",
        "caio/route/code_review",
        "/caio/mqtt/reply/a",
        "caio/mqtt/reply/" + "/".join("x" * 9),
    ]:
        assert reply_subject(bad) is None, bad
