"""Invalid contracts are rejected with InvalidContract, naming the path of each problem."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from caio_integration.contracts import (
    contract_errors,
    load_contract_file,
    parse_contract,
    parse_contract_yaml,
)
from caio_integration.errors import InvalidContract

NESTED: dict[str, Any] = {
    "service": {
        "id": "svc-1",
        "name": "Service One",
        "version": "1.0.0",
        "capabilities": [{"type": "text_generation", "accuracy": {"min": 0.8}}],
        "guarantees": {"latency": {"property": "p95_latency_ms", "bound": {"max": 5000}}},
        "cost": {"model": "per_token", "token_cost": 0.001},
        "constraints": {"context_length": {"max_tokens": 4096}},
    }
}
FLAT: dict[str, Any] = {
    "service_id": "svc-1",
    "name": "Service One",
    "version": "1.0.0",
    "capabilities": ["text_generation"],
    "guarantees": {"latency": {"p95_ms": 100}, "accuracy": {"min": 0.9}},
    "constraints": {"max_tokens": 4096},
    "cost": {"per_token": 0.001},
}
UNSAFE_NAMES = ["a.b", "a*", "a>", ">", "*", "a b", "Upper", "", "-lead", "x" * 65, "tab\t", "nl\n"]


def with_change(document: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of ``document`` with the dotted ``path`` set (``...`` deletes it)."""
    changed = copy.deepcopy(document)
    *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
    node: Any = changed
    for part in parents:
        node = node[part]
    if value is ...:
        del node[last]
    else:
        node[last] = value
    return changed


def rejected_paths(document: object) -> list[str]:
    with pytest.raises(InvalidContract) as caught:
        parse_contract(document)
    errors = caught.value.details["errors"]
    assert errors == contract_errors(document)
    assert errors, "an invalid contract must say why"
    return [error.split(": ", 1)[0] for error in errors]


def test_the_valid_examples_are_valid() -> None:
    assert contract_errors(NESTED) == []
    assert contract_errors(FLAT) == []


def test_a_contract_without_an_id_is_rejected_with_its_path() -> None:
    assert rejected_paths(with_change(NESTED, "service.id", ...)) == ["$.service.id"]
    assert rejected_paths(with_change(FLAT, "service_id", ...)) != []  # no longer a contract


@pytest.mark.parametrize("name", UNSAFE_NAMES)
def test_an_unsafe_service_id_is_rejected_in_both_dialects(name: str) -> None:
    assert rejected_paths(with_change(NESTED, "service.id", name)) == ["$.service.id"]
    assert rejected_paths(with_change(FLAT, "service_id", name)) == ["$.service_id"]


@pytest.mark.parametrize("name", UNSAFE_NAMES)
def test_an_unsafe_capability_name_is_rejected_in_both_dialects(name: str) -> None:
    nested = with_change(NESTED, "service.capabilities.0.type", name)
    assert rejected_paths(nested) == ["$.service.capabilities[0].type"]
    assert rejected_paths(with_change(FLAT, "capabilities.0", name)) == ["$.capabilities[0]"]


def test_an_unsafe_name_is_explained() -> None:
    [error] = contract_errors(with_change(NESTED, "service.id", "codex.bridge"))
    assert error.startswith("$.service.id: 'codex.bridge' is not a safe name")


