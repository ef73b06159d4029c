"""`caio keys list` shows what each key may use and its limits, not just its name."""

from __future__ import annotations

import time

from tests.cli.conftest import caio
from tests.security.conftest import MakeKey


async def test_the_listing_shows_each_keys_limits(
    nats_url: str, prefix: str, make_key: MakeKey, admin: str
) -> None:
    in_30_days = time.time() + 30 * 86400
    await make_key(
        "alice",
        capabilities=["code_review"],
        services=["local-*"],
        expires_at=in_30_days,
        data_locality=["on_prem", "eu"],
        hipaa_compliant=True,
        requests_per_minute=60,
    )
    await make_key("bob")

    on = ("--nats-url", nats_url, "--prefix", prefix, "--api-key", admin)

    ran = await caio("keys", "list", *on)
    wide = await caio("keys", "list", *on, env={"COLUMNS": "200"})

    assert ran.code == 0, ran.text
    alice, bob = ran.out.split("alice", 1)[1].split("bob", 1)
    assert "60/min" in alice
    assert "on_prem, eu" in alice
    assert "HIPAA only yes" in alice
    assert "code_review" in alice
    assert "local-*" in alice
    assert time.strftime("%Y-%m-%d", time.gmtime(in_30_days)) in alice
    assert "no limit" in bob
    assert "never" in bob
    for heading in ("data locality", "HIPAA only", "rate limit", "expires (UTC)"):
        assert heading in wide.out
    assert "60/min" in wide.out
