"""What the ONNX bridge's tests share besides fixtures: the tiny model, and contracts for it.

A module of its own (not ``conftest``) so tests import it by a name no
other test directory uses. The model is built with ``onnx.helper`` and
written where the test says, so no test downloads or ships a model file.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import yaml
from onnx import TensorProto, helper, numpy_helper

__all__ = ["B", "Route", "W", "contract_document", "write_contract", "write_model"]

# The ``route`` fixture: ``await route(capability, context, **fields)`` -> the reply.
Route = Callable[..., Awaitable[dict[str, Any]]]

# y = x @ W + b (x: float [N, 3]); next = ids + 1 (ids: int64 [N])
W = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], dtype=np.float32)
B = np.array([0.5, -1.0], dtype=np.float32)


def write_model(path: Path) -> Path:
    """The test model: inputs ``x`` (float, [N, 3]) and ``ids`` (int64, [N]); outputs
    ``y = x @ W + b`` (float, [N, 2]) and ``next = ids + 1`` (int64, [N])."""
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["x", "W"], ["xw"]),
            helper.make_node("Add", ["xw", "b"], ["y"]),
            helper.make_node("Add", ["ids", "one"], ["next"]),
        ],
        "linear",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3]),
            helper.make_tensor_value_info("ids", TensorProto.INT64, ["N"]),
        ],
        [
            helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2]),
            helper.make_tensor_value_info("next", TensorProto.INT64, ["N"]),
        ],
        [
            numpy_helper.from_array(W, "W"),
            numpy_helper.from_array(B, "b"),
            numpy_helper.from_array(np.array(1, dtype=np.int64), "one"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8  # what every onnxruntime since 1.10 reads
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def contract_document(**api: Any) -> dict[str, Any]:
    """The contract of a service ``linear`` with capability ``linear_predict``, served by
    ``models/linear.onnx``; ``api`` keys replace the defaults."""
    return {
        "service": {
            "id": "linear",
            "name": "Linear model",
            "version": "1.0.0",
            "capabilities": [{"type": "linear_predict"}],
            "guarantees": {"latency": {"property": "p95_latency_ms", "bound": {"max": 2000}}},
            "api": {
                "protocol": "onnx",
                "model": "models/linear.onnx",
                "bindings": [
                    {
                        "capability": "linear_predict",
                        "inputs": {"x": "features", "ids": "ids"},
                        "outputs": {"y": "scores", "next": "next_ids"},
                    }
                ],
                **api,
            },
        }
    }


def write_contract(directory: Path, document: dict[str, Any] | None = None) -> Path:
    """The contract (default: ``contract_document()``) and its model, in ``directory``."""
    (directory / "models").mkdir(exist_ok=True)
    write_model(directory / "models" / "linear.onnx")
    path = directory / "linear.yaml"
    path.write_text(yaml.safe_dump(document or contract_document()))
    return path