@pytest.mark.parametrize(
    ("path", "value", "reported"),
    [
        ("service.guarantees.latency.bound.max", "5000", "$.service.guarantees.latency.bound.max"),
        ("service.guarantees.latency.bound.max", -1, "$.service.guarantees.latency.bound.max"),
        ("service.guarantees.latency.bound.max", True, "$.service.guarantees.latency.bound.max"),
        ("service.capabilities.0.accuracy.min", 1.01, "$.service.capabilities[0].accuracy.min"),
        ("service.capabilities.0.accuracy.min", -0.1, "$.service.capabilities[0].accuracy.min"),
        ("service.cost.token_cost", -0.001, "$.service.cost.token_cost"),
        ("service.cost.model", "per_minute", "$.service.cost.model"),
        (
            "service.constraints.context_length.max_tokens",
            0,
            "$.service.constraints.context_length.max_tokens",
        ),
        (
            "service.constraints.context_length.max_tokens",
            4096.0,
            "$.service.constraints.context_length.max_tokens",
        ),
        (
            "service.constraints.max_concurrent_requests",
            "10",
            "$.service.constraints.max_concurrent_requests",
        ),
        (
            "service.constraints.rate_limit",
            {"per_minute": -5},
            "$.service.constraints.rate_limit.per_minute",
        ),
        ("service.constraints.requires_internet", "yes", "$.service.constraints.requires_internet"),
        ("service.constraints.note", None, "$.service.constraints.note"),
        ("service.privacy", {"hipaa_compliant": "no"}, "$.service.privacy.hipaa_compliant"),
        ("service.api", {"protocol": "ftp"}, "$.service.api.protocol"),
        ("service.api", {"endpoints": [{"method": "GET"}]}, "$.service.api.endpoints[0].path"),
        ("service.invariants", [{"formula": "x"}], "$.service.invariants[0].id"),
        ("service.name", "", "$.service.name"),
        ("service.version", 1.0, "$.service.version"),
        ("service.capabilities", [], "$.service.capabilities"),
        ("service.metadata", ["tags"], "$.service.metadata"),
        (
            "service.guarantees.latency",
            {"bound": {"max": 1}},
            "$.service.guarantees.latency.property",
        ),
        ("service.guarantees.uptime", {"property": 5}, "$.service.guarantees.uptime.property"),
        ("service.cost.per_token", 0.1, "$.service.cost.per_token"),
        ("service.description", None, "$.service.description"),
    ],
)
def test_a_wrong_value_in_a_nested_contract_is_rejected_at_its_path(
    path: str, value: Any, reported: str
) -> None:
    assert rejected_paths(with_change(NESTED, path, value)) == [reported]


@pytest.mark.parametrize(
    ("path", "value", "reported"),
    [
        ("guarantees.latency.p95_ms", "100", "$.guarantees.latency.p95_ms"),
        ("guarantees.latency.p95_ms", -1, "$.guarantees.latency.p95_ms"),
        ("guarantees.latency", {"p99_ms": 5}, "$.guarantees.latency.p95_ms"),
        ("guarantees.accuracy.min", 1.5, "$.guarantees.accuracy.min"),
        ("guarantees.availability", {"target": 100.1}, "$.guarantees.availability.target"),
        ("guarantees.throughput", {"rps": 5}, "$.guarantees.throughput"),
        ("constraints.max_tokens", -4096, "$.constraints.max_tokens"),
        ("constraints.context_length", {"max_tokens": 5}, "$.constraints.context_length"),
        ("cost", {"per_image": 0.1}, "$.cost"),
        ("cost.per_token", -1, "$.cost.per_token"),
        ("cost.token_cost", 1, "$.cost.token_cost"),
        ("capabilities", ["a", "b", "a"], "$.capabilities"),
        ("capabilities", "text_generation", "$.capabilities"),
        ("guarantees.latency.p95_ms", float("nan"), "$.guarantees.latency.p95_ms"),
    ],
)
def test_a_wrong_value_in_a_flat_contract_is_rejected_at_its_path(
    path: str, value: Any, reported: str
) -> None:
    assert rejected_paths(with_change(FLAT, path, value)) == [reported]


def test_a_capability_listed_twice_is_rejected() -> None:
    twice = with_change(NESTED, "service.capabilities", [{"type": "a"}, {"type": "a"}])
    [error] = contract_errors(twice)
    assert error == "$.service.capabilities: capability 'a' is listed twice"
    [flat_error] = contract_errors(with_change(FLAT, "capabilities", ["a", "a"]))
    assert flat_error == "$.capabilities: lists 'a' more than once"


