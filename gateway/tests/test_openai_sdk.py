"""The official openai SDK, pointed at the gateway, is routed by contract."""

from __future__ import annotations

import json

import httpx
import openai as openai_sdk
import pytest
from conftest import Services
from openai import AsyncOpenAI


async def test_a_chat_completion_is_routed_to_the_service_offering_the_capability(
    openai: AsyncOpenAI, services: Services
) -> None:
    completion = await openai.chat.completions.create(
        model="caio/chat", messages=[{"role": "user", "content": "hello"}]
    )

    assert completion.choices[0].message.content == "echo: hello"
    assert completion.model == "echo-1"  # the upstream's own model name is kept
    assert completion.usage is not None
    assert completion.usage.total_tokens == 5


async def test_the_service_gets_the_openai_body_without_what_only_caio_reads(
    openai: AsyncOpenAI, services: Services
) -> None:
    await openai.chat.completions.create(
        model="caio/chat",
        messages=[{"role": "user", "content": "hi"}],
        temperature=0.2,
        metadata={"caio": json.dumps({"timeout_ms": 5000}), "team": "blue"},
        extra_body={"caio": {"constraints": {"data_locality": ["on_prem"]}}},
    )

    assert services.echo.contexts[-1] == {
        "messages": [{"role": "user", "content": "hi"}],
        "temperature": 0.2,
        "metadata": {"team": "blue"},
    }


async def test_a_streamed_chat_completion_arrives_chunk_by_chunk(
    openai: AsyncOpenAI, services: Services
) -> None:
    stream = await openai.chat.completions.create(
        model="caio/chat", messages=[{"role": "user", "content": "hello"}], stream=True
    )
    pieces = [chunk.choices[0].delta.content async for chunk in stream if chunk.choices]

    assert pieces == ["echo", ": ", "hello", None]


async def test_a_stream_that_breaks_after_its_first_chunk_ends_in_an_api_error(
    openai: AsyncOpenAI, services: Services
) -> None:
    stream = await openai.chat.completions.create(
        model="caio/chat",
        messages=[{"role": "user", "content": "break after one chunk"}],
        stream=True,
    )
    pieces: list[str | None] = []

    async def read_all() -> None:
        async for chunk in stream:
            pieces.append(chunk.choices[0].delta.content)

    with pytest.raises(openai_sdk.APIError) as broken:
        await read_all()

    assert pieces == ["echo"]
    assert broken.value.code == "service_error"
    assert "went away" in broken.value.message


async def test_a_service_that_does_not_stream_still_answers_a_stream_in_one_chunk(
    openai: AsyncOpenAI, services: Services
) -> None:
    stream = await openai.chat.completions.create(
        model="caio/summary", messages=[{"role": "user", "content": "a long story"}], stream=True
    )
    chunks = [chunk async for chunk in stream]

    assert [c.choices[0].delta.content for c in chunks] == ["in short: a long story"]
    assert chunks[0].choices[0].finish_reason == "stop"


async def test_a_result_that_is_not_a_chat_completion_is_wrapped_as_one_message(
    openai: AsyncOpenAI, services: Services
) -> None:
    completion = await openai.chat.completions.create(
        model="caio/summary", messages=[{"role": "user", "content": "a long story"}]
    )

    assert completion.choices[0].message.role == "assistant"
    assert completion.choices[0].message.content == "in short: a long story"
    assert completion.model == "caio/summary"


async def test_a_service_id_as_model_routes_to_that_service_for_its_chat_capability(
    openai: AsyncOpenAI, services: Services
) -> None:
    completion = await openai.chat.completions.with_raw_response.create(
        model=services.echo_id, messages=[{"role": "user", "content": "direct"}]
    )

    assert completion.headers["x-caio-service-id"] == services.echo_id
    assert completion.parse().choices[0].message.content == "echo: direct"


async def test_embeddings_are_routed_to_text_embedding_and_read_by_the_sdk(
    openai: AsyncOpenAI, services: Services
) -> None:
    # The SDK asks for base64 unless told otherwise, and decodes it itself.
    answer = await openai.embeddings.create(model="caio/text_embedding", input=["ab", "abcd"])
    as_floats = await openai.embeddings.create(
        model="caio/text_embedding", input="abc", encoding_format="float"
    )

    assert [item.embedding for item in answer.data] == [[2.0, 0.5, -1.0], [4.0, 0.5, -1.0]]
    assert as_floats.data[0].embedding == [3.0, 0.5, -1.0]
    assert answer.usage.prompt_tokens == 2


async def test_models_lists_each_capability_as_caio_name_and_each_service_id(
    openai: AsyncOpenAI, services: Services
) -> None:
    models = [model.id async for model in openai.models.list()]
    one = await openai.models.retrieve("caio/text_embedding")

    assert models == [
        "caio/chat",
        "caio/summary",
        "caio/text_embedding",
        services.echo_id,
        services.plain_id,
    ]
    assert one.id == "caio/text_embedding"


async def test_an_unknown_model_is_an_openai_not_found_error_with_caios_code(
    openai: AsyncOpenAI, services: Services
) -> None:
    with pytest.raises(openai_sdk.NotFoundError) as refused:
        await openai.chat.completions.create(
            model="no-such-service", messages=[{"role": "user", "content": "hi"}]
        )

    assert refused.value.code == "not_found"
    assert refused.value.param == "model"


async def test_a_capability_nobody_offers_is_no_matching_service(
    openai: AsyncOpenAI, services: Services
) -> None:
    with pytest.raises(openai_sdk.InternalServerError) as refused:
        await openai.chat.completions.create(
            model="caio/translation", messages=[{"role": "user", "content": "hi"}]
        )

    assert refused.value.status_code == 503
    assert refused.value.code == "no_matching_service"


async def test_constraints_in_the_header_are_applied_by_the_router(
    openai: AsyncOpenAI, services: Services
) -> None:
    with pytest.raises(openai_sdk.InternalServerError) as refused:
        await openai.chat.completions.create(
            model="caio/chat",
            messages=[{"role": "user", "content": "hi"}],
            extra_headers={"X-CAIO-Constraints": json.dumps({"data_locality": ["eu_cloud"]})},
        )

    assert refused.value.code == "no_matching_service"


async def test_a_misspelled_constraint_is_refused_with_the_field_named(
    openai: AsyncOpenAI, services: Services
) -> None:
    with pytest.raises(openai_sdk.BadRequestError) as refused:
        await openai.chat.completions.create(
            model="caio/chat",
            messages=[{"role": "user", "content": "hi"}],
            extra_body={"caio": {"constraints": {"data_localty": ["on_prem"]}}},
        )

    assert refused.value.code == "invalid_request"
    assert "data_localty" in refused.value.message


async def test_a_request_without_a_key_is_a_401_in_openais_error_shape(
    http: httpx.AsyncClient, services: Services
) -> None:
    # The openai SDK will not send a request without a key: plain HTTP does.
    response = await http.get("/v1/models")

    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["error"]["code"] == "unauthenticated"
    assert response.json()["error"]["type"] == "authentication_error"


async def test_a_forged_key_is_refused_by_the_router_through_the_gateway(
    gateway: str, services: Services
) -> None:
    async with AsyncOpenAI(
        base_url=f"{gateway}/v1", api_key="caio_nokey_forged", max_retries=0
    ) as forged:
        with pytest.raises(openai_sdk.AuthenticationError) as refused:
            await forged.chat.completions.create(
                model="caio/chat", messages=[{"role": "user", "content": "hi"}]
            )

    assert refused.value.code == "unauthenticated"
