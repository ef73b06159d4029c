"""What the ONNX bridge serves: the contract's model file and a binding per capability.

A contract the bridge can serve says ``api: {protocol: onnx, model, bindings}``.
``model`` is the ONNX file (relative to the contract file); each binding
names the ``capability`` it serves, which context key feeds each model
input (``inputs``, default: the input's own name) and under which result
key each model output is returned (``outputs``, default: every output,
under its own name). Dtypes and shapes are the model's own.

Everything is checked once, when the bridge starts (the model loaded and
its inputs and outputs read), and reported together as ``InvalidContract``
lines in the contract's ``<JSONPath>: <message>`` style, so a contract that
starts is one whose every binding names real tensors.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import onnxruntime as ort

from caio_integration.contracts.model import OnnxBinding, ServiceContract
from caio_integration.errors import InvalidContract
from caio_onnx_bridge.tensors import TensorSpec, spec_for

__all__ = ["Binding", "ModelPlan", "load_session", "model_path", "plan_model"]

_PROVIDERS = ["CPUExecutionProvider"]


@dataclass(frozen=True, slots=True)
class Binding:
    """One capability: ``feeds`` (model input -> context key) and ``returns`` (output -> key)."""

    capability: str
    where: str  # the binding's JSONPath in the contract, for messages
    feeds: Mapping[str, str]
    returns: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class ModelPlan:
    """The loaded model, what its inputs accept, and a binding per capability."""

    path: Path
    session: ort.InferenceSession
    inputs: Mapping[str, TensorSpec]  # every model input, by name
    bindings: Mapping[str, Binding]  # by capability


def model_path(model: str, base_dir: Path) -> Path:
    """The model file ``api.model`` names, relative to ``base_dir`` unless absolute."""
    return base_dir / os.path.expanduser(model)


def load_session(path: Path, threads: int = 0) -> ort.InferenceSession:
    """An onnxruntime session on the CPU; ``threads`` per run (0: onnxruntime's choice)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3  # errors only: warnings about the graph are not ours to log
    return ort.InferenceSession(str(path), sess_options=options, providers=_PROVIDERS)


def plan_model(contract: ServiceContract, base_dir: Path, *, threads: int = 0) -> ModelPlan:
    """Load the model of ``contract`` (relative to ``base_dir``) and check its bindings.

    Raises ``InvalidContract`` listing every problem.
    """
    api = contract.api
    if api is None or api.protocol != "onnx":
        said = "no api section" if api is None else f"api.protocol {api.protocol!r}"
        raise InvalidContract(
            f"the ONNX bridge serves contracts with api.protocol onnx; {contract.id} has {said}",
            details={"errors": [f"$.service.api: protocol onnx is required, found {said}"]},
        )
    if api.model is None:
        _refuse(contract, ["$.service.api.model: the ONNX model file is required"])
    path = model_path(api.model, base_dir)
    if not path.is_file():
        _refuse(contract, [f"$.service.api.model: no such model file: {path}"])
    try:
        session = load_session(path, threads)
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own unrelated classes
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        _refuse(contract, [f"$.service.api.model: onnxruntime cannot load {path}: {first}"])
    errors: list[str] = []
    inputs = {n.name: spec_for(n.name, n.type, n.shape) for n in session.get_inputs()}
    outputs = {node.name: node.type for node in session.get_outputs()}
    for name, spec in inputs.items():
        if spec.dtype is None:
            errors.append(
                f"$.service.api.model: input {name!r} is a {spec.onnx_type}; "
                "the bridge feeds tensors only"
            )
    bindings: dict[str, Binding] = {}
    for index, binding in enumerate(api.bindings or []):
        where = f"$.service.api.bindings[{index}]"
        planned = _binding(contract, binding, where, inputs, outputs, errors)
        if planned is None:
            continue
        if planned.capability in bindings:
            errors.append(
                f"{where}.capability: {planned.capability!r} is served by "
                f"{bindings[planned.capability].where} already"
            )
        bindings[planned.capability] = planned
    for index, name in enumerate(contract.capability_names):
        if name not in bindings:
            errors.append(
                f"$.service.capabilities[{index}].type: no binding serves {name!r}; "
                f"give api.bindings an entry `capability: {name}`"
            )
    if errors:
        _refuse(contract, errors)
    return ModelPlan(path=path, session=session, inputs=inputs, bindings=bindings)


def _binding(
    contract: ServiceContract,
    binding: OnnxBinding,
    where: str,
    inputs: Mapping[str, TensorSpec],
    outputs: Mapping[str, str],
    errors: list[str],
) -> Binding | None:
    if contract.capability(binding.capability) is None:
        errors.append(
            f"{where}.capability: {binding.capability!r} is not a capability of this contract "
            f"({', '.join(contract.capability_names)})"
        )
        return None
    feeds = dict(binding.inputs) if binding.inputs is not None else {n: n for n in inputs}
    for name in feeds:
        if name not in inputs:
            errors.append(
                f"{where}.inputs: the model has no input {name!r} (its inputs: {_names(inputs)})"
            )
    for name in inputs:
        if name not in feeds:
            errors.append(
                f"{where}.inputs: the model's input {name!r} is fed by no context key; "
                f"add `{name}: <context key>`"
            )
    returns = dict(binding.outputs) if binding.outputs is not None else {n: n for n in outputs}
    seen: dict[str, str] = {}
    for name, key in returns.items():
        if name not in outputs:
            errors.append(
                f"{where}.outputs: the model has no output {name!r} (its outputs: "
                f"{_names(outputs)})"
            )
        elif not outputs[name].startswith("tensor("):
            errors.append(
                f"{where}.outputs: the model's output {name!r} is a {outputs[name]}; the bridge "
                "returns tensors only (leave it out of outputs)"
            )
        if key in seen:
            errors.append(f"{where}.outputs: {name!r} and {seen[key]!r} both return as {key!r}")
        seen[key] = name
    return Binding(binding.capability, where, feeds, returns)


def _names(tensors: Mapping[str, Any]) -> str:
    return ", ".join(repr(name) for name in tensors) or "none"


def _refuse(contract: ServiceContract, errors: list[str]) -> NoReturn:
    summary = "; ".join(errors[:3]) + (f" (and {len(errors) - 3} more)" if len(errors) > 3 else "")
    raise InvalidContract(
        f"the ONNX bridge cannot serve {contract.id}: {summary}", details={"errors": errors}
    )
