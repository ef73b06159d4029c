"""CAIO's ONNX bridge: a contract's ONNX model, served on NATS with onnxruntime and no code.

``python -m caio_onnx_bridge CONTRACT.yaml`` (or ``caio bridge onnx``) serves
every capability of a contract whose ``api`` says ``protocol: onnx`` by
running the model file it names; workers/onnx_bridge/README.md has the details.
"""

from caio_onnx_bridge.plan import Binding, ModelPlan, plan_model
from caio_onnx_bridge.service import OnnxBridgeService, create_host, run
from caio_onnx_bridge.tensors import TensorSpec, to_array, to_json

__all__ = [
    "Binding",
    "ModelPlan",
    "OnnxBridgeService",
    "TensorSpec",
    "create_host",
    "plan_model",
    "run",
    "to_array",
    "to_json",
]
