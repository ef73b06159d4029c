"""CAIO's generic HTTP bridge: a contract's ``api`` section, served on NATS with no code.

``python -m caio_http_bridge CONTRACT.yaml`` (or ``caio bridge http``) serves
every capability of a contract whose ``api`` says ``protocol: http`` by
calling the endpoint that names it; docs/http-bridge.md has the details.
"""

from caio_http_bridge.calls import Budget
from caio_http_bridge.credentials import Credential, CredentialError
from caio_http_bridge.routes import BridgePlan, Route, plan_routes
from caio_http_bridge.service import HttpBridgeService, create_host, run
from caio_http_bridge.upstream_errors import error_for_status, retry_after_s

__all__ = [
    "BridgePlan",
    "Budget",
    "Credential",
    "CredentialError",
    "HttpBridgeService",
    "Route",
    "create_host",
    "error_for_status",
    "plan_routes",
    "retry_after_s",
    "run",
]
