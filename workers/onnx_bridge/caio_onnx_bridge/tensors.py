"""JSON values to the model's input tensors and its output tensors back to JSON.

An input is a number (a scalar tensor), a string (for ``tensor(string)``),
or nested lists of them, as deep as the tensor's rank. Its dtype and shape
are the model's: a fixed dimension must match, a named one (``N``,
``batch``) takes any size. Types are strict as in contracts: a string is
never a number, a fraction never an integer, an integer out of the dtype's
range is refused rather than wrapped. Every refusal is ``invalid_request``
naming the model input and the context key it was read from.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from caio_integration.errors import InvalidRequest, ServiceError

__all__ = ["TensorSpec", "spec_for", "to_array", "to_json"]

# onnxruntime's type names for the tensors a JSON value can hold.
_DTYPES: dict[str, np.dtype[Any]] = {
    f"tensor({name})": np.dtype(dtype)
    for name, dtype in {
        "float": np.float32,
        "double": np.float64,
        "float16": np.float16,
        "int8": np.int8,
        "int16": np.int16,
        "int32": np.int32,
        "int64": np.int64,
        "uint8": np.uint8,
        "uint16": np.uint16,
        "uint32": np.uint32,
        "uint64": np.uint64,
        "bool": np.bool_,
        "string": np.object_,
    }.items()
}
# What numpy makes of a JSON value (its dtype's kind) that each kind of input accepts.
_ACCEPTS = {
    "f": "if",  # a float input takes integers too: 1 is 1.0
    "i": "i",
    "u": "i",
    "b": "b",
    "O": "U",  # tensor(string)
}
_KIND_NAMES = {"f": "numbers", "i": "integers", "u": "integers", "b": "booleans", "O": "strings"}
# What a refused value held, by the kind of array numpy made of it.
_FOUND = {
    "U": "strings",
    "b": "booleans",
    "i": "integers",
    "f": "numbers with a fraction or exponent",
}


@dataclass(frozen=True, slots=True)
class TensorSpec:
    """A model input: its dtype (None: not a tensor the bridge can feed) and shape
    (None in a dimension: any size)."""

    name: str
    onnx_type: str
    dtype: np.dtype[Any] | None
    shape: tuple[int | None, ...]

    def describe(self) -> str:
        dims = ", ".join("?" if d is None else str(d) for d in self.shape)
        return f"{self.onnx_type.removeprefix('tensor(').removesuffix(')')} [{dims}]"


def spec_for(name: str, onnx_type: str, shape: Sequence[int | str | None] | None) -> TensorSpec:
    """The spec of an input as onnxruntime describes it (``NodeArg.type``, ``.shape``)."""
    dims = tuple(d if isinstance(d, int) and d >= 0 else None for d in shape or ())
    return TensorSpec(name, onnx_type, _DTYPES.get(onnx_type), dims)


def to_array(spec: TensorSpec, value: Any, key: str) -> npt.NDArray[Any]:
    """``value`` (the context's ``key``) as the tensor ``spec`` takes; ``InvalidRequest`` if not."""
    assert spec.dtype is not None  # the plan refused inputs that are not tensors

    def refuse(why: str) -> InvalidRequest:
        return InvalidRequest(
            f"context.{key} cannot feed the model's input {spec.name!r} ({spec.describe()}): {why}",
            details={"reason": "invalid_input", "input": spec.name, "key": key},
        )

    if isinstance(value, dict):
        raise refuse("an object is not a tensor")
    try:
        array = np.asarray(value)
    except ValueError:  # ragged lists
        raise refuse("the lists are not all the same length at each depth") from None
    expected = _KIND_NAMES[spec.dtype.kind]
    if array.ndim != len(spec.shape):
        raise refuse(f"{array.ndim} dimensions given, the model takes {len(spec.shape)}")
    for axis, (given, wanted) in enumerate(zip(array.shape, spec.shape, strict=True)):
        if wanted is not None and given != wanted:
            raise refuse(f"dimension {axis} is {given}, the model takes {wanted}")
    if array.size and array.dtype.kind not in _ACCEPTS[spec.dtype.kind]:
        found = _FOUND.get(array.dtype.kind, "values of mixed or other types")
        raise refuse(f"{found} given, the model takes {expected}")
    if array.size and spec.dtype.kind in "iu":
        info = np.iinfo(spec.dtype)
        low, high = int(array.min()), int(array.max())
        if low < info.min or high > info.max:
            raise refuse(f"values outside {spec.dtype.name}'s range [{info.min}, {info.max}]")
    return array.astype(spec.dtype, copy=False)


def to_json(name: str, array: Any) -> Any:
    """An output tensor as JSON (nested lists, or a scalar); ``ServiceError`` for NaN or inf,
    which JSON cannot carry."""
    if not isinstance(array, np.ndarray):  # the plan admits tensor outputs only
        raise ServiceError(
            f"the model's output {name!r} is not a tensor",
            details={"reason": "unexpected_output", "output": name},
        )
    if array.dtype.kind in "fc" and array.size and not np.isfinite(array).all():
        raise ServiceError(
            f"the model's output {name!r} has NaN or infinite values, which JSON cannot carry",
            details={"reason": "non_finite_output", "output": name},
        )
    if array.dtype.kind == "S":  # bytes: as text
        return np.char.decode(array, "utf-8", "replace").tolist()
    return array.tolist()
