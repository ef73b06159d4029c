"""The contracts shipped in contracts/ are valid and say what their authors meant."""

from __future__ import annotations

from pathlib import Path

import pytest

from broker.contracts import (
    ServiceContract,
    canonical_json,
    load_contract_file,
    parse_contract,
)

CONTRACTS = Path(__file__).resolve().parents[2] / "contracts"
ALL_FILES = sorted(CONTRACTS.rglob("*.yaml"))


def test_the_contracts_directory_holds_the_expected_files() -> None:
    names = {path.relative_to(CONTRACTS).as_posix() for path in ALL_FILES}
    assert {
        "codex.yaml",
        "local-review.yaml",
        "templates/simple_service.yaml",
        "templates/advanced_service.yaml",
    } <= names


@pytest.mark.parametrize("path", ALL_FILES, ids=lambda p: p.relative_to(CONTRACTS).as_posix())
def test_every_shipped_contract_validates_and_is_a_fixed_point(path: Path) -> None:
    contract = load_contract_file(path)
    again = parse_contract(contract.to_document())
    assert again == contract
    assert canonical_json(again) == canonical_json(contract)


@pytest.fixture(scope="module")
def codex() -> ServiceContract:
    return load_contract_file(CONTRACTS / "codex.yaml")


def test_the_codex_contract_has_its_identity_and_six_capabilities(codex: ServiceContract) -> None:
    assert (codex.id, codex.name, codex.version) == (
        "codex-bridge-001",
        "Codex Bridge Service",
        "1.0.0",
    )
    assert codex.capability_names == (
        "code_generation",
        "code_review",
        "code_execution",
        "file_operations",
        "command_execution",
        "web_search",
    )


def test_the_codex_contract_promises_what_matching_reads(codex: ServiceContract) -> None:
    assert codex.p95_latency_ms == 5000
    assert codex.accuracy_for("code_generation") == 0.85
    assert codex.accuracy_for("code_review") == 0.80
    assert codex.accuracy_for("code_execution") == 0.75
    # No accuracy of its own: the service-wide bound applies.
    assert codex.accuracy_for("web_search") == 0.85
    assert codex.cost_per_token == 0.0001
    assert codex.context_tokens == 4096
    assert codex.privacy.data_locality == "cloud"
    assert codex.privacy.hipaa_compliant is False


def test_the_codex_contract_keeps_every_section(codex: ServiceContract) -> None:
    code_generation = codex.capability("code_generation")
    assert code_generation is not None
    assert code_generation.capacity == {"max_tokens": 4096}
    assert code_generation.accuracy is not None
    assert code_generation.accuracy.target == 0.95
    determinism = codex.guarantees.determinism
    assert determinism is not None
    assert determinism.property == "deterministic_output"
    assert determinism.bound.model_extra == {"seed_required": False}
    assert determinism.invariant == "INV-CODEX-0003"
    assert codex.cost is not None
    assert (codex.cost.model, codex.cost.currency) == ("per_token", "USD")
    assert codex.privacy.encryption_type == "tls"
    assert codex.alignment is not None
    assert codex.alignment.safety_level == "high"
    assert codex.constraints.rate_limit is not None
    assert codex.constraints.rate_limit.per_hour == 1000
    assert codex.constraints.requires_internet is True
    assert codex.api is not None
    assert codex.api.protocol == "http"
    assert [(e.path, e.method) for e in codex.api.endpoints] == [
        ("/generate", "POST"),
        ("/review", "POST"),
        ("/health", "GET"),
    ]
    assert codex.api.endpoints[2].input_schema is None
    assert [inv.id for inv in codex.invariants] == [
        "INV-CODEX-0001",
        "INV-CODEX-0002",
        "INV-CODEX-0003",
    ]
    assert codex.metadata["provider"] == "OpenAI"
    assert "openai" in codex.metadata["tags"]


def test_the_local_reviewer_states_honest_local_promises() -> None:
    review = load_contract_file(CONTRACTS / "local-review.yaml")
    assert review.id == "local-review"
    assert review.name == "Local Code Reviewer"
    assert review.capability_names == ("code_review",)
    assert review.accuracy_for("code_review") == 0.6
    assert review.p95_latency_ms == 2000
    assert review.cost_per_token == 0.0
    assert review.privacy.data_locality == "on_prem"
    assert review.privacy.hipaa_compliant is False
    assert review.constraints.requires_internet is False
    assert review.context_tokens == 32000
    assert review.api is not None
    assert review.api.protocol == "nats"
    assert review.metadata["provider"] == "CAIO (ruff)"


def test_the_advanced_template_keeps_its_extra_prices_and_constraints() -> None:
    advanced = load_contract_file(CONTRACTS / "templates" / "advanced_service.yaml")
    assert advanced.cost is not None
    assert advanced.cost.model_extra == {"per_image": 0.01}
    assert advanced.constraints.model_extra == {
        "max_images": 4,
        "supported_languages": ["en", "es", "fr", "de"],
    }
    assert advanced.guarantees.model_extra is not None
    availability = advanced.guarantees.model_extra["availability"]
    assert availability.property == "availability_pct"
    assert availability.bound.min == 99.9
