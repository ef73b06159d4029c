"""What a contract must say for the gRPC bridge to serve it, checked before anything connects.

The schema and the model accept the new ``api`` keys (``target``,
``descriptor_set``, ``tls``, ``methods``) and refuse a misspelled one;
with a descriptor set, the bridge resolves every method when it reads the
contract and refuses, with every reason, one naming a method that is not
there or not unary.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from grpc_bridge_support import SERVICE, Demo, contract_document, write_contract

from caio_grpc_bridge import GrpcBridgeService
from caio_integration.contracts import contract_errors, parse_contract
from caio_integration.errors import InvalidContract

TARGET = "127.0.0.1:9"  # never reached: these tests do not connect


def refused(tmp_path: Path, document: dict[str, Any], demo: Demo | None = None) -> InvalidContract:
    path = write_contract(tmp_path, document, demo.descriptor_set if demo else None)
    with pytest.raises(InvalidContract) as raised:
        GrpcBridgeService().initialize(path)
    return raised.value


def test_the_schema_and_the_model_accept_a_grpc_api() -> None:
    document = contract_document(
        TARGET,
        descriptor_set="protos/demo.pb",
        tls={"ca_file": "certs/ca.pem", "server_name": "greeter.internal"},
        auth={"header": "authorization", "scheme": "Bearer", "env": "GREETER_TOKEN"},
    )

    assert contract_errors(document) == []
    api = parse_contract(document).api
    assert api is not None
    assert (api.protocol, api.target, api.descriptor_set) == ("grpc", TARGET, "protos/demo.pb")
    assert api.tls is not None
    assert api.tls.server_name == "greeter.internal"
    assert api.methods is not None
    assert (api.methods[0].capability, api.methods[0].method) == ("greet", f"{SERVICE}/Greet")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda api: api.update(targt="h:1"), "$.service.api.targt: unknown key"),
        (
            lambda api: api.update(descriptorset="d.pb"),
            "$.service.api.descriptorset: unknown key; did you mean 'descriptor_set'?",
        ),
        (
            lambda api: api["methods"][0].update(metod="x.Y/Z"),
            "$.service.api.methods[0].metod: unknown key; did you mean 'method'?",
        ),
        (
            lambda api: api["methods"][0].update(method=f"{SERVICE}.Greet"),
            "$.service.api.methods[0].method",
        ),
        (lambda api: api["methods"][0].pop("capability"), "$.service.api.methods[0]"),
        (lambda api: api.update(tls={"ca_fle": "ca.pem"}), "$.service.api.tls.ca_fle"),
        (lambda api: api.update(target=""), "$.service.api.target"),
        (lambda api: api.update(protocol="gprc"), "$.service.api.protocol"),
    ],
    ids=[
        "api-typo",
        "descriptor-set-typo",
        "method-typo",
        "method-syntax",
        "no-capability",
        "tls-typo",
        "empty-target",
        "protocol",
    ],
)
def test_the_schema_refuses_a_typo_in_the_grpc_fields(change: Any, expected: str) -> None:
    document = copy.deepcopy(contract_document(TARGET))
    change(document["service"]["api"])

    errors = contract_errors(document)

    assert any(expected in line for line in errors), errors
    with pytest.raises(InvalidContract):
        parse_contract(document)


def test_a_descriptor_set_resolves_every_method_when_the_contract_is_read(
    tmp_path: Path, demo: Demo
) -> None:
    service = GrpcBridgeService()
    path = write_contract(
        tmp_path, contract_document(TARGET, descriptor_set="protos/demo.pb"), demo.descriptor_set
    )

    service.initialize(path)

    methods = service.methods()
    assert sorted(methods) == ["fail", "greet", "slow"]
    assert (methods["greet"].request_type, methods["greet"].response_type) == (
        "caio.demo.GreetRequest",
        "caio.demo.GreetReply",
    )


def test_methods_the_descriptor_set_lacks_or_that_stream_stop_the_start(
    tmp_path: Path, demo: Demo
) -> None:
    document = contract_document(TARGET, descriptor_set="protos/demo.pb")
    document["service"]["api"]["methods"] = [
        {"capability": "greet", "method": f"{SERVICE}/Greeet"},
        {"capability": "fail", "method": "caio.demo.Nobody/Fail"},
        {"capability": "slow", "method": f"{SERVICE}/Count"},
    ]

    error = refused(tmp_path, document, demo)

    assert error.details["errors"] == [
        f"$.service.api.methods[0].method: {SERVICE} has no method 'Greeet' "
        "(its methods: Count, Fail, Greet, Slow)",
        f"$.service.api.methods[1].method: the descriptor set {tmp_path / 'protos' / 'demo.pb'} "
        f"has no service 'caio.demo.Nobody' (services: {SERVICE})",
        f"$.service.api.methods[2].method: {SERVICE}/Count is server-streaming; "
        "the gRPC bridge calls unary methods only",
    ]
    assert error.message.startswith("the gRPC bridge cannot serve greeter: ")


def test_the_contract_alone_is_checked_with_every_reason(tmp_path: Path) -> None:
    document = contract_document(
        "http://127.0.0.1:9",
        descriptor_set="protos/missing.pb",
        tls={"ca_file": "certs/none.pem"},
        headers={"X-Team": "ml"},
    )
    methods = document["service"]["api"]["methods"]
    methods[1] = {"capability": "greet", "method": f"{SERVICE}/Fail"}
    methods[2] = {"capability": "elsewhere", "method": f"{SERVICE}/Slow"}

    error = refused(tmp_path, document)

    assert error.details["errors"] == [
        "$.service.api.target: 'http://127.0.0.1:9' is a URL; write host:port (TLS is api.tls)",
        f"$.service.api.descriptor_set: no such file: {tmp_path / 'protos' / 'missing.pb'}",
        f"$.service.api.tls.ca_file: no such file: {tmp_path / 'certs' / 'none.pem'}",
        "$.service.api.methods[1].capability: 'greet' is served by $.service.api.methods[0] "
        "already",
        "$.service.api.methods[2].capability: 'elsewhere' is not a capability of this "
        "contract (greet, fail, slow)",
        "$.service.capabilities[1].type: no method serves 'fail'; give api.methods an entry "
        "`{capability: fail, method: package.Service/Method}`",
        "$.service.capabilities[2].type: no method serves 'slow'; give api.methods an entry "
        "`{capability: slow, method: package.Service/Method}`",
    ]


def test_a_file_that_is_not_a_descriptor_set_stops_the_start(tmp_path: Path) -> None:
    (tmp_path / "protos").mkdir()
    (tmp_path / "protos" / "junk.pb").write_bytes(b"\xff\xff\xff not protobuf")

    error = refused(tmp_path, contract_document(TARGET, descriptor_set="protos/junk.pb"))

    (line,) = error.details["errors"]
    assert line.startswith(
        f"$.service.api.descriptor_set: {tmp_path / 'protos' / 'junk.pb'} is not a descriptor set"
    )


def test_a_contract_of_another_protocol_is_refused(tmp_path: Path) -> None:
    error = refused(tmp_path, contract_document(TARGET, protocol="http"))

    assert error.details["errors"] == [
        "$.service.api: protocol grpc is required, found api.protocol 'http'"
    ]
