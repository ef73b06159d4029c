"""``AIUCPService``: what a service author writes (seed 002's interface).

An author subclasses ``AIUCPService``, implements ``execute``, and hands an
instance to ``caio_integration.host.serve`` (or ``ServiceHost``), which does
everything on the wire: registration, heartbeats, the NATS micro endpoints,
deadlines, concurrency, error replies and a graceful drain::

    class Echo(AIUCPService):
        async def execute(self, request, context=None):
            return {"echo": request.get("text", "")}

    asyncio.run(serve(Echo(), "echo.yaml"))

The host calls, per request, ``execute(request, context)`` and then
``verify_guarantees(result, contract)``; a verdict of ``guarantees_met:
false`` is answered as a ``service_error`` (``details.reason:
"guarantee_violated"``), so the router tries the next service.
"""

from __future__ import annotations

import contextvars
import os
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from jsonschema.protocols import Validator

from caio_integration.contracts import compile_output_schemas, load_contract_file
from caio_integration.contracts.model import ServiceContract

__all__ = ["AIUCPService", "WorkResult", "current_context"]


@dataclass(frozen=True, slots=True)
class WorkResult:
    """A result with its usage: ``execute`` may return this instead of a bare dict.

    ``result`` becomes the reply's ``result`` and ``usage`` its ``usage``
    (tokens, units, anything the caller may bill or log).
    """

    result: dict[str, Any]
    usage: dict[str, Any] = field(default_factory=dict)


# The request being served, as execute's ``context``: set by the host in each
# request's own task, so concurrent requests never see each other's.
_CURRENT: contextvars.ContextVar[Mapping[str, Any] | None] = contextvars.ContextVar(
    "caio_current_request", default=None
)


def current_context() -> Mapping[str, Any] | None:
    """The context of the request this task serves (capability, request_id, caller,
    deadline_ms), or None outside a request."""
    return _CURRENT.get()


class AIUCPService(ABC):
    """A CAIO service: implement ``execute``; override the rest when needed."""

    #: The contract capabilities ``execute`` serves; None: all of them. The
    #: others are still subscribed and answer ``capability_not_implemented``.
    implemented_capabilities: ClassVar[frozenset[str] | None] = None

    # Class-level defaults: a subclass's __init__ need not call ours.
    _contract: ServiceContract | None = None
    _checks: tuple[ServiceContract, dict[str, Validator]] | None = None

    # -- the contract ----------------------------------------------------------

    def initialize(self, contract_path: str | os.PathLike[str]) -> None:
        """Load and validate the contract file (YAML or JSON; schema files named
        by path are read in). Raises ``InvalidContract`` with every problem."""
        self.contract = load_contract_file(Path(contract_path))

    @property
    def contract(self) -> ServiceContract:
        if self._contract is None:
            raise RuntimeError(
                f"{type(self).__name__} has no contract yet: call initialize(contract_path) "
                "(serve() does) or assign .contract"
            )
        return self._contract

    @contract.setter
    def contract(self, contract: ServiceContract) -> None:
        if not isinstance(contract, ServiceContract):
            raise TypeError(f"a contract is a ServiceContract, not {type(contract).__name__}")
        self._contract = contract

    def implements(self, capability: str) -> bool:
        """Whether ``execute`` serves ``capability`` (see ``implemented_capabilities``)."""
        names = self.implemented_capabilities
        return names is None or capability in names

    # -- the work ----------------------------------------------------------------

    @abstractmethod
    async def execute(
        self, request: dict[str, Any], context: dict[str, Any] | None = None
    ) -> dict[str, Any] | WorkResult:
        """Do the work for one request.

        ``request`` is the caller's route ``context`` (the contract's input);
        ``context`` is ``{"capability", "request_id", "caller", "deadline_ms", "trace_id"}``.
        Return the result object, or a ``WorkResult`` to report usage too.
        Raise a ``caio_integration.errors.CAIOError`` subclass to fail with its
        code (``InvalidRequest`` for bad input, ``ServiceUnavailable`` for a
        missing upstream, ...); any other exception is answered as
        ``service_error`` without its text, which might carry secrets.
        """

    def execute_stream(
        self, request: dict[str, Any], context: dict[str, Any] | None = None
    ) -> AsyncIterator[dict[str, Any] | WorkResult]:
        """Do the work for one request, yielding the answer in pieces as they come.

        Override it as an async generator: each ``dict`` it yields is one
        chunk, sent on at once; the last item may be a ``WorkResult``, the
        final result and usage (without one the final result is ``{}``).
        The host calls it instead of ``execute`` when the caller asked for a
        stream (and calls ``execute`` otherwise, so a streaming service
        still answers plain requests). Errors are raised as in ``execute``;
        one raised after the first chunk ends the stream with that error,
        and the router does not fall back then. ``verify_guarantees`` is
        not called on a streamed answer: the output schema a contract gives
        describes a whole answer, not the final result that sums one up.
        """
        raise NotImplementedError  # never called: see ``streams``

    def streams(self) -> bool:
        """Whether this service overrides ``execute_stream``."""
        return type(self).execute_stream is not AIUCPService.execute_stream

    async def verify_guarantees(
        self, result: dict[str, Any], contract: ServiceContract, *, capability: str | None = None
    ) -> dict[str, Any]:
        """Check a result against what ``contract`` promises; return the proof.

        By default: the capability's ``output_schema`` when the contract has
        one. Returns ``{"guarantees_met": bool, "checks": [{"guarantee",
        "capability", "met", "message"?}, ...]}``. The capability is the
        request's (or ``capability``, or the contract's only one). Override to
        check more (and call ``super()`` to keep this check).
        """
        name = capability or _current_capability() or _only_capability(contract)
        validator = self._output_validators(contract).get(name)
        if validator is None:
            return {"guarantees_met": True, "checks": []}
        error = next(iter(validator.iter_errors(result)), None)
        check: dict[str, Any] = {"guarantee": "output_schema", "capability": name}
        if error is None:
            check["met"] = True
        else:
            path = error.absolute_path
            where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)
            check["met"] = False
            check["message"] = f"result{where}: {error.message}"[:300]
        return {"guarantees_met": check["met"], "checks": [check]}

    def _output_validators(self, contract: ServiceContract) -> dict[str, Validator]:
        # Compiled once per contract, not per request.
        if self._checks is None or self._checks[0] is not contract:
            self._checks = (contract, compile_output_schemas(contract))
        return self._checks[1]

    def get_health_status(self) -> dict[str, Any]:
        """``{"status": "healthy" | "degraded" | "unhealthy", ...}``; called often, keep it cheap.

        The host shows it in ``$SRV.STATS``. While it says ``unhealthy`` (or
        raises) the instance sends no heartbeats (the router stops choosing it)
        and answers requests with a retryable ``service_unavailable``.
        """
        return {"status": "healthy"}

    async def setup(self) -> None:  # noqa: B027 - an optional hook, empty on purpose
        """Called before connecting: open clients, check tools; raise to refuse to start."""

    async def teardown(self) -> None:  # noqa: B027 - an optional hook, empty on purpose
        """Called after the last request was answered."""


def _current_capability() -> str | None:
    context = _CURRENT.get()
    capability = context.get("capability") if context is not None else None
    return capability if isinstance(capability, str) else None


def _only_capability(contract: ServiceContract) -> str:
    names = contract.capability_names
    if len(names) != 1:
        raise ValueError(
            f"contract {contract.id!r} has capabilities {list(names)}: name the one to check "
            "(verify_guarantees(result, contract, capability=...))"
        )
    return names[0]
