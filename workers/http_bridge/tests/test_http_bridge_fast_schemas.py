"""jsonschema_rs answers "is it valid?" only where it agrees with jsonschema (schemas.py).

Every reply's schema messages are jsonschema's, as before; these tests check
that the compiled validator never lets through what jsonschema refuses, nor
refuses what it accepts, on the example contracts' schemas (each a valid
document, then every value in it replaced, every key dropped, and generated
values), and that the schemas where the two differ are left to jsonschema.
"""

from __future__ import annotations

import copy
import datetime
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from http_bridge_support import EXAMPLES
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from caio_http_bridge.schemas import MAX_SCHEMA_ERRORS, Schema, fast_check

pytest.importorskip("jsonschema_rs")

SCHEMAS = EXAMPLES / "schemas"
# One valid document per example schema: the start of every mutation below.
VALID: dict[str, Any] = {
    "anthropic-messages/anthropic_message.input.json": {
        "model": "claude",
        "max_tokens": 10,
        "system": "be brief",
        "messages": [{"role": "user", "content": "hi"}],
        "temperature": 0.5,
        "stream": False,
    },
    "anthropic-messages/anthropic_message.output.json": {
        "type": "message",
        "role": "assistant",
        "model": "claude",
        "content": [{"type": "text", "text": "hello"}],
        "stop_reason": None,
        "usage": {"input_tokens": 3},
    },
    "openai-compatible-chat/chat_completion.input.json": {
        "model": "m",
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 5,
        "temperature": 1.5,
        "stream": True,
    },
    "openai-compatible-chat/chat_completion.output.json": {
        "model": "m",
        "choices": [
            {"message": {"role": "assistant", "content": "hello"}, "finish_reason": "stop"}
        ],
        "usage": {"total_tokens": 3},
    },
    "sentiment-model/sentiment_analysis.input.json": {"texts": ["good", "bad"]},
    "sentiment-model/sentiment_analysis.output.json": {
        "predictions": [{"label": "positive", "score": 0.9}]
    },
    "text-embeddings/text_embedding.input.json": {"model": "e", "input": ["a", "b"]},
    "text-embeddings/text_embedding.output.json": {
        "data": [{"index": 0, "embedding": [0.1, -2, 3e10]}],
        "model": "e",
        "usage": {},
    },
}
# What each value is replaced with: every JSON type, and the edges of the examples'
# keywords (empty, zero, negative, fractional, a bool beside a number, past 64 bits).
REPLACEMENTS: list[Any] = [
    None,
    True,
    False,
    0,
    1,
    -1,
    0.0,
    1.0,
    1.5,
    2.5,
    -0.5,
    2**70,
    1e300,
    "",
    "x",
    "user",
    "assistant",
    "message",
    "positive",
    [],
    [""],
    ["x"],
    [{}],
    [1.0],
    {},
    {"role": "user"},
    {"message": {}},
]


def schema(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SCHEMAS / name).read_text())
    return loaded


def variants(document: Any) -> Iterator[Any]:
    """``document`` itself, then with each value replaced (in turn by each of
    ``REPLACEMENTS``) and each key dropped, at every depth."""
    yield document
    for path in _paths(document):
        for value in REPLACEMENTS:
            yield _replaced(document, path, value)
        if path and isinstance(path[-1], str):
            yield _replaced(document, path, None, drop=True)


def _paths(node: Any, at: tuple[str | int, ...] = ()) -> Iterator[tuple[str | int, ...]]:
    yield at
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*at, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, (*at, index))


def _replaced(document: Any, path: tuple[str | int, ...], value: Any, *, drop: bool = False) -> Any:
    if not path:
        return value
    copied = copy.deepcopy(document)
    node = copied
    for part in path[:-1]:
        node = node[part]
    if drop:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return copied


def plain_problems(validator: Draft202012Validator, value: Any, root: str) -> list[str]:
    """What ``Schema.problems`` answered before jsonschema_rs: jsonschema alone."""
    problems = []
    for error in validator.iter_errors(value):
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
        problems.append(f"{root}{where}: {error.message}"[:300])
        if len(problems) == MAX_SCHEMA_ERRORS:
            break
    return sorted(problems)


@pytest.mark.parametrize("name", sorted(VALID))
def test_every_example_schema_is_checked_fast_and_both_libraries_agree(name: str) -> None:
    document = schema(name)
    fast = fast_check(document)
    assert fast is not None  # no example uses a keyword where the two differ
    plain = Draft202012Validator(document)
    compiled = Schema(document)
    valid = 0
    for value in variants(VALID[name]):
        assert fast(value) == plain.is_valid(value), value
        assert compiled.problems(value, "context") == plain_problems(plain, value, "context")
        valid += plain.is_valid(value)
    assert plain.is_valid(VALID[name])
    assert valid > 1  # the mutations reach both answers


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from(["", "x", "user", "assistant", "message", "positive", "text"])
    | st.text(max_size=4),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(["model", "messages", "role", "content", "choices", "message"])
            | st.text(max_size=3),
            children,
            max_size=4,
        )
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(name=st.sampled_from(sorted(VALID)), value=JSON)
def test_both_libraries_agree_on_generated_values(name: str, value: Any) -> None:
    document = schema(name)
    fast = fast_check(document)
    assert fast is not None
    assert fast(value) == Draft202012Validator(document).is_valid(value)


@pytest.mark.parametrize(
    "document",
    [
        {"properties": {"id": {"type": "string", "pattern": "^[a-z]+$"}}},
        {"patternProperties": {"^x-": {"type": "string"}}},
        {"properties": {"step": {"multipleOf": 0.1}}},
        {"$schema": "http://json-schema.org/draft-07/schema#", "type": "object"},
        {"$defs": {"old": {"$schema": "http://json-schema.org/draft-07/schema#"}}},
        {"$ref": "https://example.com/remote.json"},
    ],
    ids=["pattern", "patternProperties", "multipleOf", "draft-07", "embedded-draft", "remote-ref"],
)
def test_schemas_where_the_libraries_differ_are_left_to_jsonschema(
    document: dict[str, Any],
) -> None:
    assert fast_check(document) is None


def test_multiple_of_a_fraction_is_still_jsonschemas_verdict() -> None:
    # jsonschema divides floats: 0.3 is not a multiple of 0.1 to it (jsonschema_rs says it is).
    problems = Schema({"multipleOf": 0.1}).problems(0.3, "context")

    assert problems == ["context: 0.3 is not a multiple of 0.1"]


def test_a_value_the_compiled_validator_cannot_read_goes_to_jsonschema() -> None:
    # A YAML date in an endpoint's defaults: not a JSON type, jsonschema_rs raises.
    compiled = Schema({"type": "object", "properties": {"since": {"type": "string"}}})

    problems = compiled.problems({"since": datetime.date(2024, 6, 1)}, "context")

    assert problems == ["context.since: datetime.date(2024, 6, 1) is not of type 'string'"]
    assert compiled.problems({"since": "2024-06-01"}, "context") == []


def test_the_example_schema_files_are_the_ones_tested() -> None:
    found = {str(path.relative_to(SCHEMAS)) for path in Path(SCHEMAS).rglob("*.json")}

    assert found == set(VALID)
