"""What the bridge serves: each capability's HTTP endpoint, read from the contract's ``api``.

A contract the bridge can serve says ``api: {protocol: http, base_url, endpoints}``
and names, on each endpoint it serves, the ``capability`` it answers. Every
capability of the contract needs exactly one such endpoint: a capability the
bridge could not answer would still be routed to it. Endpoints without a
capability (seed 001's ``/health``) are described, not served.

Everything is checked once, when the bridge starts, and reported together
as ``InvalidContract`` lines in the contract's own ``<JSONPath>: <message>``
style, so a contract that starts is one whose every request can be sent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from caio_http_bridge.credentials import scrub
from caio_http_bridge.schemas import Schema
from caio_integration._json import JSONDecodeError, loads
from caio_integration.contracts.model import Api, Endpoint, HttpAuth, HttpStream, ServiceContract
from caio_integration.errors import InvalidContract, InvalidRequest, ServiceError

__all__ = ["BODY_METHODS", "BridgePlan", "Route", "plan_routes"]

# Methods whose request carries the context as a JSON body; GET and DELETE
# send its scalar values as the query string instead.
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_METHODS = BODY_METHODS | {"GET", "DELETE"}


@dataclass(frozen=True, slots=True)
class Route:
    """How one capability is served: the request to build and the schemas around it."""

    capability: str
    method: str
    path: str
    where: str  # the endpoint's JSONPath in the contract, for messages
    headers: Mapping[str, str] = field(default_factory=dict)
    auth: HttpAuth | None = None
    defaults: Mapping[str, Any] = field(default_factory=dict)
    stream: HttpStream | None = None
    # Compiled once, here, for every request the route serves (schemas.py).
    input: Schema | None = None
    output: Schema | None = None

    @property
    def has_body(self) -> bool:
        return self.method in BODY_METHODS

    def check_input(self, body: Mapping[str, Any]) -> None:
        """Refuse a body the endpoint's input schema does not accept, before any call."""
        problems = [] if self.input is None else self.input.problems(body, "context")
        if problems:
            raise InvalidRequest(
                f"the context does not match {self.capability}'s input schema: {problems[0]}",
                details={"reason": "input_schema", "errors": problems},
            )

    def check_output(self, answer: Mapping[str, Any], secrets: Iterable[str] = ()) -> None:
        """Refuse an upstream answer its output schema does not accept.

        Schema messages quote the answer, so they are scrubbed like any upstream text.
        """
        found = [] if self.output is None else self.output.problems(answer, "result")
        problems = [scrub(line, secrets) for line in found]
        if problems:
            raise ServiceError(
                f"the upstream's answer does not match {self.capability}'s output schema: "
                f"{problems[0]}",
                details={"reason": "invalid_upstream_response", "errors": problems},
            )


@dataclass(frozen=True, slots=True)
class BridgePlan:
    """The upstream's base URL and a route per capability."""

    base_url: str
    routes: Mapping[str, Route]


def plan_routes(
    contract: ServiceContract, base_dir: Path, *, base_url: str | None = None
) -> BridgePlan:
    """The routes for ``contract``; schema paths are read relative to ``base_dir``.

    ``base_url`` replaces the contract's (the same contract, another deployment).
    Raises ``InvalidContract`` listing every problem.
    """
    errors: list[str] = []
    api = contract.api
    if api is None or api.protocol != "http":
        said = "no api section" if api is None else f"api.protocol {api.protocol!r}"
        raise InvalidContract(
            f"the HTTP bridge serves contracts with api.protocol http; {contract.id} has {said}",
            details={"errors": [f"$.service.api: protocol http is required, found {said}"]},
        )
    url = base_url if base_url is not None else api.base_url
    errors += _base_url_errors(url, given=base_url is not None)
    routes: dict[str, Route] = {}
    for index, endpoint in enumerate(api.endpoints):
        if endpoint.capability is None:
            continue
        where = f"$.service.api.endpoints[{index}]"
        route = _route(contract, api, endpoint, where, base_dir, errors)
        if route is None:
            continue
        if route.capability in routes:
            errors.append(
                f"{where}.capability: {route.capability!r} is served by "
                f"{routes[route.capability].where} already"
            )
        routes[route.capability] = route
    for index, name in enumerate(contract.capability_names):
        if name not in routes:
            errors.append(
                f"$.service.capabilities[{index}].type: no endpoint serves {name!r}; "
                "give one endpoint `capability: " + name + "`"
            )
    if errors:
        summary = "; ".join(errors[:3]) + (
            f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
        )
        raise InvalidContract(
            f"the HTTP bridge cannot serve {contract.id}: {summary}", details={"errors": errors}
        )
    assert url is not None  # _base_url_errors reported a missing one
    return BridgePlan(base_url=url, routes=routes)