def test_an_unknown_key_is_rejected_at_its_own_path() -> None:
    [error] = contract_errors(with_change(NESTED, "service.owner", "me"))
    assert error.startswith("$.service.owner: unknown key; allowed here: id, name")
    assert rejected_paths(with_change(NESTED, "service.capabilities.0.cost", 1)) == [
        "$.service.capabilities[0].cost"
    ]
    assert rejected_paths(with_change(NESTED, "extra", 1)) == ["$.extra"]
    assert rejected_paths(with_change(FLAT, "privacy", {})) == ["$.privacy"]
    assert rejected_paths(with_change(FLAT, "service", {})) != []


def test_a_key_that_is_not_a_plain_word_is_quoted_in_its_path() -> None:
    [error] = contract_errors(with_change(NESTED, "service.my key", 1))
    assert error.startswith('$.service["my key"]: unknown key')


@pytest.mark.parametrize("document", [None, {}, [], [NESTED], "service", 42, True, b"{}"])
def test_an_empty_or_non_mapping_document_is_rejected_at_the_root(document: object) -> None:
    assert rejected_paths(document) == ["$"]


def test_a_document_in_neither_dialect_says_what_was_expected() -> None:
    [error] = contract_errors({"services": {}})
    assert "'service'" in error
    assert "'service_id'" in error
    assert "'services'" in error


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (float("inf"), "is not a JSON number"),
        (2**70, "64-bit"),
        ({1: "x"}, "is not a JSON string"),
        ((1, 2), "tuple is not a JSON value"),
        ({"a", "b"}, "set is not a JSON value"),
        ("\ud800", "surrogate"),
    ],
)
def test_values_json_cannot_carry_are_rejected_first(value: object, problem: str) -> None:
    [error] = contract_errors(with_change(NESTED, "service.metadata", {"x": value}))
    assert error.startswith("$.service.metadata")
    assert problem in error


def test_absurdly_deep_or_large_documents_are_rejected_without_recursing() -> None:
    deep: Any = "leaf"
    for _ in range(5000):
        deep = {"d": deep}
    [error] = contract_errors(with_change(NESTED, "service.metadata", deep))
    assert "levels deep" in error
    wide = [list(range(200)) for _ in range(200)]
    assert contract_errors(with_change(NESTED, "service.metadata", {"w": wide})) == [
        "$: document is too large (more than 20000 values)"
    ]


def test_the_exception_summarizes_the_first_errors_and_lists_all() -> None:
    broken = {"service": {"id": "Bad.Id", "capabilities": [{"type": "A"}], "x": 1, "y": 2}}
    with pytest.raises(InvalidContract) as caught:
        parse_contract(broken)
    error = caught.value
    assert error.code == "invalid_contract"
    assert len(error.details["errors"]) == 6
    assert error.message.startswith("invalid contract: $.")
    assert error.message.endswith("(and 3 more)")
    assert error.to_error()["details"]["errors"] == error.details["errors"]


def test_errors_do_not_depend_on_key_order() -> None:
    broken = {"service": {"id": "Bad", "name": "", "version": 1, "capabilities": []}}
    reordered = {"service": dict(reversed(list(broken["service"].items())))}
    assert contract_errors(broken) == contract_errors(reordered)


def test_a_huge_offending_value_is_not_quoted_whole() -> None:
    [error] = contract_errors(with_change(NESTED, "service.name", ["x" * 10_000]))
    assert len(error) < 300


# -- YAML and files -----------------------------------------------------------


def yaml_errors(text: str) -> list[str]:
    with pytest.raises(InvalidContract) as caught:
        parse_contract_yaml(text)
    errors: list[str] = caught.value.details["errors"]
    return errors


def test_a_yaml_syntax_error_names_its_line() -> None:
    [error] = yaml_errors("service:\n  id: a\n  name: [unclosed\n")
    assert error.startswith("(yaml): line ")


