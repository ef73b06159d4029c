"""The CLI finds built-in workers by name, each with its bundled contract."""

from __future__ import annotations

from pathlib import Path

import pytest
from nats.aio.client import Client as NATS

from caio.workers.catalog import (
    available_workers,
    contracts_dir,
    create_worker,
    default_contract_path,
)
from caio_codex.worker import CodexWorker
from caio_integration.subjects import Subjects
from caio_local_review.worker import LocalReviewWorker
from tests.fakes.wire import ask, service_request


def test_the_built_in_workers_are_listed_by_name() -> None:
    assert available_workers() == ["codex", "local-review"]


def test_an_unknown_name_is_refused_with_the_names_that_exist(worker_config) -> None:
    with pytest.raises(ValueError, match=r"unknown worker 'gpt'.*codex, local-review"):
        create_worker("gpt", worker_config())


def test_contracts_come_from_the_checkouts_contracts_directory() -> None:
    repo = Path(__file__).resolve().parents[2]

    assert contracts_dir() == repo / "contracts"
    assert default_contract_path("codex") == repo / "contracts" / "codex.yaml"


def test_the_codex_worker_serves_the_shipped_codex_contract(
    worker_config, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    monkeypatch.setenv("CAIO_CODEX_MODEL", "fake-ok")

    worker = create_worker("codex", worker_config())

    assert isinstance(worker, CodexWorker)
    assert worker.service_id == "codex-bridge-001"
    assert worker.contract.capability_names == ("code_generation", "code_review")
    assert worker.settings.model == "fake-ok"


def test_a_missing_contract_file_is_named(worker_config, tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"

    with pytest.raises(FileNotFoundError, match=r"nope\.yaml"):
        create_worker("local-review", worker_config(), contract_path=missing)


async def test_the_local_review_worker_from_the_catalog_reviews_code(
    nc: NATS, subjects: Subjects, worker_config
) -> None:
    worker = create_worker("local-review", worker_config())
    assert isinstance(worker, LocalReviewWorker)

    async with worker:
        reply = await ask(
            nc,
            subjects.service("local-review", "code_review"),
            service_request("code_review", {"code": "import os\n"}),
        )

    assert [f["code"] for f in reply["result"]["findings"]] == ["F401"]
