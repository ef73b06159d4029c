"""Key administration with the `caio` CLI, from the first admin key to a revoked caller."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from caio_broker.auth.hook import HookVerdict, entry_point_hook
from caio_broker.router import Router
from tests.integration.test_sdk_and_cli import caio_cli


async def caio(
    nats_url: str, prefix: str, *args: str, key: str | None = None
) -> tuple[int, str, str]:
    return await caio_cli(nats_url, prefix, *args, *(["--api-key", key] if key else []))


async def test_the_first_admin_is_bootstrapped_directly_then_manages_the_others(
    nats_url: str, prefix: str, secure_router: Router, tmp_path: Path
) -> None:
    code, out, err = await caio(
        nats_url, prefix, "keys", "create", "--direct", "--name", "ops", "--role", "admin", "--json"
    )
    assert code == 0, err
    ops = json.loads(out)["secret"]

    code, out, _ = await caio(
        nats_url,
        prefix,
        "keys",
        "create",
        "--name",
        "bob",
        "--allow",
        "code_review",
        "--data-locality",
        "on_prem",
        "--rpm",
        "30",
        "--expires",
        "30d",
        "--json",
        key=ops,
    )
    bob = json.loads(out)
    listed = await caio(nats_url, prefix, "keys", "list", "--json", key=ops)
    bob_reads = await caio(nats_url, prefix, "services", "--json", key=bob["secret"])
    bob_admin = await caio(nats_url, prefix, "keys", "list", key=bob["secret"])
    revoked = await caio(nats_url, prefix, "keys", "revoke", "bob", key=ops)
    after = await caio(nats_url, prefix, "services", key=bob["secret"])

    assert code == 0
    assert bob["capabilities"] == ["code_review"]
    assert bob["policy"] == {
        "data_locality": ["on_prem"],
        "hipaa_compliant": False,
        "requests_per_minute": 30,
        "budget_per_day": None,
        "budget_per_month": None,
    }
    assert bob["expires_at"] > bob["created_at"] + 29 * 86400
    names = {k["name"] for k in json.loads(listed[1])}
    assert names == {"ops", "bob"}
    assert "secret" not in listed[1]
    assert bob_reads[0] == 0
    assert bob_admin[0] == 1
    assert "forbidden" in bob_admin[2]
    assert revoked[0] == 0
    assert after[0] == 1
    assert "revoked" in after[2]


async def test_a_second_key_with_a_taken_name_is_a_conflict(
    nats_url: str, prefix: str, secure_router: Router
) -> None:
    first = await caio(
        nats_url, prefix, "keys", "create", "--direct", "--name", "ops", "--role", "admin"
    )
    second = await caio(
        nats_url, prefix, "keys", "create", "--direct", "--name", "ops", "--role", "admin"
    )

    assert first[0] == 0
    assert second[0] == 1
    assert "exists" in second[2]


def deny_secrets(query: dict[str, Any]) -> tuple[bool, str]:
    return ("secret" not in str(query["context"]), "no secrets in prompts")


async def slow_hook(query: dict[str, Any]) -> bool:
    await asyncio.sleep(5)
    return True


def broken_hook(query: dict[str, Any]) -> bool:
    raise RuntimeError("policy engine down")


async def test_an_entry_point_hook_allows_denies_and_fails_closed() -> None:
    module = __name__
    allow = await entry_point_hook(f"{module}:deny_secrets", 1.0)({"context": {"p": "hello"}})
    deny = await entry_point_hook(f"{module}:deny_secrets", 1.0)({"context": {"p": "my secret"}})
    slow = await entry_point_hook(f"{module}:slow_hook", 0.05)({"context": {}})
    broken = await entry_point_hook(f"{module}:broken_hook", 1.0)({"context": {}})

    assert allow == HookVerdict(True, "no secrets in prompts")
    assert deny == HookVerdict(False, "no secrets in prompts")
    assert not slow.allow
    assert "did not answer" in slow.reason
    assert not broken.allow
    assert "RuntimeError" in broken.reason
