"""MQTT ingress: CAIO route requests from MQTT 3.1.1 devices (docs/mqtt.md).

nats-server's own MQTT listener turns the topic ``caio/mqtt/route/<capability>``
into the subject ``caio.mqtt.route.<capability>``. MQTT 3.1.1 has neither
headers nor a reply subject, so the body carries both::

    {"api_key": "<CAIO API key>", "reply_topic": "caio/mqtt/reply/<device>/<id>",
     "request": {...a route request, as PROTOCOL.md...}}

This process takes those messages (in a queue group, so it scales like the
router), sends ``request`` to ``caio.route.<capability>`` as any NATS caller
does, with ``Authorization: Bearer <api_key>``, and publishes the router's
reply unchanged to the reply topic's subject. The router checks the key,
limits, audits: the ingress decides nothing. What it refuses itself (a body
that is not JSON, a reply topic outside ``<prefix>/mqtt/reply/``...) gets an
``invalid_request`` error on the reply topic when there is a usable one, else
on the NATS reply subject when the sender gave one, else only a log line.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from typing import Any

import nats
import orjson
import structlog
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout
from pydantic import BaseModel, ConfigDict, Field

from caio_integration.subjects import DEFAULT_PREFIX, Subjects, is_safe_token
from caio_integration.wire import RouteRequest

__all__ = [
    "MqttIngress",
    "MqttIngressConfig",
    "MqttRouteRequest",
    "reply_subject",
    "route_topic",
    "serve",
]

log = structlog.get_logger("caio.mqtt_ingress")


class MqttRouteRequest(BaseModel):
    """What a device publishes to `<prefix>/mqtt/route/<capability>`: its API key and
    reply topic in the body, since MQTT 3.1.1 has neither headers nor a reply subject."""

    # The ingress checks these fields itself, so each refusal is answered on the reply
    # topic; the model describes them (docs/asyncapi.yaml) and names the allowed fields.

    model_config = ConfigDict(extra="forbid")

    api_key: str | None = Field(
        None,
        description="The caller's CAIO API key, sent as `Authorization: Bearer <api_key>`;"
        " printable ASCII without spaces, at most 512 characters.",
    )
    reply_topic: str = Field(
        description="Where the reply goes: a topic under `<prefix>/mqtt/reply/` (e.g."
        " `caio/mqtt/reply/<device>/<id>`) of at most 8 levels of A-Z, a-z, 0-9, `_`, `-`."
    )
    request: RouteRequest = Field(
        description="The route request, as on `<prefix>.route.<capability>`; not streamed."
    )


_BODY_FIELDS = frozenset(MqttRouteRequest.model_fields)
_LEVEL = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # a reply topic level: maps to itself in NATS
_MAX_REPLY_LEVELS = 8  # below <prefix>/mqtt/reply/
_KEY = re.compile(r"^[\x21-\x7e]{1,512}$")  # printable ASCII: nothing can break the header
_MARGIN_S = 5.0  # past the request's own timeout_ms, so the router's timeout reply wins
_MAX_TIMEOUT_S = 600.0


def route_topic(capability: str, prefix: str = DEFAULT_PREFIX) -> str:
    """The MQTT topic a device publishes a route request for ``capability`` to."""
    return f"{prefix.replace('.', '/')}/mqtt/route/{capability}"


def reply_subject(reply_topic: object, prefix: str = DEFAULT_PREFIX) -> str | None:
    """The NATS subject of an acceptable MQTT reply topic, else None.

    Only topics under ``<prefix>/mqtt/reply/`` whose levels are plain tokens
    (no wildcard, no ``.``, no empty level) are accepted: the ingress never
    publishes anywhere a device could not subscribe, nor onto CAIO's own subjects.
    """
    base = f"{prefix.replace('.', '/')}/mqtt/reply/"
    if not isinstance(reply_topic, str) or not reply_topic.startswith(base):
        return None
    levels = reply_topic[len(base) :].split("/")
    if len(levels) > _MAX_REPLY_LEVELS or not all(_LEVEL.fullmatch(lv) for lv in levels):
        return None
    return f"{prefix}.mqtt.reply.{'.'.join(levels)}"


def _error(code: str, message: str, request_id: object = None) -> bytes:
    reply: dict[str, Any] = {"status": "error"}
    if isinstance(request_id, str):
        reply["request_id"] = request_id
    reply["error"] = {"code": code, "message": message, "details": {"ingress": "mqtt"}}
    return orjson.dumps(reply)


@dataclass(slots=True)
class MqttIngressConfig:
    nats_url: str = "nats://127.0.0.1:4222"
    prefix: str = DEFAULT_PREFIX
    connect_options: dict[str, Any] = field(default_factory=dict)
    max_in_flight: int = 1024  # requests forwarded at once; more wait their turn
    default_timeout_s: float = 30.0  # a request without timeout_ms (the router's default)


class MqttIngress:
    """Serves ``<prefix>.mqtt.route.*`` until stopped; ``nc`` reuses a connection."""

    def __init__(self, config: MqttIngressConfig, nc: NATS | None = None) -> None:
        self.config = config
        self.subjects = Subjects(config.prefix)
        self._nc = nc
        self._own_connection = nc is None
        self._sub: Subscription | None = None
        self._slots = asyncio.Semaphore(config.max_in_flight)
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> MqttIngress:
        if self._nc is None:
            self._nc = await nats.connect(
                self.config.nats_url, name="caio-mqtt-ingress", **self.config.connect_options
            )
        subject = f"{self.config.prefix}.mqtt.route.*"
        self._sub = await self._nc.subscribe(subject, queue="caio-mqtt-ingress", cb=self._on_msg)
        await self._nc.flush()
        log.info("mqtt_ingress_started", subject=subject)
        return self

    async def stop(self) -> None:
        """Stop taking requests, finish the ones in flight, then close."""
        if self._sub is not None:
            await self._sub.unsubscribe()
            self._sub = None
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._nc is not None and self._own_connection:
            await self._nc.drain()

    async def _on_msg(self, msg: Msg) -> None:
        task = asyncio.create_task(self._serve(msg))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, msg: Msg) -> None:
        async with self._slots:
            try:
                await self._handle(msg)
            except Exception:  # never crash: one bad message is one log line
                log.exception("mqtt_ingress_failed", subject=msg.subject)

    async def _answer(self, target: str | None, msg: Msg, data: bytes) -> None:
        assert self._nc is not None
        if target is None:
            target = msg.reply or None
        if target is None:
            log.warning("mqtt_ingress_unanswerable", subject=msg.subject, reply=data.decode())
            return
        await self._nc.publish(target, data)

    async def _handle(self, msg: Msg) -> None:
        assert self._nc is not None
        capability = msg.subject.rsplit(".", 1)[-1]
        try:
            body = orjson.loads(msg.data)
        except orjson.JSONDecodeError:
            body = None
        if not isinstance(body, dict):
            bad = "the body must be a JSON object with api_key, reply_topic and request"
            await self._answer(None, msg, _error("invalid_request", bad))
            return
        request = body.get("request")
        request_id = request.get("request_id") if isinstance(request, dict) else None
        target = reply_subject(body.get("reply_topic"), self.config.prefix)
        problem = self._problem(body, capability, target)
        if problem is not None:
            await self._answer(target, msg, _error("invalid_request", problem, request_id))
            return
        assert isinstance(request, dict)
        api_key = body.get("api_key")
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else None
        timeout_s = self.config.default_timeout_s
        timeout_ms = request.get("timeout_ms")
        if isinstance(timeout_ms, int | float) and not isinstance(timeout_ms, bool):
            timeout_s = timeout_ms / 1000
        timeout_s = min(max(timeout_s, 0.0) + _MARGIN_S, _MAX_TIMEOUT_S)
        subject = self.subjects.route(capability)
        try:
            reply = await self._nc.request(
                subject, orjson.dumps(request), timeout=timeout_s, headers=headers
            )
        except NoRespondersError:
            data = _error("service_unavailable", f"no CAIO router serves {subject}", request_id)
        except NatsTimeout:
            data = _error("timeout", f"no reply from {subject} in {timeout_s:g} s", request_id)
        else:
            data = reply.data
        await self._answer(target, msg, data)

    def _problem(self, body: dict[str, Any], capability: str, target: str | None) -> str | None:
        """Why the ingress refuses ``body`` itself (``invalid_request``), or None."""
        unknown = sorted(set(body) - _BODY_FIELDS)
        if unknown:
            return f"unknown field(s) {', '.join(unknown)}; allowed: api_key, reply_topic, request"
        if target is None:
            base = f"{self.config.prefix.replace('.', '/')}/mqtt/reply/"
            return f"reply_topic must be a topic under {base} of plain levels ([A-Za-z0-9_-])"
        if not is_safe_token(capability):
            return f"capability {capability!r} is not a valid name (^[a-z0-9][a-z0-9_-]{{0,63}}$)"
        api_key = body.get("api_key")
        if api_key is not None and not (isinstance(api_key, str) and _KEY.fullmatch(api_key)):
            return "api_key must be a string of printable ASCII without spaces"
        request = body.get("request")
        if not isinstance(request, dict):
            return "request must be a JSON object (a route request, PROTOCOL.md)"
        if request.get("stream"):
            return "streamed replies are not available over MQTT: leave out stream"
        return None


async def serve(config: MqttIngressConfig) -> None:
    """Run until SIGINT or SIGTERM (``caio mqtt-ingress``), then drain."""
    import signal

    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    ingress = await MqttIngress(config).start()
    try:
        await stopping.wait()
    finally:
        await ingress.stop()
