"""The AsyncAPI document describes the whole protocol and is committed as generated."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import typing
from pathlib import Path
from typing import Any

import pytest
import yaml

from caio.asyncapi import asyncapi_document
from caio_broker.auth import keys as auth_keys
from caio_integration.errors import KNOWN_CODES
from caio_integration.subjects import REGISTRY_OPERATIONS
from caio_integration.wire import ApiKeyInfo, AuditKind, KeyCreateReply, KeyPolicy
from caio_integration.wire.keys import _GLOB

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "docs" / "asyncapi.yaml"

KEYS_OPERATIONS = ("create", "list", "revoke")
PROTOCOL_SUBJECTS = {
    *(f"caio.registry.{operation}" for operation in REGISTRY_OPERATIONS),
    *(f"caio.keys.{operation}" for operation in KEYS_OPERATIONS),
    "caio.registry.stats",  # extension
    "caio.route.{capability}",
    "caio.svc.{service_id}.{capability}",
    "caio.heartbeat.{service_id}",
    "caio.audit.{kind}.{service_id}",
}
# Extension: MQTT devices' route requests and their replies (docs/mqtt.md).
MQTT_SUBJECTS = {"caio.mqtt.route.{capability}", "caio.mqtt.reply.{reply_path}"}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(asyncapi_document())
    return loaded


def _resolve(doc: dict[str, Any], ref: str) -> Any:
    node: Any = doc
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []


def test_committed_document_is_current() -> None:
    assert COMMITTED.read_text(encoding="utf-8") == asyncapi_document(), (
        "docs/asyncapi.yaml is out of date: run `caio asyncapi --output docs/asyncapi.yaml` "
        "(with CAIO_PREFIX unset) and commit the result"
    )


def test_every_protocol_subject_is_a_channel(document: dict[str, Any]) -> None:
    addresses = {channel["address"] for channel in document["channels"].values()}
    assert addresses - {None} == PROTOCOL_SUBJECTS | MQTT_SUBJECTS


def test_every_stable_error_code_is_in_the_error_schema(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    error = _resolve(document, schemas["ErrorReply"]["properties"]["error"]["$ref"])
    assert set(error["properties"]["code"]["enum"]) == KNOWN_CODES
    assert {"code", "message", "details"} <= set(error["required"])


def test_every_request_reply_operation_documents_its_error_reply(document: dict[str, Any]) -> None:
    receiving = {
        name: op
        for name, op in document["operations"].items()
        if op["action"] == "receive" and name != "mqtt_route"  # answered on a topic, below
    }
    # + stats, route, service request
    assert len(receiving) == len(REGISTRY_OPERATIONS) + len(KEYS_OPERATIONS) + 3
    for name, operation in receiving.items():
        replies = [ref["$ref"].rsplit("/", 1)[-1] for ref in operation["reply"]["messages"]]
        assert "ErrorReply" in replies, name
        assert len(replies) >= 2, name


def _request_messages(doc: dict[str, Any], address: str) -> list[dict[str, Any]]:
    (channel,) = [c for c in doc["channels"].values() if c["address"] == address]
    return [_resolve(doc, ref["$ref"]) for ref in channel["messages"].values()]


def test_every_keys_subject_is_served_by_the_routers(document: dict[str, Any]) -> None:
    for operation in KEYS_OPERATIONS:
        (channel,) = [
            c for c in document["channels"].values() if c["address"] == f"caio.keys.{operation}"
        ]
        assert channel["bindings"]["nats"]["queue"] == "caio-router"
        assert "Admin keys only" in channel["description"]


@pytest.mark.parametrize(
    "address",
    sorted(
        {
            *(f"caio.registry.{operation}" for operation in REGISTRY_OPERATIONS),
            *(f"caio.keys.{operation}" for operation in KEYS_OPERATIONS),
            "caio.route.{capability}",
        }
    ),
)
def test_every_authenticated_request_declares_the_authorization_header(
    document: dict[str, Any], address: str
) -> None:
    messages = _request_messages(document, address)
    assert messages
    for message in messages:
        headers = _resolve(document, message["headers"]["$ref"])
        assert headers["type"] == "object"
        assert headers["required"] == ["Authorization"]
        assert headers["properties"]["Authorization"]["pattern"] == r"^Bearer \S+$"
        assert "correlationId" not in message


def test_only_router_requests_declare_the_authorization_header(document: dict[str, Any]) -> None:
    for message in _request_messages(document, "caio.svc.{service_id}.{capability}"):
        assert "headers" not in message


def test_denials_are_described_on_every_router_subject(document: dict[str, Any]) -> None:
    for channel in document["channels"].values():
        address = channel["address"] or ""
        if address.startswith(("caio.registry.", "caio.route.", "caio.keys.")):
            for code in ("unauthenticated", "forbidden", "rate_limited"):
                assert f"`{code}`" in channel["description"], (address, code)


def test_keys_bodies_mirror_the_stored_keys(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    create = schemas["KeyCreateRequest"]
    assert create["required"] == ["name", "role"]
    assert set(schemas["KeyRevokeRequest"]["properties"]) == {"key", "request_id"}
    public = set(auth_keys.ApiKey.model_fields) - {"secret_sha256"}
    assert set(schemas["ApiKeyInfo"]["properties"]) == public
    assert set(schemas["ApiKeyInfo"]["required"]) == public  # public() dumps every field
    reply = schemas["KeyCreateReply"]
    assert set(reply["properties"]) == {"status", "secret", *public}
    assert set(reply["required"]) == {"status", "secret", *public}
    assert auth_keys.CallerPolicy is KeyPolicy  # the stored policy is the one on the wire
    assert set(schemas["KeyPolicy"]["properties"]) == set(KeyPolicy.model_fields)
    roles = set(typing.get_args(auth_keys.Role))
    assert set(create["properties"]["role"]["enum"]) == roles
    glob = create["properties"]["services"]["anyOf"][0]["items"]["pattern"]
    assert glob == _GLOB.pattern
    assert set(schemas["KeyListReply"]["required"]) == {"status", "keys", "count"}
    assert set(schemas["KeyRevokeReply"]["required"]) == {"status", "key_id", "name"}


def test_a_real_key_record_fits_the_documented_replies() -> None:
    secret, key_id, digest = auth_keys.new_secret()
    key = auth_keys.ApiKey(
        key_id=key_id,
        name="ci-bot",
        role="publisher",
        services=["ci-*"],
        policy=auth_keys.CallerPolicy(data_locality=["eu"], requests_per_minute=60),
        created_at=1.0,
        secret_sha256=digest,
    )
    KeyCreateReply.model_validate({"status": "created", "secret": secret, **key.public()})
    ApiKeyInfo.model_validate(key.public())


def test_get_reply_carries_the_owner(document: dict[str, Any]) -> None:
    owner = document["components"]["schemas"]["GetReply"]["properties"]["owner"]
    assert {"type": "string"} in owner["anyOf"]


def test_audit_kinds_include_keys(document: dict[str, Any]) -> None:
    kinds = set(typing.get_args(AuditKind))
    assert "keys" in kinds
    assert set(document["components"]["schemas"]["AuditRecord"]["properties"]["kind"]["enum"]) == (
        kinds
    )
    (audit,) = [
        c for c in document["channels"].values() if (c["address"] or "").startswith("caio.audit.")
    ]
    assert set(audit["parameters"]["kind"]["enum"]) == kinds


def test_every_reference_resolves(document: dict[str, Any]) -> None:
    for ref in _refs(document):
        assert ref.startswith("#/"), ref
        _resolve(document, ref)


def test_subject_parameters_are_declared(document: dict[str, Any]) -> None:
    for name, channel in document["channels"].items():
        address = channel["address"] or ""
        params = [token[1:-1] for token in address.split(".") if token.startswith("{")]
        assert list(channel.get("parameters", {})) == params, name


def test_generation_is_deterministic() -> None:
    assert asyncapi_document() == asyncapi_document()
    assert asyncapi_document(fmt="json") == asyncapi_document(fmt="json")
    assert json.loads(asyncapi_document(fmt="json")) == yaml.safe_load(asyncapi_document())


def test_generation_is_deterministic_across_processes() -> None:
    # FastStream's own order follows object addresses and string hashes vary by process.
    code = "import sys; from caio.asyncapi import asyncapi_document as d; sys.stdout.write(d())"
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            check=True,
            cwd=ROOT,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout
        for seed in ("1", "2")
    }
    assert outputs == {asyncapi_document().encode("utf-8")}


def test_prefix_is_applied() -> None:
    doc = yaml.safe_load(asyncapi_document(prefix="team.caio"))
    addresses = {channel["address"] for channel in doc["channels"].values()} - {None}
    assert {address.split(".", 2)[:2] == ["team", "caio"] for address in addresses} == {True}


def test_unknown_format_and_unsafe_prefix_are_rejected() -> None:
    with pytest.raises(ValueError, match="format"):
        asyncapi_document(fmt="toml")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="prefix"):
        asyncapi_document(prefix="a b")


def test_cli_writes_the_document(tmp_path: Path) -> None:
    import typer
    from typer.testing import CliRunner

    from caio.cli.docs import register_commands

    app = typer.Typer()
    register_commands(app)
    app.callback()(lambda: None)  # a group, so the command is invoked by name as under `caio`
    target = tmp_path / "spec.json"
    result = CliRunner().invoke(
        app, ["asyncapi", "--output", str(target), "--format", "json", "--prefix", "caio"]
    )
    assert result.exit_code == 0, result.output
    assert result.output.count("\n") == 1 and "wrote" in result.output
    assert target.read_text(encoding="utf-8") == asyncapi_document(fmt="json")


def test_each_message_schema_has_exactly_its_models_fields(document: dict[str, Any]) -> None:
    # A subject parameter named like a body field once made FastStream drop the field.
    from caio import wiredocs

    schemas = document["components"]["schemas"]
    for message in wiredocs.MESSAGES:
        name = message.model.__name__
        if name not in schemas:
            continue
        documented = set(schemas[name].get("properties", {}))
        fields = set(message.model.model_json_schema(by_alias=True).get("properties", {}))
        assert documented == fields, f"{name}: {sorted(documented ^ fields)}"


def test_an_mqtt_device_finds_its_request_body_and_every_reply_it_may_get(
    document: dict[str, Any],
) -> None:
    (request,) = _request_messages(document, "caio.mqtt.route.{capability}")
    body = _resolve(document, request["payload"]["$ref"])
    assert set(body["properties"]) == {"api_key", "reply_topic", "request"}
    assert body["required"] == ["reply_topic", "request"]
    assert body["additionalProperties"] is False
    (reply,) = _request_messages(document, "caio.mqtt.reply.{reply_path}")
    payload = _resolve(document, reply["payload"]["$ref"])
    names = {option["$ref"].rsplit("/", 1)[-1] for option in payload["anyOf"]}
    assert names == {"RouteReply", "DryRunReply", "ErrorReply"}


def test_component_keys_are_ones_asyncapi_3_accepts(document: dict[str, Any]) -> None:
    for section in ("messages", "schemas"):
        for key in document["components"][section]:
            assert re.fullmatch(r"[a-zA-Z0-9.\-_]+", key), (section, key)
