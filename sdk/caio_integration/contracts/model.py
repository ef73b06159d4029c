"""The one normalized contract model both contract dialects turn into.

Field names follow the nested dialect of the Codex contract (seed 001);
``schemas/service_contract.schema.json`` is the source of truth for them and
``tests/unit/test_schema_drift.py`` fails when the two disagree. The derived
properties at the bottom are what matching reads, so matching never has to
know which dialect a contract was written in.

Unknown keys are errors, so a misspelled constraint cannot pass as "not
promised". Extensions live in ``metadata`` or in ``x-<name>`` keys, which
every part accepts but ``Guarantees`` (whose extra keys are guarantees) and
``Cost`` (whose extra keys are unit prices).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from caio_integration.wire import Token

__all__ = [
    "AccuracyRange",
    "Alignment",
    "Api",
    "Bound",
    "CachePolicy",
    "Capability",
    "Constraints",
    "ContextLength",
    "Cost",
    "Endpoint",
    "GrpcMethod",
    "GrpcTls",
    "Guarantee",
    "Guarantees",
    "HttpAuth",
    "HttpStream",
    "Invariant",
    "OnnxBinding",
    "Privacy",
    "RateLimit",
    "ServiceContract",
]

# An extension key: kept as written, read by nobody in CAIO.
X_KEY = re.compile(r"x-[a-z0-9][a-z0-9_.-]{0,63}")
# Not finite is not a promise (and has no JSON spelling, so it could not round-trip).
NonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Fraction = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
PositiveInt = Annotated[int, Field(gt=0)]


class _Part(BaseModel):
    """A part of a contract: its own fields, and ``x-<name>`` extension keys."""

    # strict: a contract saying latency "5000" (a string) is a wrong type, not a number.
    model_config = ConfigDict(strict=True, extra="allow", frozen=True)

    @model_validator(mode="after")
    def _extras_are_extensions(self) -> _Part:
        for key, value in (self.__pydantic_extra__ or {}).items():
            if not X_KEY.fullmatch(key):
                raise ValueError(f"{key!r}: unknown key; name extensions x-<name>")
            if value is None:
                # to_document() leaves out None, so a null would not survive a round trip.
                raise ValueError(f"{key!r} is null; leave the key out instead")
        return self


class AccuracyRange(_Part):
    min: Fraction | None = None
    target: Fraction | None = None


# A JSON Schema, or (in a contract file, before loading) a path relative to the file.
SchemaRef = dict[str, Any] | Annotated[str, Field(min_length=1)]


class Capability(_Part):
    type: Token
    accuracy: AccuracyRange | None = None
    capacity: dict[str, Any] | None = None
    input_schema: SchemaRef | None = None
    output_schema: SchemaRef | None = None


class Bound(_Part):
    """``max``/``min`` are what matching reads."""

    max: NonNegative | None = None
    min: NonNegative | None = None
    p99_max: NonNegative | None = None  # the flat form's p99_ms
    seed_required: bool | None = None  # the Codex contract's determinism guarantee


class Guarantee(_Part):
    property: str
    bound: Bound = Field(default_factory=Bound)
    invariant: str | None = None


class Guarantees(BaseModel):
    """Named guarantees; any other key is one more ``Guarantee`` (e.g. ``availability``)."""

    model_config = ConfigDict(strict=True, extra="allow", frozen=True)
    __pydantic_extra__: dict[str, Guarantee] = Field(init=False)

    latency: Guarantee | None = None
    accuracy: Guarantee | None = None
    determinism: Guarantee | None = None


# Prices of other units (per_image...); per_token/per_request are token_cost/request_cost.
_UNIT_PRICE = re.compile(r"per_(?!token$|request$)[a-z0-9_]{1,60}")


class Cost(BaseModel):
    """``model``/``token_cost`` are what matching reads; ``per_<unit>`` keys price other units."""

    model_config = ConfigDict(strict=True, extra="allow", frozen=True)
    __pydantic_extra__: dict[str, NonNegative] = Field(init=False)

    model: Literal["per_token", "per_request", "free"] = "per_token"
    token_cost: NonNegative | None = None
    request_cost: NonNegative | None = None
    currency: str = "USD"

    @model_validator(mode="after")
    def _extras_are_unit_prices(self) -> Cost:
        for key in self.__pydantic_extra__ or {}:
            if not _UNIT_PRICE.fullmatch(key):
                raise ValueError(f"unknown cost key {key!r}; other prices are named per_<unit>")
        return self


class Privacy(_Part):
    data_locality: str | None = None
    encryption: bool | None = None
    encryption_type: str | None = None
    data_retention: str | None = None
    gdpr_compliant: bool | None = None
    hipaa_compliant: bool = False


class Alignment(_Part):
    safety_level: str | None = None
    content_filtering: bool | None = None
    bias_mitigation: bool | None = None
    toxicity_filtering: bool | None = None


class RateLimit(_Part):
    per_minute: PositiveInt | None = None
    per_hour: PositiveInt | None = None


class ContextLength(_Part):
    max_tokens: PositiveInt | None = None


class Constraints(_Part):
    max_concurrent_requests: PositiveInt | None = None
    rate_limit: RateLimit | None = None
    context_length: ContextLength | None = None
    requires_internet: bool | None = None
    supported_languages: list[Annotated[str, Field(min_length=1)]] | None = None
    max_images: PositiveInt | None = None


# -- api: how the service is reached; what the HTTP, ONNX and gRPC bridges read -----------
# A header name as RFC 9110 spells a token.
HEADER_NAME_PATTERN = r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$"
# Header names that carry credentials: a contract names where a credential is
# read (``auth``), never the credential, so static headers may not look like one.
SECRET_HEADER = re.compile(r"auth|key|token|secret|cookie|pass|credential", re.IGNORECASE)
ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
_HEADER_NAME = re.compile(HEADER_NAME_PATTERN.removeprefix("^").removesuffix("$"))
# A header value on one line: CR, LF or NUL would start another header.
_HEADER_VALUE = re.compile(r"[^\r\n\x00]*")

HeaderName = Annotated[str, Field(pattern=HEADER_NAME_PATTERN)]
# An endpoint's JSON Schema, or (in a contract file) a path relative to the file.
# No minimum length: seed 001's endpoint fields were plain strings.
EndpointSchema = dict[str, Any] | str


class HttpAuth(BaseModel):
    """Where the credential sent upstream is read: ``env`` or ``file``, exactly one.

    Never the credential itself: there is no key for one, and (unlike every
    other part) no ``x-`` extensions, which could hold one.
    """

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    header: HeaderName = "Authorization"
    scheme: HeaderName | None = None  # "Bearer": the header says "Bearer <credential>"
    env: Annotated[str, Field(pattern=ENV_NAME)] | None = None
    file: Annotated[str, Field(min_length=1)] | None = None

    @model_validator(mode="after")
    def _one_source(self) -> HttpAuth:
        if (self.env is None) == (self.file is None):
            raise ValueError("give exactly one of env or file: where the credential is read")
        return self


def _checked_headers(headers: dict[str, str] | None) -> dict[str, str] | None:
    for name, value in (headers or {}).items():
        if not _HEADER_NAME.fullmatch(name):
            raise ValueError(f"{name!r} is not an HTTP header name")
        if SECRET_HEADER.search(name):
            raise ValueError(
                f"header {name!r} looks like a credential: name where it is read in auth "
                "(env or file) instead"
            )
        if not _HEADER_VALUE.fullmatch(value):
            raise ValueError(f"header {name!r} has a line break or NUL in its value")
    return headers


class HttpStream(_Part):
    """How an endpoint streams: server-sent events or JSON lines, asked for by a body flag."""

    format: Literal["sse", "ndjson"] = "sse"
    flag: Annotated[str, Field(min_length=1)] = "stream"  # the body key set to true
    done: Annotated[str, Field(min_length=1)] | None = None  # the data that ends it ("[DONE]")
    # Where each chunk carries text ("choices.0.delta.content"): joined into result.text.
    text_path: Annotated[str, Field(min_length=1)] | None = None


class Endpoint(_Part):
    path: str
    method: str = "POST"
    capability: Token | None = None  # the capability this endpoint serves (the HTTP bridge)
    input_schema: EndpointSchema | None = None
    output_schema: EndpointSchema | None = None
    headers: dict[str, str] | None = None  # sent as they are; never a credential
    auth: HttpAuth | None = None  # replaces the api's
    defaults: dict[str, Any] | None = None  # body keys the caller's context may override
    stream: HttpStream | None = None

    @field_validator("headers")
    @classmethod
    def _no_credentials(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        return _checked_headers(value)


# A model tensor's name to a context or result key (the ONNX bridge).
OnnxNames = Annotated[
    dict[Annotated[str, Field(min_length=1)], Annotated[str, Field(min_length=1)]],
    Field(min_length=1),
]


class OnnxBinding(_Part):
    """How one capability feeds the ONNX model and reads its answer (docs/contracts.md)."""

    capability: Token
    inputs: OnnxNames | None = None  # model input -> context key (default: same names)
    outputs: OnnxNames | None = None  # model output -> result key (default: every output)


# A unary gRPC method, as gRPC names it on the wire: package.Service/Method.
GRPC_METHOD_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*/[A-Za-z_][A-Za-z0-9_]*$"


class GrpcTls(_Part):
    """TLS to the gRPC server: root certificates (default: the system's) and a name override."""

    ca_file: Annotated[str, Field(min_length=1)] | None = None  # PEM, relative to the contract
    server_name: Annotated[str, Field(min_length=1)] | None = None  # checked in the certificate


class GrpcMethod(_Part):
    """The unary gRPC method one capability calls (docs/contracts.md)."""

    capability: Token
    method: Annotated[str, Field(pattern=GRPC_METHOD_PATTERN)]  # package.Service/Method


class Api(_Part):
    protocol: Literal["http", "grpc", "nats", "native", "onnx"] = "nats"
    base_url: str | None = None
    headers: dict[str, str] | None = None  # sent to every endpoint (an endpoint's win)
    auth: HttpAuth | None = None  # for every endpoint without its own
    endpoints: list[Endpoint] = Field(default_factory=list)
    # protocol onnx: the model file (relative to the contract file), a binding per capability
    model: Annotated[str, Field(min_length=1)] | None = None
    bindings: list[OnnxBinding] | None = None  # None, not []: other documents stay unchanged
    # protocol grpc: the server, how its methods are described, and a method per capability
    target: Annotated[str, Field(min_length=1)] | None = None  # host:port
    descriptor_set: Annotated[str, Field(min_length=1)] | None = None  # else server reflection
    tls: GrpcTls | None = None  # absent: plaintext
    methods: list[GrpcMethod] | None = None

    @field_validator("headers")
    @classmethod
    def _no_credentials(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        return _checked_headers(value)


class Invariant(_Part):
    id: str
    description: str | None = None
    formula: str | None = None
    verification: str | None = None
    artifact: str | None = None


class CachePolicy(_Part):
    """Answers may be reused for ``ttl_s`` seconds (CAIO's response cache)."""

    ttl_s: Annotated[float, Field(ge=1, le=86_400)]  # seconds: 1 s to a day


# A deterministic contract (seed 001's INV-CODEX-0003 shape) without a cache policy
# has its answers reused this long.
DETERMINISTIC_TTL_S = 600.0


class ServiceContract(_Part):
    """A validated, normalized service contract."""

    id: Token
    name: Annotated[str, Field(min_length=1, max_length=200)]
    version: Annotated[str, Field(min_length=1, max_length=64)]
    description: str | None = None
    capabilities: Annotated[list[Capability], Field(min_length=1)]
    guarantees: Guarantees = Field(default_factory=Guarantees)
    cost: Cost | None = None
    privacy: Privacy = Field(default_factory=Privacy)
    alignment: Alignment | None = None
    constraints: Constraints = Field(default_factory=Constraints)
    api: Api | None = None
    invariants: list[Invariant] = Field(default_factory=list)
    cache: CachePolicy | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("capabilities")
    @classmethod
    def _capabilities_are_unique(cls, value: list[Capability]) -> list[Capability]:
        seen: set[str] = set()
        for cap in value:
            if cap.type in seen:
                raise ValueError(f"capability {cap.type!r} is listed twice")
            seen.add(cap.type)
        return value

    # -- what matching reads -------------------------------------------------

    @property
    def capability_names(self) -> tuple[str, ...]:
        return tuple(cap.type for cap in self.capabilities)

    def capability(self, name: str) -> Capability | None:
        return next((cap for cap in self.capabilities if cap.type == name), None)

    @property
    def cache_ttl_s(self) -> float | None:
        """How long an answer may be reused: the cache policy's, else a deterministic
        contract's default; None: never."""
        if self.cache is not None:
            return self.cache.ttl_s
        determinism = self.guarantees.determinism
        if determinism is not None and determinism.property == "deterministic_output":
            return DETERMINISTIC_TTL_S
        return None

    @property
    def p95_latency_ms(self) -> float | None:
        """The promised p95 latency bound, if the contract makes one."""
        latency = self.guarantees.latency
        return latency.bound.max if latency is not None else None

    def accuracy_for(self, capability: str) -> float | None:
        """The accuracy promised for one capability: its own ``min``, else the service's."""
        cap = self.capability(capability)
        if cap is not None and cap.accuracy is not None and cap.accuracy.min is not None:
            return cap.accuracy.min
        accuracy = self.guarantees.accuracy
        return accuracy.bound.min if accuracy is not None else None

    @property
    def cost_per_token(self) -> float | None:
        """Price of one token; ``None`` when the contract does not say."""
        if self.cost is None:
            return None
        if self.cost.model == "free":
            return 0.0
        return self.cost.token_cost

    @property
    def context_tokens(self) -> int | None:
        context = self.constraints.context_length
        return context.max_tokens if context is not None else None

    def to_document(self) -> dict[str, Any]:
        """The normalized contract as JSON: the nested dialect, without empty parts."""
        return {"service": self.model_dump(mode="json", exclude_none=True)}
