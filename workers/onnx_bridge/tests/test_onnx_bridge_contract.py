"""What a contract must say for the ONNX bridge to serve it, checked before anything connects.

The schema and the model accept the new ``api`` keys (``model``,
``bindings``) and refuse a misspelled one; the bridge then loads the model
and refuses, with every reason, a contract whose bindings name tensors the
model does not have.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from onnx_bridge_support import contract_document, write_contract

from caio_integration.contracts import contract_errors, parse_contract
from caio_integration.errors import InvalidContract
from caio_onnx_bridge import OnnxBridgeService

BINDING = contract_document()["service"]["api"]["bindings"][0]


def refused(tmp_path: Path, document: dict[str, Any]) -> InvalidContract:
    path = write_contract(tmp_path, document)
    with pytest.raises(InvalidContract) as raised:
        OnnxBridgeService().initialize(path)
    return raised.value


def test_the_schema_and_the_model_accept_an_onnx_api() -> None:
    document = contract_document()

    assert contract_errors(document) == []
    api = parse_contract(document).api
    assert api is not None
    assert (api.protocol, api.model) == ("onnx", "models/linear.onnx")
    assert api.bindings is not None
    assert api.bindings[0].inputs == {"x": "features", "ids": "ids"}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda api: api.update(modle="m.onnx"), "$.service.api.modle: unknown key"),
        (
            lambda api: api["bindings"][0].update(input={"x": "features"}),
            "$.service.api.bindings[0].input: unknown key; did you mean 'inputs'?",
        ),
        (
            lambda api: api["bindings"][0].update(outputs={}),
            "$.service.api.bindings[0].outputs",
        ),
        (
            lambda api: api["bindings"][0]["inputs"].update(x=""),
            "$.service.api.bindings[0].inputs.x",
        ),
        (lambda api: api["bindings"][0].pop("capability"), "$.service.api.bindings[0]"),
        (lambda api: api.update(protocol="onnxx"), "$.service.api.protocol"),
    ],
    ids=["api-typo", "binding-typo", "empty-outputs", "empty-key", "no-capability", "protocol"],
)
def test_the_schema_refuses_a_typo_in_the_onnx_fields(change: Any, expected: str) -> None:
    document = copy.deepcopy(contract_document())
    change(document["service"]["api"])

    errors = contract_errors(document)

    assert any(expected in line for line in errors), errors
    with pytest.raises(InvalidContract):
        parse_contract(document)


def test_a_missing_model_file_stops_the_start_naming_the_path(tmp_path: Path) -> None:
    error = refused(tmp_path, contract_document(model="models/nowhere.onnx"))

    assert error.details["errors"] == [
        f"$.service.api.model: no such model file: {tmp_path / 'models' / 'nowhere.onnx'}"
    ]
    assert "the ONNX bridge cannot serve linear" in error.message


def test_a_file_that_is_not_a_model_stops_the_start(tmp_path: Path) -> None:
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "junk.onnx").write_text("not a model")

    error = refused(tmp_path, contract_document(model="models/junk.onnx"))

    (line,) = error.details["errors"]
    assert line.startswith("$.service.api.model: onnxruntime cannot load ")


def test_bindings_naming_what_the_model_lacks_stop_the_start_with_every_reason(
    tmp_path: Path,
) -> None:
    binding = {
        "capability": "linear_predict",
        "inputs": {"x": "features", "idz": "ids"},
        "outputs": {"y": "scores", "why": "other"},
    }

    error = refused(tmp_path, contract_document(bindings=[binding]))

    where = "$.service.api.bindings[0]"
    assert error.details["errors"] == [
        f"{where}.inputs: the model has no input 'idz' (its inputs: 'x', 'ids')",
        f"{where}.inputs: the model's input 'ids' is fed by no context key; "
        "add `ids: <context key>`",
        f"{where}.outputs: the model has no output 'why' (its outputs: 'y', 'next')",
    ]


def test_every_capability_needs_one_binding_of_its_own(tmp_path: Path) -> None:
    document = contract_document(
        bindings=[BINDING, {**BINDING, "capability": "elsewhere"}, BINDING]
    )
    document["service"]["capabilities"].append({"type": "second"})

    error = refused(tmp_path, document)

    assert error.details["errors"] == [
        "$.service.api.bindings[1].capability: 'elsewhere' is not a capability of this "
        "contract (linear_predict, second)",
        "$.service.api.bindings[2].capability: 'linear_predict' is served by "
        "$.service.api.bindings[0] already",
        "$.service.capabilities[1].type: no binding serves 'second'; "
        "give api.bindings an entry `capability: second`",
    ]


def test_a_contract_of_another_protocol_is_refused(tmp_path: Path) -> None:
    document = contract_document(protocol="http")

    error = refused(tmp_path, document)

    assert error.details["errors"] == [
        "$.service.api: protocol onnx is required, found api.protocol 'http'"
    ]


def test_without_inputs_and_outputs_every_tensor_goes_by_its_own_name(tmp_path: Path) -> None:
    service = OnnxBridgeService()
    service.initialize(
        write_contract(tmp_path, contract_document(bindings=[{"capability": "linear_predict"}]))
    )

    binding = service.plan().bindings["linear_predict"]

    assert dict(binding.feeds) == {"x": "x", "ids": "ids"}
    assert dict(binding.returns) == {"y": "y", "next": "next"}


def test_the_registered_contract_keeps_the_model_path_as_written(tmp_path: Path) -> None:
    path = write_contract(tmp_path)
    service = OnnxBridgeService()
    service.initialize(path)

    api = service.contract.to_document()["service"]["api"]

    assert api == {**yaml.safe_load(path.read_text())["service"]["api"], "endpoints": []}
