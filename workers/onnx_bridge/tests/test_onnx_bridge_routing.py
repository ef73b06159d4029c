"""A routed request, through a real router, answered by the model with onnxruntime."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from onnx_bridge_support import B, Route, W, write_contract

from caio_onnx_bridge import OnnxBridgeService

FEATURES = [[1.0, 0.0, 2.0], [0.5, -1.0, 3.0]]


async def serve(caio_host: Any, router: Any, tmp_path: Path) -> OnnxBridgeService:
    service = OnnxBridgeService()
    await caio_host(service, write_contract(tmp_path), register=True)
    assert await router.liveness.wait_available("linear", timeout_s=10)
    return service


async def test_a_routed_request_gets_the_models_outputs_under_the_contracts_keys(
    caio_host: Any, router: Any, route: Route, tmp_path: Path
) -> None:
    await serve(caio_host, router, tmp_path)

    reply = await route("linear_predict", {"features": FEATURES, "ids": [41, 9]})

    assert reply["status"] == "ok", reply
    assert reply["service_id"] == "linear"
    expected = np.array(FEATURES, dtype=np.float32) @ W + B  # [[11.5, 13], [13, 14]]
    assert reply["result"].keys() == {"scores", "next_ids"}
    assert np.allclose(reply["result"]["scores"], expected)
    assert reply["result"]["scores"] == [[11.5, 13.0], [13.0, 14.0]]
    assert reply["result"]["next_ids"] == [42, 10]


@pytest.mark.parametrize(
    ("context", "input_name", "says"),
    [
        (
            {"features": [[1.0, 2.0]], "ids": [1]},
            "x",
            "context.features cannot feed the model's input 'x' (float [?, 3]): "
            "dimension 1 is 2, the model takes 3",
        ),
        ({"ids": [1]}, "x", "context.features is missing: it feeds the model's input 'x'"),
        (
            {"features": FEATURES, "ids": ["a", "b"]},
            "ids",
            "context.ids cannot feed the model's input 'ids' (int64 [?]): strings given, "
            "the model takes integers",
        ),
        (
            {"features": [1.0, 2.0, 3.0], "ids": [1]},
            "x",
            "1 dimensions given, the model takes 2",
        ),
    ],
    ids=["wrong-shape", "missing-key", "wrong-type", "wrong-rank"],
)
async def test_a_bad_input_is_an_invalid_request_naming_the_input(
    caio_host: Any,
    router: Any,
    route: Route,
    tmp_path: Path,
    context: dict[str, Any],
    input_name: str,
    says: str,
) -> None:
    await serve(caio_host, router, tmp_path)

    reply = await route("linear_predict", context)

    assert reply["status"] == "error", reply
    error = reply["error"]
    assert error["code"] == "invalid_request"
    assert says in error["message"]
    assert f"input {input_name!r}" in error["message"]
    # The router passes the service's own error on, under the attempt that got it.
    (attempt,) = error["details"]["attempts"]
    assert attempt["error"]["details"]["input"] == input_name
