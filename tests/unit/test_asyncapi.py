"""The AsyncAPI document describes the whole protocol and is committed as generated."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from caio.asyncapi import asyncapi_document
from caio.errors import STABLE_CODES
from caio.subjects import REGISTRY_OPERATIONS

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "docs" / "asyncapi.yaml"

PROTOCOL_SUBJECTS = {
    *(f"caio.registry.{operation}" for operation in REGISTRY_OPERATIONS),
    "caio.route.{capability}",
    "caio.svc.{service_id}.{capability}",
    "caio.heartbeat.{service_id}",
    "caio.audit.{kind}.{service_id}",
}


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
    assert addresses - {None} == PROTOCOL_SUBJECTS


def test_every_stable_error_code_is_in_the_error_schema(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    error = _resolve(document, schemas["ErrorReply"]["properties"]["error"]["$ref"])
    assert set(error["properties"]["code"]["enum"]) == STABLE_CODES
    assert {"code", "message", "details"} <= set(error["required"])


def test_every_request_reply_operation_documents_its_error_reply(document: dict[str, Any]) -> None:
    receiving = {
        name: op for name, op in document["operations"].items() if op["action"] == "receive"
    }
    assert len(receiving) == len(REGISTRY_OPERATIONS) + 2  # + route, service request
    for name, operation in receiving.items():
        replies = [ref["$ref"].rsplit("/", 1)[-1] for ref in operation["reply"]["messages"]]
        assert "ErrorReply" in replies, name
        assert len(replies) >= 2, name


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