def test_a_yaml_key_given_twice_is_rejected_with_its_line() -> None:
    [error] = yaml_errors("service:\n  id: a\n  id: b\n")
    assert error == "(yaml): line 3: found duplicate key 'id'"


@pytest.mark.parametrize("text", ["", "   \n", "# only a comment\n", "---\n", "null"])
def test_an_empty_yaml_document_is_rejected(text: str) -> None:
    assert yaml_errors(text) == ["$: the document is empty"]


@pytest.mark.parametrize("text", ["- a\n- b\n", "just text", "42"])
def test_a_yaml_document_that_is_not_a_mapping_is_rejected(text: str) -> None:
    [error] = yaml_errors(text)
    assert error.startswith("$: a contract is a mapping")


def test_yaml_that_would_build_python_objects_is_refused() -> None:
    [error] = yaml_errors("service: !!python/object/apply:os.system ['true']\n")
    assert error.startswith("(yaml): line 1:")


def test_an_unquoted_yaml_date_is_rejected_with_a_hint() -> None:
    text = "service: {id: a, name: n, version: 2024-01-01, capabilities: [{type: x}]}"
    assert yaml_errors(text) == ["$.service.version: a date is not a JSON value; in YAML, quote it"]


def test_a_yaml_alias_bomb_is_rejected_quickly() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    [error] = yaml_errors("\n".join(lines) + "\n")
    assert "too large" in error


def test_a_contract_file_with_errors_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("service:\n  id: Bad\n")
    with pytest.raises(InvalidContract) as caught:
        load_contract_file(path)
    assert caught.value.message.startswith(f"{path}: invalid contract: ")
    assert caught.value.details["file"] == str(path)
    assert "$.service.id" in " ".join(caught.value.details["errors"])


def test_a_json_contract_file_is_read_as_json(tmp_path: Path) -> None:
    good = tmp_path / "good.json"
    good.write_text('{"service_id": "a", "name": "A", "version": "1", "capabilities": ["x"]}')
    assert load_contract_file(good).id == "a"
    bad = tmp_path / "bad.json"
    bad.write_text('{"service_id": ')
    with pytest.raises(InvalidContract, match=r"\(json\)"):
        load_contract_file(bad)


def test_a_contract_file_that_is_not_utf8_is_invalid(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("service_id: caf\xe9\n".encode("latin-1"))
    with pytest.raises(InvalidContract, match="not UTF-8"):
        load_contract_file(path)


def test_a_missing_contract_file_is_an_os_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_contract_file(tmp_path / "missing.yaml")


@pytest.mark.parametrize(
    ("document", "path", "meant"),
    [
        (
            {"service": {**NESTED["service"], "constraints": {"max_concurent_requests": 3}}},
            "$.service.constraints.max_concurent_requests",
            "max_concurrent_requests",
        ),
        (
            {"service": {**NESTED["service"], "privacy": {"hipaa_complaint": True}}},
            "$.service.privacy.hipaa_complaint",
            "hipaa_compliant",
        ),
        (
            {**FLAT, "constraints": {"suported_languages": ["en"]}},
            "$.constraints.suported_languages",
            "supported_languages",
        ),
    ],
)
def test_a_misspelled_contract_key_is_an_error_at_its_path_with_the_key_meant(
    document: dict[str, Any], path: str, meant: str
) -> None:
    errors = contract_errors(document)

    assert len(errors) == 1
    assert errors[0].startswith(f"{path}: unknown key; did you mean {meant!r}?")


def test_extensions_are_x_keys_and_are_kept() -> None:
    document = {
        "service": {
            **NESTED["service"],
            "x-team": "ml-platform",
            "constraints": {"x-gpu": {"kind": "a100", "count": 2}},
        }
    }

    contract = parse_contract(document)

    assert contract.model_extra == {"x-team": "ml-platform"}
    assert contract.to_document()["service"]["constraints"] == {
        "x-gpu": {"kind": "a100", "count": 2}
    }
