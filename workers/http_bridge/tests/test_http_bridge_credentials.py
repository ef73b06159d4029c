"""Credentials come from the environment or a file the contract names, and go nowhere else.

A contract says where a credential is read, never what it is: the schema
has no place to write one. The bridge reads it when it starts, sends it
upstream in the header the contract names, and keeps it out of every reply
and every log line, even when the upstream echoes it back.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from fake_upstream import FakeUpstream, json_reply
from http_bridge_support import EXAMPLES, SECRET, CapturedLogs, StartBridge
from nats.aio.client import Client as NATS

from caio_http_bridge import CredentialError, HttpBridgeService
from caio_integration.contracts import contract_errors
from caio_integration.testing import ask_service

HELLO = {"messages": [{"role": "user", "content": "hello"}]}


def contract_with_auth(directory: Path, auth: dict[str, Any]) -> Path:
    document = yaml.safe_load((EXAMPLES / "openai-compatible-chat.yaml").read_text())
    document["service"]["api"]["auth"] = auth
    for endpoint in document["service"]["api"]["endpoints"]:  # schemas stay the example's
        for key in ("input_schema", "output_schema"):
            endpoint[key] = str(EXAMPLES / endpoint[key])
    path = directory / "chat.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


async def test_the_credential_is_read_from_a_file_next_to_the_contract(
    bridge: StartBridge, upstream: FakeUpstream, caio_nc: NATS, caio_prefix: str, tmp_path: Path
) -> None:
    (tmp_path / "chat.token").write_text(SECRET + "\n")  # as `echo KEY > chat.token` writes it
    contract = contract_with_auth(tmp_path, {"scheme": "Bearer", "file": "chat.token"})
    await bridge(contract, path="/v1")

    answer = await ask_service(
        caio_nc, "openai-compatible-chat", "chat_completion", HELLO, prefix=caio_prefix
    )

    assert answer.ok, answer.body
    assert upstream.last.headers["authorization"] == f"Bearer {SECRET}"


async def test_a_credential_without_a_scheme_is_sent_as_it_is(
    bridge: StartBridge, upstream: FakeUpstream, caio_nc: NATS, caio_prefix: str, tmp_path: Path
) -> None:
    contract = contract_with_auth(tmp_path, {"header": "api-key", "env": "AZURE_KEY"})
    await bridge(contract, path="/v1", env={"AZURE_KEY": SECRET})

    await ask_service(
        caio_nc, "openai-compatible-chat", "chat_completion", HELLO, prefix=caio_prefix
    )

    assert upstream.last.headers["api-key"] == SECRET


@pytest.mark.parametrize(
    ("auth", "files", "env", "said"),
    [
        ({"env": "OPENAI_API_KEY"}, {}, {}, "the environment variable OPENAI_API_KEY is not set"),
        ({"env": "OPENAI_API_KEY"}, {}, {"OPENAI_API_KEY": ""}, "is not set or empty"),
        ({"file": "missing.token"}, {}, {}, "missing.token does not exist"),
        ({"file": "empty.token"}, {"empty.token": "\n"}, {}, "empty.token is empty"),
        ({"file": "two.token"}, {"two.token": "a\nb"}, {}, "spans lines"),
    ],
)
async def test_a_credential_that_cannot_be_read_stops_the_start_saying_where(
    caio_host: Any,
    upstream: FakeUpstream,
    tmp_path: Path,
    auth: dict[str, str],
    files: dict[str, str],
    env: dict[str, str],
    said: str,
) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    service = HttpBridgeService(base_url=upstream.base_url, env=env)

    with pytest.raises(CredentialError, match=said):
        await caio_host(service, contract_with_auth(tmp_path, auth))


async def test_the_credential_appears_in_no_reply_and_no_log_line(
    bridge: StartBridge,
    upstream: FakeUpstream,
    caio_nc: NATS,
    caio_prefix: str,
    captured_logs: CapturedLogs,
) -> None:
    # The worst upstream: it quotes the key it was given in every error it sends.
    def echo_the_key(seen: Any) -> Any:
        key = seen.headers.get("authorization", "")
        status = int(seen.body["messages"][0]["content"])
        return json_reply(
            status, {"error": {"message": f"bad request from {key}, sk-other-123456"}}
        )

    upstream.answer_with(echo_the_key)
    with captured_logs() as lines:
        service = await bridge(
            EXAMPLES / "openai-compatible-chat.yaml", path="/v1", env={"OPENAI_API_KEY": SECRET}
        )
        answers = [
            await ask_service(
                caio_nc,
                "openai-compatible-chat",
                "chat_completion",
                {"messages": [{"role": "user", "content": str(status)}]},
                prefix=caio_prefix,
            )
            for status in (400, 401, 429, 500)
        ]
        health = service.get_health_status()

    assert [a.error["code"] for a in answers] == [
        "invalid_request",
        "service_unavailable",
        "rate_limited",
        "service_error",
    ]
    # Its words are kept (they say what was wrong), the known key and anything key-shaped not.
    assert answers[0].error["message"].endswith("bad request from Bearer ***, ***")
    assert lines, "the bridge logged nothing: the check below would prove nothing"
    assert any("upstream_call_failed" in line for line in lines)
    everything = " ".join([*lines, *(str(a.body) for a in answers), str(health)])
    assert SECRET not in everything
    assert SECRET not in repr(service.plan())


# -- the contract has no place for a credential --------------------------------------------

BASE = yaml.safe_load((EXAMPLES / "openai-compatible-chat.yaml").read_text())


def with_api(**changes: Any) -> dict[str, Any]:
    document = copy.deepcopy(BASE)
    document["service"]["api"].update(changes)
    return document


@pytest.mark.parametrize(
    ("api", "reported"),
    [
        (
            {"headers": {"Authorization": f"Bearer {SECRET}"}},
            "$.service.api.headers: a header that looks like a credential",
        ),
        ({"headers": {"X-API-KEY": SECRET}}, "$.service.api.headers: a header that looks like"),
        ({"auth": {"env": "K", "token": SECRET}}, "$.service.api.auth.token: unknown key"),
        ({"auth": {"env": "K", "x-token": SECRET}}, "$.service.api.auth.x-token: unknown key"),
        ({"auth": {"header": "Authorization"}}, "$.service.api.auth: needs at least one of"),
        ({"auth": {"env": "K", "file": "k.txt"}}, "$.service.api.auth: where the credential"),
        ({"auth": {"env": "NOT A NAME"}}, "$.service.api.auth.env: 'NOT A NAME' does not match"),
        ({"headers": {"x-note": "a\r\nAuthorization: x"}}, "$.service.api.headers.x-note"),
    ],
)
def test_a_contract_that_writes_a_credential_down_is_refused(
    api: dict[str, Any], reported: str
) -> None:
    errors = contract_errors(with_api(**api))

    assert any(error.startswith(reported) for error in errors), errors
    assert all(SECRET not in error for error in errors)


def test_the_examples_say_where_their_credentials_are_read() -> None:
    assert contract_errors(BASE) == []
    assert BASE["service"]["api"]["auth"] == {
        "header": "Authorization",
        "scheme": "Bearer",
        "env": "OPENAI_API_KEY",
    }


def test_a_base_url_with_a_password_in_it_is_refused_without_repeating_it(
    tmp_path: Path,
) -> None:
    from caio_integration.errors import InvalidContract

    document = with_api(base_url=f"https://user:{SECRET}@models.example/v1")
    document["service"]["api"]["endpoints"] = [{"capability": "chat_completion", "path": "/c"}]
    path = tmp_path / "leaky.yaml"
    path.write_text(yaml.safe_dump(document))

    with pytest.raises(InvalidContract) as refused:
        HttpBridgeService().initialize(path)

    assert refused.value.details["errors"] == [
        "$.service.api.base_url: user:password@ is a credential; name it in auth (env or file)"
    ]
    assert SECRET not in str(refused.value)
