"""The protocol's message tables and JSON Schemas are generated from the wire models.

docs/protocol.md (between its ``messages`` markers) and schemas/messages/ are
committed; these tests fail when a model changes and they were not
regenerated (``python -m caio.wiredocs --write``), so the published protocol
and the code that speaks it cannot drift apart.
"""

from __future__ import annotations

import inspect
import json

import jsonschema
import pytest
from pydantic import BaseModel

from caio import wiredocs
from caio_integration import wire

REGENERATE = "regenerate with: python -m caio.wiredocs --write"


def test_protocol_doc_message_tables_are_what_the_models_say() -> None:
    committed = wiredocs.PROTOCOL_DOC.read_text()
    assert committed == wiredocs.render_protocol(committed), REGENERATE


def test_each_committed_message_schema_is_what_its_model_says() -> None:
    wanted = wiredocs.message_schemas()
    committed = {path.name for path in wiredocs.SCHEMA_DIR.glob("*.json")}
    assert committed == set(wanted), REGENERATE
    for name, schema in wanted.items():
        assert json.loads((wiredocs.SCHEMA_DIR / name).read_text()) == schema, (
            f"{name}: {REGENERATE}"
        )


def _top_level_messages() -> set[type[BaseModel]]:
    """Every request and reply model the SDK exports (parts of messages excluded)."""
    found = set()
    for name in wire.__all__:
        value = getattr(wire, name)
        if not (inspect.isclass(value) and issubclass(value, BaseModel)):
            continue
        if value.__name__.endswith(("Request", "Reply", "Record", "Heartbeat", "Headers")):
            found.add(value)
    return found


def test_every_request_and_reply_model_is_documented_as_a_message() -> None:
    documented = {message.model for message in wiredocs.MESSAGES}
    missing = sorted(model.__name__ for model in _top_level_messages() - documented)
    assert not missing, f"wire models without a row in caio.wiredocs.MESSAGES: {missing}"


@pytest.mark.parametrize("message", wiredocs.MESSAGES, ids=lambda m: m.model.__name__)
def test_each_message_schema_is_a_valid_json_schema(message: wiredocs.Message) -> None:
    schema = wiredocs.message_schemas()[f"{message.model.__name__}.json"]
    jsonschema.Draft202012Validator.check_schema(schema)
