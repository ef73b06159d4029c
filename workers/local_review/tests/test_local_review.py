"""The local review worker reviews Python with ruff: no network, no key, same answer every time."""

from __future__ import annotations

import asyncio

import pytest
from nats.aio.client import Client as NATS

from caio_integration.contracts.model import ServiceContract
from caio_integration.testing import ask_service
from caio_local_review.worker import LocalReviewSettings, LocalReviewWorker

BUGGY = "import os\n\n\ndef total(items):\n    return sum(items) + missing_offset\n"


@pytest.fixture
def review_contract(service_id: str) -> ServiceContract:
    return ServiceContract.model_validate(
        {
            "id": service_id,
            "name": "Local review",
            "version": "1.0.0",
            "capabilities": [{"type": "code_review"}],
        }
    )


@pytest.fixture
async def review(caio_nc: NATS, caio_prefix: str, service_id: str, start_worker, review_contract):
    """Ask the started local review worker to review a context."""
    await start_worker(LocalReviewWorker, review_contract)

    async def send(context: dict) -> dict:
        answer = await ask_service(caio_nc, service_id, "code_review", context, prefix=caio_prefix)
        return answer.body

    return send


async def test_an_unused_import_and_an_undefined_name_are_found_with_their_lines(review) -> None:
    reply = await review({"code": BUGGY, "filename": "totals.py"})

    assert reply["status"] == "ok"
    result = reply["result"]
    found = {(f["code"], f["line"]) for f in result["findings"]}
    assert ("F401", 1) in found
    assert ("F821", 5) in found
    unused = next(f for f in result["findings"] if f["code"] == "F401")
    assert unused == {
        "line": 1,
        "column": 8,
        "end_line": 1,
        "end_column": 10,
        "code": "F401",
        "message": "`os` imported but unused",
        "fixable": True,
    }
    assert result["summary"]["count"] == len(result["findings"])
    assert result["summary"]["by_code"]["F821"] == 1
    assert result["analyzer"].startswith("ruff ")
    assert result["language"] == "python"
    assert reply["usage"] == {"lines": 6, "bytes": len(BUGGY)}


async def test_findings_are_sorted_and_identical_across_runs(review) -> None:
    code = "import sys\nimport os\nx = eval('1')\nprint(y)\n"

    first = await review({"code": code})
    second = await review({"code": code})

    findings = first["result"]["findings"]
    keys = [(f["line"], f["column"], f["code"]) for f in findings]
    assert keys == sorted(keys)
    assert len(findings) >= 4
    assert first["result"] == second["result"]


async def test_clean_code_has_no_findings(review) -> None:
    reply = await review({"code": "def add(a: int, b: int) -> int:\n    return a + b\n"})

    assert reply["result"]["findings"] == []
    assert reply["result"]["summary"] == {"count": 0, "by_code": {}}


async def test_a_syntax_error_is_a_finding_not_a_failure(review) -> None:
    reply = await review({"code": "def broken(:\n    pass\n"})

    assert reply["status"] == "ok"
    assert reply["result"]["findings"][0]["code"] == "invalid-syntax"
    assert reply["result"]["findings"][0]["line"] == 1


async def test_a_language_other_than_python_is_an_invalid_request(review) -> None:
    reply = await review({"code": "fn main() {}", "language": "rust"})

    assert reply["error"]["code"] == "invalid_request"
    assert reply["error"]["message"] == "local-review supports python only"


@pytest.mark.parametrize(
    ("context", "field"),
    [
        ({}, "code"),
        ({"code": "   \n"}, "code"),
        ({"code": 42}, "code"),
        ({"code": "x = 1\n", "filename": "../../etc/passwd"}, "filename"),
        ({"code": "x = 1\n", "filename": "notes.txt"}, "filename"),
    ],
)
async def test_missing_or_unsafe_inputs_are_invalid_requests(review, context, field) -> None:
    reply = await review(context)

    assert reply["error"]["code"] == "invalid_request"
    assert reply["error"]["details"]["field"] == field


async def test_code_over_the_size_limit_is_refused_before_ruff_runs(
    caio_nc: NATS, caio_prefix: str, service_id: str, start_worker, review_contract
) -> None:
    await start_worker(
        LocalReviewWorker,
        review_contract,
        worker_kwargs={"settings": LocalReviewSettings(max_code_bytes=100)},
    )
    context = {"code": "x = 1\n" * 50}

    answer = await ask_service(caio_nc, service_id, "code_review", context, prefix=caio_prefix)

    assert answer.error["code"] == "invalid_request"
    assert answer.error["details"]["limit"] == 100


async def test_an_analysis_over_its_time_limit_is_killed_and_answered_with_timeout(
    caio_nc: NATS, caio_prefix: str, service_id: str, start_worker, review_contract
) -> None:
    worker = await start_worker(
        LocalReviewWorker,
        review_contract,
        worker_kwargs={"settings": LocalReviewSettings(timeout_s=0.001)},
    )

    answer = await ask_service(
        caio_nc, service_id, "code_review", {"code": BUGGY}, prefix=caio_prefix
    )

    assert answer.error["code"] == "timeout"
    assert answer.error["details"]["reason"] == "analyzer_timeout"
    assert worker.running


def test_settings_refuse_rule_codes_that_are_not_rule_codes() -> None:
    with pytest.raises(ValueError, match="not a ruff rule"):
        LocalReviewSettings(select=("E", "--fix"))


def test_reviews_under_uvloop_never_fail_on_the_subprocess_pipes(
    review_contract: ServiceContract,
) -> None:
    """The CLI runs workers on uvloop, where writing a subprocess's stdin could fail
    (uvloop#506): many concurrent reviews, large and small, all succeed there.
    uvloop comes with the CLI, not with this worker: skipped where it is not installed."""
    uvloop = pytest.importorskip("uvloop")

    from caio_integration.bridge import WorkerConfig
    from caio_integration.wire import ServiceRequest

    async def many_reviews() -> list[int]:
        worker = LocalReviewWorker(review_contract, WorkerConfig())
        await worker.setup()
        codes = [BUGGY, BUGGY * 2000]  # 2000 copies: well past a 64 KiB pipe buffer
        requests = [
            ServiceRequest(request_id=f"r{i}", capability="code_review", context={"code": code})
            for i, code in enumerate(codes * 20)
        ]
        results = await asyncio.gather(*(worker.handle("code_review", r) for r in requests))
        return [result.result["summary"]["count"] for result in results]

    counts = uvloop.run(many_reviews())

    assert len(counts) == 40
    assert all(count > 0 for count in counts)
