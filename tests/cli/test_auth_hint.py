"""Refused for want of a key, the CLI says how to give one, and which key it sent."""

from __future__ import annotations

from pathlib import Path

import pytest

from caio_broker.router import Router
from tests.cli.conftest import caio

WAYS = ("--api-key", "CAIO_API_KEY", ".caio/admin.key", "caio up")


@pytest.mark.parametrize(
    "command",
    [
        ["services"],
        ["route", "code_review", "--context", "{}"],
        ["route", "code_review", "--dry-run"],
        ["stats"],
        ["keys", "list"],
    ],
)
async def test_without_a_key_the_error_names_every_way_to_give_one(
    nats_url: str, prefix: str, secure_router: Router, command: list[str]
) -> None:
    ran = await caio(*command, "--nats-url", nats_url, "--prefix", prefix)

    assert ran.code == 1
    assert "requires an API key" in ran.err
    assert "(unauthenticated)" in ran.err
    assert "this command sent no key" in ran.err
    for way in WAYS:
        assert way in ran.err
    assert "Traceback" not in ran.text


@pytest.fixture
def stale_local_key() -> None:
    """What an old `caio up` left in this directory: a key the router does not know."""
    Path(".caio").mkdir()
    Path(".caio/admin.key").write_text("caio_000000000000_from-an-old-caio-up\n")


@pytest.mark.usefixtures("stale_local_key")
async def test_a_stale_local_key_is_named_as_the_one_sent(
    nats_url: str, prefix: str, secure_router: Router
) -> None:
    ran = await caio("services", "--nats-url", nats_url, "--prefix", prefix)

    assert ran.code == 1
    assert "unknown API key" in ran.err
    assert "sent the key from ./.caio/admin.key" in ran.err


async def test_a_key_given_by_the_caller_is_named_as_the_one_sent(
    nats_url: str, prefix: str, secure_router: Router
) -> None:
    ran = await caio(
        "register",
        str(Path(__file__).parents[2] / "contracts" / "local-review.yaml"),
        "--nats-url",
        nats_url,
        "--prefix",
        prefix,
        env={"CAIO_API_KEY": "caio_000000000000_made-up"},
    )

    assert ran.code == 1
    assert "unknown API key" in ran.err
    assert "sent the key from --api-key or CAIO_API_KEY" in ran.err
