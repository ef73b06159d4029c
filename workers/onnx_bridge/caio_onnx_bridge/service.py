"""``OnnxBridgeService``: a contract whose ``api`` names an ONNX model, served with no code.

::

    python -m caio_onnx_bridge contracts/my-model.yaml --nats-url nats://127.0.0.1:4222

or, in Python, ``await run("my-model.yaml", HostConfig(...))``. The service is
an ``AIUCPService`` on the SDK's host, so registration, heartbeats,
deadlines, concurrency and error replies are the host's; the bridge turns a
request's context into the model's input tensors (``tensors``) along the
binding the contract gives its capability (``plan``), runs the model, and
returns the outputs as JSON lists.

The model is loaded once, when the contract is read (so a model that cannot
load stops the start), into one onnxruntime session on the CPU. Runs happen
on a small thread pool of the bridge's own, never on the event loop: the
session is thread-safe and releases the GIL while it computes. The pool has
at most ``_MAX_WORKERS`` threads (fewer when the contract's
``max_concurrent_requests`` is lower, or the machine has fewer cores), and
each run's own onnxruntime threads share the cores left, so concurrent
requests do not oversubscribe the CPU.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy.typing as npt
from onnxruntime.capi.onnxruntime_pybind11_state import InvalidArgument

from caio_integration._log import get_logger
from caio_integration.errors import InvalidRequest, ServiceError, ServiceUnavailable
from caio_integration.host import HostConfig, ServiceHost
from caio_integration.service import AIUCPService, WorkResult, current_context
from caio_onnx_bridge.plan import Binding, ModelPlan, plan_model
from caio_onnx_bridge.tensors import to_array, to_json

__all__ = ["OnnxBridgeService", "create_host", "run"]

_MAX_WORKERS = 4


class OnnxBridgeService(AIUCPService):
    """Serves each capability of a contract by running the ONNX model its ``api`` names."""

    def __init__(self, *, base_dir: str | os.PathLike[str] | None = None) -> None:
        """``base_dir`` resolves ``api.model`` for a contract assigned in code
        (``initialize`` uses the contract file's directory)."""
        self._base_dir = Path(base_dir) if base_dir is not None else Path.cwd()
        self._plan: ModelPlan | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._log = get_logger("caio.onnx_bridge")

    # -- the contract ------------------------------------------------------------

    def initialize(self, contract_path: str | os.PathLike[str]) -> None:
        """Load the contract and its model; raises ``InvalidContract`` with every problem."""
        super().initialize(contract_path)
        self._base_dir = Path(contract_path).resolve().parent
        self._plan = self.plan()

    def plan(self) -> ModelPlan:
        """The model and bindings of ``self.contract`` (loaded on first use)."""
        if self._plan is None:
            self._plan = plan_model(self.contract, self._base_dir, threads=self._run_threads())
        return self._plan

    def implements(self, capability: str) -> bool:
        return capability in self.plan().bindings

    def _workers(self) -> int:
        limit = self.contract.constraints.max_concurrent_requests or _MAX_WORKERS
        return max(1, min(_MAX_WORKERS, limit, os.cpu_count() or 1))

    def _run_threads(self) -> int:
        return max(1, (os.cpu_count() or 1) // self._workers())

    # -- lifecycle ---------------------------------------------------------------

    async def setup(self) -> None:
        plan = self.plan()
        self._log = get_logger("caio.onnx_bridge", service_id=self.contract.id)
        workers = self._workers()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="caio-onnx")
        self._log.info(
            "onnx_bridge_ready",
            model=str(plan.path),
            workers=workers,
            inputs={name: spec.describe() for name, spec in plan.inputs.items()},
            bindings={b.capability: dict(b.feeds) for b in plan.bindings.values()},
        )

    async def teardown(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:  # the host answered every request before this: nothing runs
            pool.shutdown(wait=False, cancel_futures=True)

    # -- the work ----------------------------------------------------------------

    async def execute(
        self, request: dict[str, Any], context: dict[str, Any] | None = None
    ) -> WorkResult:
        binding = self._binding(context)
        plan = self.plan()
        feeds = self.feeds(binding, request)
        pool = self._pool
        if pool is None:
            raise ServiceUnavailable(
                "the ONNX bridge is not started", details={"reason": "not_started"}
            )
        names = list(binding.returns)
        loop = asyncio.get_running_loop()
        try:
            outputs = await loop.run_in_executor(pool, plan.session.run, names, feeds)
        except InvalidArgument as exc:  # e.g. two inputs disagreeing on a shared dimension
            raise InvalidRequest(
                f"the model refused the inputs: {_first_line(exc)}",
                details={"reason": "invalid_input"},
            ) from None
        except Exception as exc:  # noqa: BLE001 - onnxruntime's errors share no base class
            self._log.warning("onnx_run_failed", capability=binding.capability, error=repr(exc))
            raise ServiceError(
                f"the model failed: {_first_line(exc)}", details={"reason": "inference_failed"}
            ) from None
        result = {
            binding.returns[name]: to_json(name, value)
            for name, value in zip(names, outputs, strict=True)
        }
        return WorkResult(result)

    def feeds(self, binding: Binding, request: Mapping[str, Any]) -> dict[str, npt.NDArray[Any]]:
        """The model's input tensors from a request's context; ``InvalidRequest`` if it cannot."""
        inputs = self.plan().inputs
        feeds: dict[str, npt.NDArray[Any]] = {}
        for name, key in binding.feeds.items():
            spec = inputs[name]
            if key not in request:
                raise InvalidRequest(
                    f"context.{key} is missing: it feeds the model's input {name!r} "
                    f"({spec.describe()})",
                    details={"reason": "missing_input", "input": name, "key": key},
                )
            feeds[name] = to_array(spec, request[key], key)
        return feeds

    def get_health_status(self) -> dict[str, Any]:
        status = "healthy" if self._pool is not None else "unhealthy"
        return {"status": status, "model": self.plan().path.name}

    def _binding(self, context: Mapping[str, Any] | None) -> Binding:
        context = context if context is not None else current_context() or {}
        capability = context.get("capability")
        bindings = self.plan().bindings
        binding = bindings.get(capability) if isinstance(capability, str) else None
        if binding is None:  # the host only calls execute for implemented capabilities
            raise ServiceUnavailable(
                f"no binding for capability {capability!r}", details={"reason": "no_binding"}
            )
        return binding


def _first_line(exc: BaseException) -> str:
    """An onnxruntime message's first line, without its ``[ONNXRuntimeError] : 2 : ...`` tag."""
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    if text.startswith("[ONNXRuntimeError]"):
        text = text.split(" : ", 3)[-1]
    return text[:300]


def create_host(
    contract_path: str | os.PathLike[str], config: HostConfig | None = None
) -> ServiceHost:
    """A host serving ``contract_path`` through the bridge (the model loaded, not started)."""
    service = OnnxBridgeService()
    service.initialize(contract_path)
    return ServiceHost(service, config if config is not None else HostConfig.from_env())


async def run(contract_path: str | os.PathLike[str], config: HostConfig | None = None) -> None:
    """Serve ``contract_path`` until SIGTERM/SIGINT (``caio bridge onnx CONTRACT``)."""
    await create_host(contract_path, config).run()
