"""``AIUCPService`` on its own: the contract, the default guarantee check, health."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from caio_integration import AIUCPService, ServiceContract
from caio_integration.errors import InvalidContract
from caio_integration.service import current_context

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


class Minimal(AIUCPService):
    async def execute(
        self, request: dict[str, Any], context: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        return {"echo": request.get("text", "")}


def two_capabilities() -> ServiceContract:
    return ServiceContract.model_validate(
        {
            "id": "two",
            "name": "Two",
            "version": "1.0.0",
            "capabilities": [
                {"type": "typed", "output_schema": {"type": "object", "required": ["n"]}},
                {"type": "free"},
            ],
        }
    )


def test_initialize_loads_the_contract_file_with_its_schema_files() -> None:
    service = Minimal()

    service.initialize(EXAMPLES / "echo.yaml")

    assert service.contract.id == "echo"
    schema = service.contract.capabilities[0].output_schema
    assert isinstance(schema, dict)
    assert schema["required"] == ["echo"]


def test_a_contract_file_that_breaks_the_schema_is_refused_with_its_path(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("service:\n  id: Not A Token\n  name: x\n  version: 1.0.0\n")

    with pytest.raises(InvalidContract) as caught:
        Minimal().initialize(broken)

    assert any("$.service" in line for line in caught.value.details["errors"])


def test_a_service_without_a_contract_says_how_to_give_it_one() -> None:
    with pytest.raises(RuntimeError, match=r"call initialize\(contract_path\)"):
        _ = Minimal().contract


def test_a_contract_must_be_a_service_contract() -> None:
    with pytest.raises(TypeError, match="ServiceContract"):
        Minimal().contract = {"service": {}}  # type: ignore[assignment]


def test_a_service_implements_every_capability_of_its_contract_unless_it_says_otherwise() -> None:
    class OnlyTyped(Minimal):
        implemented_capabilities = frozenset({"typed"})

    assert Minimal().implements("anything")
    assert OnlyTyped().implements("typed")
    assert not OnlyTyped().implements("free")


async def test_a_result_that_keeps_the_output_schema_meets_the_guarantees() -> None:
    service = Minimal()
    service.initialize(EXAMPLES / "echo.yaml")

    proof = await service.verify_guarantees({"echo": "hi"}, service.contract)

    assert proof == {
        "guarantees_met": True,
        "checks": [{"guarantee": "output_schema", "capability": "echo", "met": True}],
    }


async def test_a_result_that_breaks_the_output_schema_is_a_violation_naming_where() -> None:
    service = Minimal()
    service.initialize(EXAMPLES / "echo.yaml")

    proof = await service.verify_guarantees({"echo": 7}, service.contract)

    assert proof["guarantees_met"] is False
    (check,) = proof["checks"]
    assert check["met"] is False
    assert check["message"].startswith("result.echo: 7 is not of type 'string'")


async def test_with_several_capabilities_the_one_to_check_must_be_named() -> None:
    service = Minimal()
    service.contract = two_capabilities()

    with pytest.raises(ValueError, match="name the one to check"):
        await service.verify_guarantees({}, service.contract)
    broken = await service.verify_guarantees({}, service.contract, capability="typed")
    unchecked = await service.verify_guarantees({}, service.contract, capability="free")

    assert broken["guarantees_met"] is False
    assert unchecked == {"guarantees_met": True, "checks": []}


def test_a_service_is_healthy_unless_it_says_otherwise() -> None:
    assert Minimal().get_health_status() == {"status": "healthy"}


def test_outside_a_request_there_is_no_current_context() -> None:
    assert current_context() is None
