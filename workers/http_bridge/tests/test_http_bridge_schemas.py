"""The endpoint's schemas guard both sides of the call: input before it, output after it.

Schemas are given inline or as paths relative to the contract file; an
endpoint without an input schema of its own uses its capability's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from fake_upstream import FakeUpstream, json_reply
from http_bridge_support import EXAMPLES, StartBridge
from nats.aio.client import Client as NATS

from caio_http_bridge import HttpBridgeService
from caio_integration.errors import InvalidContract
from caio_integration.testing import ask_service

SENTIMENT = EXAMPLES / "sentiment-model.yaml"


async def ask_sentiment(caio_nc: NATS, caio_prefix: str, context: dict[str, Any]) -> Any:
    return await ask_service(
        caio_nc, "sentiment-model", "sentiment_analysis", context, prefix=caio_prefix
    )


async def test_input_that_breaks_the_schema_is_refused_before_the_upstream_is_called(
    bridge: StartBridge, upstream: FakeUpstream, caio_nc: NATS, caio_prefix: str
) -> None:
    await bridge(SENTIMENT)

    answer = await ask_sentiment(caio_nc, caio_prefix, {"texts": "not a list"})

    assert answer.error["code"] == "invalid_request"
    assert answer.error["details"]["reason"] == "input_schema"
    assert answer.error["details"]["errors"] == [
        "context.texts: 'not a list' is not of type 'array'"
    ]
    assert upstream.count() == 0


async def test_every_input_problem_is_listed_at_its_place(
    bridge: StartBridge, upstream: FakeUpstream, caio_nc: NATS, caio_prefix: str
) -> None:
    await bridge(SENTIMENT)

    answer = await ask_sentiment(caio_nc, caio_prefix, {"texts": ["ok", ""], "lang": "en"})

    assert answer.error["details"]["errors"] == [
        "context.texts[1]: '' should be non-empty",
        "context: Additional properties are not allowed ('lang' was unexpected)",
    ]
    assert upstream.count() == 0


async def test_an_answer_that_breaks_the_output_schema_is_a_service_error(
    bridge: StartBridge, upstream: FakeUpstream, caio_nc: NATS, caio_prefix: str
) -> None:
    upstream.answer_with(json_reply(200, {"predictions": [{"label": "ecstatic", "score": 2}]}))
    await bridge(SENTIMENT)

    answer = await ask_sentiment(caio_nc, caio_prefix, {"texts": ["I love it"]})

    assert answer.error["code"] == "service_error"
    assert answer.error["details"]["reason"] == "invalid_upstream_response"
    assert "result.predictions[0].label: 'ecstatic' is not one of" in answer.error["message"]
    assert upstream.count() == 1


def write_contract(directory: Path, api: dict[str, Any], **capability: Any) -> Path:
    contract = {
        "service": {
            "id": "inline-model",
            "name": "Inline model",
            "version": "1.0.0",
            "capabilities": [{"type": "predict", **capability}],
            "api": {"protocol": "http", "base_url": "http://127.0.0.1:9", **api},
        }
    }
    path = directory / "inline.yaml"
    path.write_text(yaml.safe_dump(contract))
    return path


TEXTS_ONLY = {
    "type": "object",
    "required": ["texts"],
    "properties": {"texts": {"type": "array"}},
    "additionalProperties": False,
}


async def test_schemas_may_be_written_inline_in_the_contract(
    bridge: StartBridge, upstream: FakeUpstream, caio_nc: NATS, caio_prefix: str, tmp_path: Path
) -> None:
    endpoint = {"capability": "predict", "path": "/predict", "input_schema": TEXTS_ONLY}
    contract = write_contract(tmp_path, {"endpoints": [endpoint]})
    await bridge(contract)

    refused = await ask_service(
        caio_nc, "inline-model", "predict", {"text": "x"}, prefix=caio_prefix
    )
    served = await ask_service(
        caio_nc, "inline-model", "predict", {"texts": ["good"]}, prefix=caio_prefix
    )

    assert refused.error["details"]["reason"] == "input_schema"
    assert served.result == {"predictions": [{"label": "positive", "score": 0.9}]}
    assert upstream.count() == 1


async def test_an_endpoint_without_an_input_schema_uses_its_capabilitys(
    bridge: StartBridge, upstream: FakeUpstream, caio_nc: NATS, caio_prefix: str, tmp_path: Path
) -> None:
    (tmp_path / "texts.json").write_text(json.dumps(TEXTS_ONLY))
    endpoint = {"capability": "predict", "path": "/predict"}
    contract = write_contract(tmp_path, {"endpoints": [endpoint]}, input_schema="texts.json")
    await bridge(contract)

    refused = await ask_service(
        caio_nc, "inline-model", "predict", {"texts": 1}, prefix=caio_prefix
    )

    assert refused.error["details"]["reason"] == "input_schema"
    assert upstream.count() == 0


def test_a_schema_file_that_is_missing_stops_the_bridge_before_it_serves(tmp_path: Path) -> None:
    endpoint = {"capability": "predict", "path": "/predict", "output_schema": "nowhere.json"}
    contract = write_contract(tmp_path, {"endpoints": [endpoint]})

    with pytest.raises(InvalidContract) as refused:
        HttpBridgeService().initialize(contract)

    missing = tmp_path / "nowhere.json"
    assert refused.value.details["errors"] == [
        f"$.service.api.endpoints[0].output_schema: no such schema file: {missing}"
    ]


async def test_a_get_endpoint_sends_the_context_as_its_query(
    bridge: StartBridge, upstream: FakeUpstream, caio_nc: NATS, caio_prefix: str, tmp_path: Path
) -> None:
    upstream.answer_with(json_reply(200, {"status": "ok"}))
    endpoint = {"capability": "predict", "path": "/health", "method": "GET"}
    contract = write_contract(tmp_path, {"endpoints": [endpoint]})
    await bridge(contract)

    served = await ask_service(
        caio_nc, "inline-model", "predict", {"deep": True, "n": 2}, prefix=caio_prefix
    )
    refused = await ask_service(
        caio_nc, "inline-model", "predict", {"ids": [1, 2]}, prefix=caio_prefix
    )

    assert served.result == {"status": "ok"}
    assert upstream.seen[0].path == "/health?deep=true&n=2"
    assert upstream.seen[0].body is None
    assert refused.error["details"]["reason"] == "not_a_query_value"
    assert upstream.count() == 1
