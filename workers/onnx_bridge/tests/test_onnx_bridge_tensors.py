"""JSON to the model's tensors and back, called directly: strict types, the model's shapes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from onnx_bridge_support import write_contract

from caio_integration.errors import InvalidRequest, ServiceError
from caio_onnx_bridge import OnnxBridgeService, to_array, to_json
from caio_onnx_bridge.tensors import spec_for

FLOAT_N3 = spec_for("x", "tensor(float)", ["N", 3])
INT32 = spec_for("k", "tensor(int32)", [2])
SCALAR = spec_for("t", "tensor(double)", [])
TEXT = spec_for("s", "tensor(string)", [None])


@pytest.mark.parametrize(
    ("spec", "value", "says"),
    [
        (FLOAT_N3, [[1, 2, 3], [4, 5]], "the lists are not all the same length"),
        (FLOAT_N3, {"a": 1}, "an object is not a tensor"),
        (FLOAT_N3, [[True, False, True]], "booleans given, the model takes numbers"),
        (FLOAT_N3, [["1", "2", "3"]], "strings given, the model takes numbers"),
        (FLOAT_N3, [[1, None, 3]], "values of mixed or other types given"),
        (INT32, [1.5, 2], "numbers with a fraction or exponent given, the model takes integers"),
        (INT32, [1, 2**31], "values outside int32's range"),
        (INT32, [1, 2, 3], "dimension 0 is 3, the model takes 2"),
        (SCALAR, [1.0], "1 dimensions given, the model takes 0"),
        (TEXT, [1, 2], "integers given, the model takes strings"),
    ],
)
def test_a_value_the_input_cannot_take_is_refused_with_why(
    spec: Any, value: Any, says: str
) -> None:
    with pytest.raises(InvalidRequest) as refused:
        to_array(spec, value, "key")

    assert says in refused.value.message
    assert refused.value.details == {"reason": "invalid_input", "input": spec.name, "key": "key"}


def test_values_the_input_takes_become_its_dtype() -> None:
    assert to_array(FLOAT_N3, [[1, 2, 3]], "k").dtype == np.float32  # integers are numbers
    assert to_array(SCALAR, 2.5, "k").shape == ()
    assert to_array(TEXT, ["a", "b"], "k").tolist() == ["a", "b"]
    assert to_array(INT32, [-(2**31), 2**31 - 1], "k").dtype == np.int32


def test_an_output_is_json_and_nan_is_a_service_error() -> None:
    assert to_json("y", np.array([[1.5, 2.0]], dtype=np.float32)) == [[1.5, 2.0]]
    assert to_json("n", np.array(3, dtype=np.int64)) == 3
    with pytest.raises(ServiceError) as failed:
        to_json("y", np.array([1.0, np.nan]))
    assert failed.value.details == {"reason": "non_finite_output", "output": "y"}


async def test_execute_runs_the_model_off_the_event_loop(tmp_path: Path) -> None:
    service = OnnxBridgeService()
    service.initialize(write_contract(tmp_path))
    await service.setup()
    try:
        result = await service.execute(
            {"features": [[0, 0, 0], [1, 1, 1]], "ids": [0, -5]},
            {"capability": "linear_predict"},
        )
    finally:
        await service.teardown()

    assert result.result == {"scores": [[0.5, -1.0], [9.5, 11.0]], "next_ids": [1, -4]}
