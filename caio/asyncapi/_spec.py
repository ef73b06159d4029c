"""The CAIO wire protocol as a FastStream application, for its AsyncAPI document.

The router's hot path is raw nats-py on purpose (several times faster than a
FastStream subscriber); FastStream earns its place here, where its AsyncAPI
generation pays. The ``NatsBroker`` built below is never connected and its
handlers never run: they are typed stubs (``caio.asyncapi._operations``) whose
signatures *are* the spec (request body = the parameter, reply = the return
annotation).

Operations are described from the side of CAIO's own components: the router
receives registry, route and key administration requests and sends audit
records; bridge workers receive service requests and send heartbeats.

FastStream 0.7 leaves three things out of an AsyncAPI 3.0 document that CAIO
needs, so ``asyncapi_document`` adds them to FastStream's output:
request-reply ``reply`` objects (FastStream ignores return annotations),
channel ``parameters`` for ``{token}`` subjects, and key names the AsyncAPI
3.0 key patterns accept (FastStream joins keys with ``:``). It also replaces
the ``correlation_id`` header FastStream claims on every message (CAIO
correlates through the NATS reply subject and ``request_id``, never a header)
with the ``Authorization`` header on the requests a router authenticates.
"""

from __future__ import annotations

import copy
import json
import typing
from typing import Any, Literal

import yaml
from faststream.nats import NatsBroker
from faststream.specification import AsyncAPI
from pydantic import BaseModel

from caio.asyncapi._operations import REQUEST_REPLY, RequestReply
from caio.mqtt_ingress import MqttRouteRequest
from caio_integration.subjects import DEFAULT_PREFIX, SAFE_TOKEN, Subjects
from caio_integration.wire import (
    PROTOCOL_VERSION,
    AuditRecord,
    AuthorizationHeaders,
    DryRunReply,
    ErrorReply,
    Heartbeat,
    RouteReply,
)

__all__ = [
    "SPEC_FORMATS",
    "asyncapi_document",
    "build_spec_app",
]

SPEC_FORMATS = ("yaml", "json")
SpecFormat = Literal["yaml", "json"]

ASYNCAPI_VERSION = "3.0.0"
# Documented, never dialled: a fixed URL keeps the document independent of CAIO_NATS_URL.
DOCUMENTED_SERVER = "nats://127.0.0.1:4222"


_PARAMETERS: dict[str, dict[str, Any]] = {
    "capability": {
        "description": f"A capability name: a subject token matching `{SAFE_TOKEN.pattern}`.",
        "examples": ["code_generation", "code_review"],
    },
    "service_id": {
        "description": f"A service id: a subject token matching `{SAFE_TOKEN.pattern}`.",
        "examples": ["local-review"],
    },
    "reply_path": {
        "description": "The MQTT reply topic's levels below `<prefix>/mqtt/reply/`, joined"
        " by `.` (nats-server maps `/` to `.`): at most 8 of A-Z, a-z, 0-9, `_`, `-`.",
        "examples": ["sensor-7.42"],
    },
    "kind": {
        "description": "The audit record's `kind`.",
        "enum": list(typing.get_args(AuditRecord.model_fields["kind"].annotation)),
    },
}

