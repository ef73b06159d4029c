"""Prometheus series of a router, named ``caio_*`` (``caio router --metrics-port``).

Every decision a router makes is written to the audit log, once, so the
request series are fed from the audit records themselves: a metric can
never count a request the audit log does not hold, or miss one it does.
Decision time is timed around matching; circuit state is read when
Prometheus scrapes. Off by default, and then no request pays for it.

Series:

    caio_requests_total{kind, capability, service, outcome}
    caio_request_duration_seconds{capability, outcome}       histogram
    caio_decision_duration_seconds                            histogram
    caio_exclusions_total{capability, code}
    caio_attempts_total{service, status}                      (rate_limited, circuit_open...)
    caio_stream_chunks_total{capability, service}
    caio_audit_publish_duration_seconds                       histogram
    caio_audit_failures_total
    caio_circuit_open{service}                                1 while this router's circuit is open
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

__all__ = ["MetricsSettings", "RouterMetrics"]

# Seconds: a routed call is ~1 ms here and may take a model's minute.
_REQUEST_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 60)
_FAST_BUCKETS = (0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.01, 0.1)


@dataclass(frozen=True, slots=True)
class MetricsSettings:
    port: int | None = None  # None: no metrics; 0: any free port
    host: str = "127.0.0.1"


class _Circuits(Collector):
    """``caio_circuit_open``, read from the breakers at scrape time."""

    def __init__(self, open_services: Callable[[], Iterable[str]]) -> None:
        self._open_services = open_services

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "caio_circuit_open",
            "1 while this router's circuit for the service is open",
            labels=["service"],
        )
        for service_id in sorted(self._open_services()):
            family.add_metric([service_id], 1.0)
        yield family


class RouterMetrics:
    """The series of one router, in their own registry (several routers may share a process)."""

    __slots__ = (
        "_attempts",
        "_audit_failures",
        "_audit_publish",
        "_chunks",
        "_decisions",
        "_durations",
        "_exclusions",
        "_requests",
        "_server",
        "port",
        "registry",
    )

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.port: int | None = None
        self._server: WSGIServer | None = None
        r = self.registry
        self._requests = Counter(
            "caio_requests",
            "Decisions by kind, capability, service and outcome",
            ["kind", "capability", "service", "outcome"],
            registry=r,
        )
        self._durations = Histogram(
            "caio_request_duration_seconds",
            "Receipt to reply, per routed request",
            ["capability", "outcome"],
            buckets=_REQUEST_BUCKETS,
            registry=r,
        )
        self._decisions = Histogram(
            "caio_decision_duration_seconds",
            "Matching and ranking alone, per decision",
            buckets=_FAST_BUCKETS,
            registry=r,
        )
        self._exclusions = Counter(
            "caio_exclusions",
            "Services left out of a decision, by stable code",
            ["capability", "code"],
            registry=r,
        )
        self._attempts = Counter(
            "caio_attempts",
            "Forwards and skipped candidates by service and status",
            ["service", "status"],
            registry=r,
        )
        self._chunks = Counter(
            "caio_stream_chunks",
            "Chunks relayed to streaming callers",
            ["capability", "service"],
            registry=r,
        )
        self._audit_publish = Histogram(
            "caio_audit_publish_duration_seconds",
            "Audit record publish until its JetStream ack",
            buckets=_FAST_BUCKETS,
            registry=r,
        )
        self._audit_failures = Counter(
            "caio_audit_failures", "Audit records the stream did not store", registry=r
        )

    def watch_circuits(self, open_services: Callable[[], Iterable[str]]) -> None:
        self.registry.register(_Circuits(open_services))

    def serve(self, settings: MetricsSettings) -> int:
        """Serve ``/metrics`` over HTTP (a thread of prometheus-client's); the port taken."""
        assert settings.port is not None
        self._server, _ = start_http_server(settings.port, settings.host, registry=self.registry)
        self.port = int(self._server.server_address[1])
        return self.port

    def close(self) -> None:
        """Stop serving ``/metrics``."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    # -- fed by the router -------------------------------------------------------

    def decided(self, seconds: float) -> None:
        self._decisions.observe(seconds)

    def audited(self, record: dict[str, Any], publish_s: float) -> None:
        """One stored audit record (its JSON object): the decision it holds, and how long
        storing it took."""
        self._audit_publish.observe(publish_s)
        capability = record.get("capability") or "_"
        service = record.get("service_id") or "_"
        kind, outcome = record["kind"], record["outcome"]
        self._requests.labels(kind, capability, service, outcome).inc()
        if kind != "route":
            return
        latency_ms = record.get("latency_ms")
        if latency_ms is not None:
            self._durations.labels(capability, outcome).observe(latency_ms / 1000)
        codes = (record.get("decision") or {}).get("excluded_codes") or {}
        for code in codes.values():
            self._exclusions.labels(capability, code).inc()
        for attempt in record.get("attempts") or ():
            self._attempts.labels(attempt["service_id"], attempt["status"]).inc()
        chunks = (record.get("stream") or {}).get("chunks")
        if chunks:
            self._chunks.labels(capability, service).inc(chunks)

    def audit_failed(self) -> None:
        self._audit_failures.inc()
