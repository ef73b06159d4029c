"""W3C trace context across NATS, and OpenTelemetry spans when asked for.

A caller that sends a ``traceparent`` header (W3C Trace Context) on a route
request keeps its trace through CAIO: the router passes it on to the
worker's service request, records its trace id in the audit record, and
the SDK's host gives it to the service (``current_context()["trace_id"]``).

Spans are made only when tracing is switched on (``enable_tracing()``,
or ``--otlp-endpoint`` on the ``caio`` commands) and OpenTelemetry is
installed (``pip install 'caio-integration-sdk[otel]'``). Off, nothing is
imported and a request pays one header lookup. On, the router makes
``caio.route`` with ``caio.decide``, ``caio.forward`` and ``caio.audit``
inside, and a worker ``caio.execute``, each a child of the caller's span;
the traceparent sent on is the current span's.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

__all__ = [
    "TRACEPARENT",
    "disable_tracing",
    "enable_tracing",
    "span",
    "trace_id",
    "traceparent_of",
    "tracing_enabled",
]

TRACEPARENT = "traceparent"
# version-trace_id-parent_id-flags; an all-zero trace or parent id is invalid.
_FORMAT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$")

_tracer: Any = None  # an OpenTelemetry Tracer while tracing is on
_NO_TRACE: AbstractContextManager[str | None] = nullcontext(None)  # reusable: it holds nothing


def traceparent_of(headers: Mapping[str, str] | None) -> str | None:
    """A message's valid ``traceparent``, or None (absent or malformed: never an error)."""
    if not headers:
        return None
    value = headers.get(TRACEPARENT)
    if value is None or trace_id(value) is None:
        return None
    return value


def trace_id(traceparent: str | None) -> str | None:
    """The 32-hex trace id of a valid ``traceparent``."""
    if traceparent is None:
        return None
    found = _FORMAT.fullmatch(traceparent)
    if found is None or set(found.group(1)) == {"0"} or set(found.group(2)) == {"0"}:
        return None
    return found.group(1)


def enable_tracing(tracer_provider: Any = None, *, otlp_endpoint: str | None = None) -> None:
    """Make spans from now on: with ``tracer_provider``, else a new one exporting over
    OTLP/HTTP to ``otlp_endpoint``, else OpenTelemetry's global provider."""
    global _tracer
    from opentelemetry import trace

    if tracer_provider is None and otlp_endpoint is not None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        tracer_provider = TracerProvider(resource=Resource.create({"service.name": "caio"}))
        tracer_provider.add_span_processor(
            BatchSpanProcessor(OTLPSpanExporter(endpoint=otlp_endpoint))
        )
    provider = tracer_provider if tracer_provider is not None else trace.get_tracer_provider()
    _tracer = provider.get_tracer("caio")


def disable_tracing() -> None:
    global _tracer
    _tracer = None


def tracing_enabled() -> bool:
    return _tracer is not None


def span(
    name: str, traceparent: str | None, attributes: Mapping[str, Any] | None = None
) -> AbstractContextManager[str | None]:
    """A span named ``name`` when tracing is on: a child of the current span, or else of
    ``traceparent``; entering it gives the traceparent to send on. Off, entering gives
    ``traceparent`` back, at the cost of one small object."""
    if _tracer is None:
        # The route path enters four spans per request: off, most cost nothing at all.
        return _NO_TRACE if traceparent is None else nullcontext(traceparent)
    return _otel_span(name, traceparent, attributes)


@contextmanager
def _otel_span(
    name: str, traceparent: str | None, attributes: Mapping[str, Any] | None
) -> Iterator[str | None]:
    from opentelemetry import context, propagate, trace

    inside = trace.get_current_span().get_span_context().is_valid
    parent = (
        None if inside or traceparent is None else propagate.extract({TRACEPARENT: traceparent})
    )
    with _tracer.start_as_current_span(name, context=parent, attributes=dict(attributes or {})):
        carrier: dict[str, str] = {}
        propagate.inject(carrier, context=context.get_current())
        yield carrier.get(TRACEPARENT, traceparent)
