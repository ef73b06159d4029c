"""The contracts shipped in contracts/ are valid and say what their authors meant."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from caio.workers.catalog import available_workers, default_contract_path
from caio_codex.worker import CodexWorker
from caio_integration.contracts import (
    ServiceContract,
    canonical_json,
    load_contract_file,
    parse_contract,
)
from caio_local_review.worker import LocalReviewWorker

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


SEED_CODEX = Path(__file__).resolve().parents[1] / "fixtures" / "seeds" / "codex-seed-001.yaml"


@pytest.fixture(scope="module")
def seed() -> ServiceContract:
    return load_contract_file(SEED_CODEX)


def test_the_seed_codex_contract_is_accepted_as_written(seed: ServiceContract) -> None:
    assert (seed.id, seed.name, seed.version) == (
        "codex-bridge-001",
        "Codex Bridge Service",
        "1.0.0",
    )
    assert seed.capability_names == (
        "code_generation",
        "code_review",
        "code_execution",
        "file_operations",
        "command_execution",
        "web_search",
    )
    assert seed.accuracy_for("code_execution") == 0.75
    # No accuracy of its own: the service-wide bound applies.
    assert seed.accuracy_for("web_search") == 0.85


def test_the_seed_codex_contract_keeps_every_section(seed: ServiceContract) -> None:
    code_generation = seed.capability("code_generation")
    assert code_generation is not None
    assert code_generation.capacity == {"max_tokens": 4096}
    assert code_generation.accuracy is not None
    assert code_generation.accuracy.target == 0.95
    determinism = seed.guarantees.determinism
    assert determinism is not None
    assert determinism.property == "deterministic_output"
    assert determinism.bound.seed_required is False
    assert determinism.invariant == "INV-CODEX-0003"
    assert seed.cost is not None
    assert (seed.cost.model, seed.cost.currency) == ("per_token", "USD")
    assert seed.privacy.encryption_type == "tls"
    assert seed.alignment is not None
    assert seed.alignment.safety_level == "high"
    assert seed.constraints.rate_limit is not None
    assert seed.constraints.rate_limit.per_hour == 1000
    assert seed.constraints.requires_internet is True
    assert seed.api is not None
    assert seed.api.protocol == "http"
    assert [(e.path, e.method) for e in seed.api.endpoints] == [
        ("/generate", "POST"),
        ("/review", "POST"),
        ("/health", "GET"),
    ]
    assert seed.api.endpoints[2].input_schema is None
    assert [inv.id for inv in seed.invariants] == [
        "INV-CODEX-0001",
        "INV-CODEX-0002",
        "INV-CODEX-0003",
    ]
    assert seed.metadata["provider"] == "OpenAI"
    assert "openai" in seed.metadata["tags"]


@pytest.fixture(scope="module")
def codex() -> ServiceContract:
    return load_contract_file(CONTRACTS / "codex.yaml")


def test_the_shipped_codex_contract_promises_only_what_its_worker_does(
    codex: ServiceContract,
) -> None:
    assert codex.id == "codex-bridge-001"
    assert codex.capability_names == ("code_generation", "code_review")
    assert codex.guarantees.determinism is None  # a language model's output is not
    assert codex.alignment is None  # the worker filters nothing itself
    assert codex.privacy.gdpr_compliant is None  # a legal claim CAIO cannot make
    assert codex.api is not None
    assert (codex.api.protocol, codex.api.base_url, codex.api.endpoints) == ("nats", None, [])
    assert all(inv.verification is None for inv in codex.invariants)


def test_the_codex_contract_promises_what_matching_reads(codex: ServiceContract) -> None:
    assert codex.p95_latency_ms == 5000
    assert codex.accuracy_for("code_generation") == 0.85
    assert codex.accuracy_for("code_review") == 0.80
    assert codex.cost_per_token == 0.0001
    assert codex.context_tokens == 4096
    assert codex.constraints.max_concurrent_requests == 10
    assert codex.privacy.data_locality == "cloud"
    assert codex.privacy.hipaa_compliant is False


def _schema_refs(document: Any) -> list[tuple[str, str]]:
    """Every (where, path) naming a schema file in a raw contract document."""
    service = document.get("service", {})
    refs = [
        (f"capabilities[{i}].{key}", cap[key])
        for i, cap in enumerate(service.get("capabilities", []))
        for key in ("input_schema", "output_schema")
        if isinstance(cap, dict) and isinstance(cap.get(key), str)
    ]
    endpoints = (service.get("api") or {}).get("endpoints", [])
    refs += [
        (f"api.endpoints[{i}].{key}", endpoint[key])
        for i, endpoint in enumerate(endpoints)
        for key in ("input_schema", "output_schema")
        if endpoint.get(key)
    ]
    return refs


@pytest.mark.parametrize("path", ALL_FILES, ids=lambda p: p.relative_to(CONTRACTS).as_posix())
def test_every_schema_a_shipped_contract_names_exists_and_is_a_json_schema(path: Path) -> None:
    for where, ref in _schema_refs(yaml.safe_load(path.read_text())):
        schema_file = path.parent / ref
        assert schema_file.is_file(), f"{path.name} {where}: {ref} does not exist"
        Draft202012Validator.check_schema(json.loads(schema_file.read_text()))


def test_the_schemas_are_checked_in_after_loading() -> None:
    review = load_contract_file(CONTRACTS / "local-review.yaml")
    capability = review.capability("code_review")
    assert capability is not None
    assert isinstance(capability.output_schema, dict)
    assert capability.output_schema["required"] == ["findings", "summary", "analyzer"]


@pytest.mark.parametrize("name", available_workers())
def test_each_shipped_worker_implements_every_capability_of_its_contract(name: str) -> None:
    contract = load_contract_file(default_contract_path(name))
    implemented = {
        "codex": CodexWorker.implemented_capabilities,
        "local-review": LocalReviewWorker.implemented_capabilities,
    }[name]
    assert set(contract.capability_names) <= implemented
    assert contract.api is not None
    assert contract.api.protocol == "nats"  # served by the worker on NATS, nothing else


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
    assert advanced.constraints.max_images == 4
    assert advanced.constraints.supported_languages == ["en", "es", "fr", "de"]
    assert advanced.guarantees.model_extra is not None
    availability = advanced.guarantees.model_extra["availability"]
    assert availability.property == "availability_pct"
    assert availability.bound.min == 99.9