_HEARTBEAT_DESCRIPTION = (
    "Each bridge worker instance publishes `{service_id, instance_id, ts}` when it starts and"
    " at least every 5 s. A service is `available` while a heartbeat arrived in the last 15 s"
    " (configurable). A heartbeat is only accepted on its own service's subject; one with"
    " `stopping: true` drops the instance at once."
)
_AUDIT_DESCRIPTION = (
    "JetStream stream `{stream}` holds `{prefix}.audit.>`. Every routing outcome (success,"
    " error, no match, denial, invalid input), every registry change and every API key change"
    " (`kind: keys`, extension) writes one record before the caller gets its reply; a request"
    " refused as `unauthenticated`, `forbidden` or `rate_limited` writes `kind: denied`,"
    " `outcome: denied`."
    " `caller` is the caller's API key name (null without one). The last token is the"
    " service id, `_` when there is none, so `{prefix}.audit.route.>` or"
    " `{prefix}.audit.*.<service_id>` filter on the server. Records add `attempts` for"
    " forwarded requests, `dry_run: true` for dry runs and `operation` for rejected registry"
    " input and for registry and keys denials; registry records carry"
    " `decision: {{action, registry_revision}}`, key records `decision: {{action, key}}`."
    " If the stream does not acknowledge a record the caller gets a retryable `internal`"
    " error instead of an unrecorded answer."
)
_MQTT_ROUTE_DESCRIPTION = (
    "Extension (docs/mqtt.md): MQTT 3.1.1 devices publish to the topic"
    " `{topic}/<capability>`, which nats-server's MQTT listener delivers here. The body"
    " carries the API key and the reply topic (MQTT has neither headers nor reply"
    " subjects). The MQTT ingress (`caio mqtt-ingress`, a queue group) sends `request` to"
    " `{prefix}.route.<capability>` with the key as its `Authorization` header and publishes"
    " the router's reply, unchanged, to the reply topic. A body it cannot use gets an"
    " `invalid_request` error there (or on the NATS reply subject, when the sender gave one)."
)
_MQTT_REPLY_DESCRIPTION = (
    "Extension: the router's reply to a device's route request (`RouteReply`, `DryRunReply`"
    " or `ErrorReply`), published by the MQTT ingress to the subject of the request's"
    " `reply_topic`; a device subscribed to that topic receives it."
)
_APP_DESCRIPTION = (
    "CAIO's public interface: what a client in any language can rely on with nothing but a"
    " NATS client (docs/protocol.md). All bodies are UTF-8 JSON objects. Field names shown"
    " required are required; implementations may add fields, never rename or drop these."
    " Fields described as *Extension* are this implementation's additions.\n\n"
    "Service ids and capability names are subject tokens matching"
    f" `{SAFE_TOKEN.pattern}`; anything else is rejected with `invalid_contract` /"
    " `invalid_request` and never reaches a subscribe or publish.\n\n"
    "Requests to the registry, route and keys subjects carry the NATS header"
    " `Authorization: Bearer <key>` (`AuthorizationHeaders`); the key's role and policy"
    " decide what it may do. Errors: `unauthenticated` (no key, or unknown, revoked,"
    " expired), `forbidden` (not allowed for this key), `rate_limited` (a route request over"
    " the key's per-minute limit). Routers answer only reply subjects starting with `_INBOX.` or"
    " `_INBOX_`; bodies nested deeper than 32 levels are `invalid_request`.\n\n"
    "Every request-reply subject answers, never stays silent: on failure with"
    ' `{"status": "error", "request_id", "error": {"code", "message", "details",'
    ' "retryable"?}}` (`ErrorReply`). Replies go to the requester\'s NATS reply subject.\n\n'
    "Operations are described from the side of CAIO's components: routers receive registry,"
    " route and keys requests and send audit records; bridge workers receive service requests"
    " and send heartbeats.\n\n"
    "Generated by `caio asyncapi`; do not edit by hand."
)


async def _mqtt_route(body: MqttRouteRequest) -> None:
    raise NotImplementedError  # documentation only; caio.mqtt_ingress serves this


def build_spec_app(prefix: str = DEFAULT_PREFIX) -> AsyncAPI:
    """A FastStream AsyncAPI factory over a never-connected ``NatsBroker`` describing CAIO."""
    subjects = Subjects(prefix)  # validates the prefix
    broker = NatsBroker(
        DOCUMENTED_SERVER,
        description="The NATS server CAIO runs on (CAIO_NATS_URL).",
    )
    for endpoint in REQUEST_REPLY:
        broker.subscriber(
            endpoint.subject(subjects),
            queue=endpoint.queue,
            title=endpoint.name,
            description=endpoint.description,
        )(endpoint.handler)
    broker.subscriber(
        f"{prefix}.mqtt.route.{{capability}}",
        queue="caio-mqtt-ingress",
        title="mqtt_route",
        description=_MQTT_ROUTE_DESCRIPTION.format(
            topic=f"{prefix.replace('.', '/')}/mqtt/route", prefix=prefix
        ),
    )(_mqtt_route)
    broker.publisher(
        f"{prefix}.mqtt.reply.{{reply_path}}",
        title="mqtt_reply",
        description=_MQTT_REPLY_DESCRIPTION,
        schema=RouteReply | DryRunReply | ErrorReply,
    )
    broker.publisher(
        subjects.heartbeat("{service_id}"),
        title="heartbeat",
        description=_HEARTBEAT_DESCRIPTION,
        schema=Heartbeat,
    )
    broker.publisher(
        subjects.audit("{kind}", "{service_id}"),
        title="audit",
        description=_AUDIT_DESCRIPTION.format(stream=subjects.audit_stream, prefix=prefix),
        schema=AuditRecord,
    )
    return AsyncAPI(
        broker,
        title="CAIO wire protocol",
        version=PROTOCOL_VERSION,
        description=_APP_DESCRIPTION,
        schema_version=ASYNCAPI_VERSION,
    )


_SUMMARIES: dict[str, str] = {
    **{endpoint.name: endpoint.summary for endpoint in REQUEST_REPLY},
    "heartbeat": "A bridge worker instance announces it is alive.",
    "audit": "The router records one decision in the audit stream.",
    "mqtt_route": "An MQTT device's route request, taken by the MQTT ingress.",
    "mqtt_reply": "The MQTT ingress sends the router's reply to the device's reply topic.",
}


def asyncapi_document(prefix: str = DEFAULT_PREFIX, fmt: SpecFormat = "yaml") -> str:
    """The AsyncAPI document of the CAIO protocol; the same inputs give the same bytes."""
    if fmt not in SPEC_FORMATS:
        raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(SPEC_FORMATS)}")
    doc = build_spec_app(prefix).to_specification().to_jsonable()
    _complete(doc)
    if fmt == "json":
        return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    # Insertion order kept (protocol order, imposed in _complete), so it reads as the doc does.
    return str(yaml.dump(doc, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100))