def _route(
    contract: ServiceContract,
    api: Api,
    endpoint: Endpoint,
    where: str,
    base_dir: Path,
    errors: list[str],
) -> Route | None:
    name = endpoint.capability
    assert name is not None
    capability = contract.capability(name)
    if capability is None:
        errors.append(
            f"{where}.capability: {name!r} is not a capability of this contract "
            f"({', '.join(contract.capability_names)})"
        )
        return None
    method = endpoint.method.upper()
    if method not in _METHODS:
        errors.append(f"{where}.method: {endpoint.method!r} is not one of {sorted(_METHODS)}")
    if not endpoint.path.startswith("/"):
        errors.append(f"{where}.path: {endpoint.path!r} must start with '/'")
    if endpoint.stream is not None and method not in BODY_METHODS:
        errors.append(f"{where}.stream: a {method} request has no body to set the stream flag in")
    # The endpoint's own schemas; for the input, the capability's when it has none
    # (the router checks the capability's output schema itself).
    input_schema = endpoint.input_schema or capability.input_schema
    input_where = f"{where}.input_schema"
    if not endpoint.input_schema:
        input_where = (
            f"$.service.capabilities[{contract.capability_names.index(name)}].input_schema"
        )
    return Route(
        capability=name,
        method=method,
        path=endpoint.path,
        where=where,
        headers={**(api.headers or {}), **(endpoint.headers or {})},
        auth=endpoint.auth or api.auth,
        defaults=dict(endpoint.defaults or {}),
        stream=endpoint.stream,
        input=_validator(input_schema, input_where, base_dir, errors),
        output=_validator(endpoint.output_schema, f"{where}.output_schema", base_dir, errors),
    )


def _validator(
    schema: dict[str, Any] | str | None, where: str, base_dir: Path, errors: list[str]
) -> Schema | None:
    """A compiled schema from an inline one or a file; problems go to ``errors``."""
    if schema is None or schema == "":
        return None
    if isinstance(schema, str):
        path = base_dir / schema
        try:
            loaded = loads(path.read_bytes())
        except FileNotFoundError:
            errors.append(f"{where}: no such schema file: {path}")
            return None
        except OSError as exc:
            errors.append(f"{where}: cannot read {path}: {exc.strerror}")
            return None
        except JSONDecodeError as exc:
            errors.append(f"{where}: {path} is not JSON: {exc}")
            return None
        schema = loaded
    if not isinstance(schema, dict | bool):
        errors.append(f"{where}: a JSON Schema is an object, not {type(schema).__name__}")
        return None
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        errors.append(f"{where}: not a valid JSON Schema: {exc.message}")
        return None
    return Schema(schema)


def _base_url_errors(url: str | None, *, given: bool) -> list[str]:
    where = "--base-url" if given else "$.service.api.base_url"
    if not url:
        return [f"{where}: the upstream's URL is required (http:// or https://)"]
    try:
        parsed = urlsplit(url)
        if "@" in parsed.netloc:
            # Never echo the URL here: its user-info is a credential.
            return [f"{where}: user:password@ is a credential; name it in auth (env or file)"]
        parsed.port  # noqa: B018 - read for its ValueError: a port that is not a number
    except ValueError as exc:
        return [f"{where}: not a URL: {exc}"]
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        return [f"{where}: {url!r} is not an http:// or https:// URL with a host"]
    if parsed.query or parsed.fragment:
        return [f"{where}: a base URL has no query or fragment (a key in it would be a credential)"]
    return []