class _Dumper(yaml.SafeDumper):
    """Safe YAML without ``&id001`` anchors: a spec reader should not need to follow them."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


# -- what FastStream 0.7 leaves out -------------------------------------------


def _complete(doc: dict[str, Any]) -> None:
    _rename_message_keys(doc)
    components = doc["components"]
    messages: dict[str, Any] = components["messages"]
    schemas: dict[str, Any] = components["schemas"]
    for message in messages.values():
        message.pop("correlationId", None)
    _add_schema(AuthorizationHeaders, schemas)
    for endpoint in REQUEST_REPLY:
        if endpoint.authenticated:
            for ref in doc["channels"][endpoint.name]["messages"].values():
                message = _resolve(doc, ref["$ref"])
                message["headers"] = {"$ref": "#/components/schemas/AuthorizationHeaders"}

    for name, channel in doc["channels"].items():
        params = _path_params(channel.get("address") or "")
        if params:
            channel["parameters"] = {param: copy.deepcopy(_PARAMETERS[param]) for param in params}
        doc["operations"][name]["summary"] = _SUMMARIES[name]

    for endpoint in REQUEST_REPLY:
        _add_reply(doc, endpoint, messages, schemas)

    # FastStream keeps subscribers in a WeakSet, so its order follows object
    # addresses and changes from run to run: impose the protocol's order here.
    operations = [endpoint.name for endpoint in REQUEST_REPLY] + ["heartbeat", "audit"]
    operations += ["mqtt_route", "mqtt_reply"]
    channels = [n for name in operations for n in (name, f"{name}_reply") if n in doc["channels"]]
    doc["channels"] = _reorder(doc["channels"], channels)
    doc["operations"] = _reorder(doc["operations"], operations)
    components["messages"] = dict(sorted(messages.items()))
    components["schemas"] = dict(sorted(schemas.items()))


def _reorder(mapping: dict[str, Any], order: list[str]) -> dict[str, Any]:
    if set(mapping) != set(order):  # FastStream named something differently than expected
        raise RuntimeError(f"unexpected AsyncAPI keys: {sorted(set(mapping) ^ set(order))}")
    return {key: mapping[key] for key in order}


def _resolve(doc: dict[str, Any], ref: str) -> Any:
    node: Any = doc
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def _path_params(address: str) -> list[str]:
    """``a.{b}.{c}`` -> ``[b, c]``."""
    return [part[1:-1] for part in address.split(".") if part.startswith("{")]


def _rename_message_keys(doc: dict[str, Any]) -> None:
    """``route:SubscribeMessage`` -> ``route.SubscribeMessage``: 3.0 keys allow no ``:``
    (messages, and the payload schemas FastStream names the same way)."""
    components = doc["components"]
    for section in ("messages", "schemas"):
        components[section] = {k.replace(":", "."): v for k, v in components[section].items()}
    _rename_refs(doc)


def _rename_refs(node: Any) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/"):
            section, _, key = ref.removeprefix("#/components/").partition("/")
            node["$ref"] = f"#/components/{section}/{key.replace(':', '.')}"
        for value in node.values():
            _rename_refs(value)
    elif isinstance(node, list):
        for value in node:
            _rename_refs(value)


def _add_reply(
    doc: dict[str, Any],
    endpoint: RequestReply,
    messages: dict[str, Any],
    schemas: dict[str, Any],
) -> None:
    """A reply channel without an address (the requester's inbox) and the reply messages."""
    reply_type = typing.get_type_hints(endpoint.handler)["return"]
    models: tuple[type[BaseModel], ...] = typing.get_args(reply_type)
    channel_name = f"{endpoint.name}_reply"
    channel_messages: dict[str, Any] = {}
    for model in models:
        _add_schema(model, schemas)
        messages.setdefault(
            model.__name__,
            {
                "name": model.__name__,
                "title": model.__name__,
                "payload": {"$ref": f"#/components/schemas/{model.__name__}"},
            },
        )
        channel_messages[model.__name__] = {"$ref": f"#/components/messages/{model.__name__}"}
    doc["channels"][channel_name] = {
        "address": None,
        "description": f"The reply to `{endpoint.name}`: the requester's NATS reply subject.",
        "messages": channel_messages,
    }
    doc["operations"][endpoint.name]["reply"] = {
        "channel": {"$ref": f"#/channels/{channel_name}"},
        "messages": [
            {"$ref": f"#/channels/{channel_name}/messages/{name}"} for name in channel_messages
        ],
    }


def _add_schema(model: type[BaseModel], schemas: dict[str, Any]) -> None:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    found = {**schema.pop("$defs", {}), model.__name__: schema}
    for name, value in found.items():
        # One name, one schema: a clash would silently document the wrong body.
        if schemas.setdefault(name, value) != value:
            raise RuntimeError(f"two different schemas are named {name!r}")
