"""One test per attack on the application layer, against the default (authenticated) router.

Each attack is rejected with its code, audited as ``denied`` where CAIO sees
it, calls no service, and leaves the registry and audit unchanged apart
from that one denial record.
"""

from __future__ import annotations

import asyncio

import orjson
import pytest
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

from caio_broker.router import AuthSettings, Router, RouterConfig
from caio_integration.subjects import Subjects
from tests.integration.conftest import contract
from tests.security.conftest import LiveService, MakeKey, ask, last_audit, now, state


async def key_revision(nc: NATS, subjects: Subjects, secret: str) -> int:
    """The KV revision of a key's record (to await other routers seeing it)."""
    kv = await nc.jetstream().key_value(subjects.keys_bucket)
    entry = await kv.get(f"id.{secret.split('_')[1]}")
    assert entry.revision is not None
    return entry.revision


async def assert_denied(
    nc: NATS, subjects: Subjects, subject: str, body: object, key: str | None, code: str
) -> dict:
    before = await state(nc, subjects)
    reply = await ask(nc, subject, body, key)
    after = await state(nc, subjects)
    assert reply["status"] == "error"
    assert reply["error"]["code"] == code, reply
    assert after.registry == before.registry
    assert after.audit_messages == before.audit_messages + 1
    record = await last_audit(nc, subjects)
    assert (record["kind"], record["outcome"]) == ("denied", "denied")
    assert record["error"]["code"] == code
    return reply


async def test_a_request_without_credentials_is_unauthenticated_and_calls_nothing(
    nc: NATS, subjects: Subjects, live_service: LiveService
) -> None:
    service = await live_service("svc")

    await assert_denied(
        nc, subjects, subjects.route("code_review"), {"context": {}}, None, "unauthenticated"
    )

    assert service.received == []


async def test_an_unknown_key_is_unauthenticated(
    nc: NATS, subjects: Subjects, live_service: LiveService
) -> None:
    await live_service("svc")
    forged = "caio_0123456789ab_" + "A" * 43

    await assert_denied(
        nc, subjects, subjects.route("code_review"), {"context": {}}, forged, "unauthenticated"
    )
    await assert_denied(
        nc, subjects, subjects.route("code_review"), {"context": {}}, "not-a-key", "unauthenticated"
    )


async def test_a_malformed_authorization_header_is_unauthenticated(
    nc: NATS, subjects: Subjects, secure_router: Router, make_key: MakeKey
) -> None:
    secret = await make_key("alice")

    reply = await nc.request(
        subjects.registry("list"), b"{}", timeout=5, headers={"Authorization": f"Basic {secret}"}
    )

    assert b'"unauthenticated"' in reply.data


async def test_a_revoked_key_is_unauthenticated(
    nc: NATS, subjects: Subjects, live_service: LiveService, make_key: MakeKey, admin: str
) -> None:
    await live_service("svc")
    secret = await make_key("leaver")
    assert (await ask(nc, subjects.route("code_review"), {"context": {}}, secret))["status"] == "ok"

    revoked = await ask(nc, subjects.keys("revoke"), {"key": "leaver"}, admin)
    reply = await assert_denied(
        nc, subjects, subjects.route("code_review"), {"context": {}}, secret, "unauthenticated"
    )

    assert revoked["status"] == "revoked"
    assert "revoked" in reply["error"]["message"]


async def test_a_revoked_key_is_refused_by_every_router(
    nats_url: str,
    prefix: str,
    nc: NATS,
    subjects: Subjects,
    secure_router: Router,
    make_key: MakeKey,
    admin: str,
) -> None:
    other = Router(RouterConfig(nats_url=nats_url, prefix=prefix))
    await other.start()
    try:
        secret = await make_key("leaver")
        await ask(nc, subjects.keys("revoke"), {"key": "leaver"}, admin)
        assert other.keys is not None
        # The other router learns of the revocation through its KV watch: await it.
        assert await other.keys.revisions.wait_for(await key_revision(nc, subjects, secret), 5)
        replies = [await ask(nc, subjects.registry("list"), {}, secret) for _ in range(6)]
    finally:
        await other.stop()

    assert {r["error"]["code"] for r in replies} == {"unauthenticated"}


async def test_an_expired_key_is_unauthenticated(
    nc: NATS, subjects: Subjects, live_service: LiveService, make_key: MakeKey
) -> None:
    await live_service("svc")
    secret = await make_key("temp", expires_at=now() - 1)

    reply = await assert_denied(
        nc, subjects, subjects.route("code_review"), {"context": {}}, secret, "unauthenticated"
    )

    assert "expired" in reply["error"]["message"]


async def test_a_key_for_another_capability_is_forbidden(
    nc: NATS, subjects: Subjects, live_service: LiveService, make_key: MakeKey
) -> None:
    service = await live_service("svc", ["code_review", "code_generation"])
    secret = await make_key("reviewer", capabilities=["code_review"])

    await assert_denied(
        nc, subjects, subjects.route("code_generation"), {"context": {}}, secret, "forbidden"
    )
    await assert_denied(
        nc,
        subjects,
        subjects.route("code_review"),
        {"context": {}, "requirements": ["code_generation"]},
        secret,
        "forbidden",
    )
    ok = await ask(nc, subjects.route("code_review"), {"context": {}}, secret)

    assert ok["status"] == "ok"
    assert len(service.received) == 1


async def test_a_key_limited_to_some_services_never_reaches_the_others(
    nc: NATS, subjects: Subjects, live_service: LiveService, make_key: MakeKey
) -> None:
    await live_service("team-a-review", accuracy=0.5)
    await live_service("team-b-review", accuracy=0.99)
    secret = await make_key("team-a", services=["team-a-*"])

    await assert_denied(
        nc,
        subjects,
        subjects.route("code_review"),
        {"context": {}, "constraints": {"service_ids": ["team-b-review"]}},
        secret,
        "forbidden",
    )
    reply = await ask(nc, subjects.route("code_review"), {"context": {}, "dry_run": True}, secret)

    assert reply["service_id"] == "team-a-review"
    assert reply["excluded"]["team-b-review"] == "not permitted for this caller's key"


async def test_a_caller_cannot_lift_its_privacy_restriction_through_the_request(
    nc: NATS, subjects: Subjects, live_service: LiveService, make_key: MakeKey
) -> None:
    await live_service("cloud-best", accuracy=0.99, locality="cloud")
    local = await live_service("on-prem", accuracy=0.5, locality="on_prem", hipaa=True)
    secret = await make_key("clinic", data_locality=["on_prem"], hipaa_compliant=True)

    await assert_denied(
        nc,
        subjects,
        subjects.route("code_review"),
        {"context": {}, "constraints": {"data_locality": ["cloud"], "hipaa_compliant": False}},
        secret,
        "forbidden",
    )
    widened = await ask(
        nc,
        subjects.route("code_review"),
        {
            "context": {},
            "constraints": {"data_locality": ["cloud", "on_prem"], "hipaa_compliant": False},
        },
        secret,
    )
    plain = await ask(nc, subjects.route("code_review"), {"context": {}}, secret)

    assert widened["service_id"] == "on-prem"
    assert plain["service_id"] == "on-prem"
    assert len(local.received) == 2


async def test_a_caller_key_cannot_register(
    nc: NATS, subjects: Subjects, secure_router: Router, make_key: MakeKey
) -> None:
    secret = await make_key("reader")

    await assert_denied(
        nc,
        subjects,
        subjects.registry("register"),
        {"contract": contract("mine")},
        secret,
        "forbidden",
    )


async def test_registration_hijack_and_deregistration_of_anothers_service_are_forbidden(
    nc: NATS, subjects: Subjects, secure_router: Router, make_key: MakeKey
) -> None:
    acme = await make_key("acme", "publisher", services=["acme-*"])
    mallory = await make_key("mallory", "publisher", services=["*"])
    owned = await ask(
        nc, subjects.registry("register"), {"contract": contract("acme-review")}, acme
    )

    await assert_denied(
        nc,
        subjects,
        subjects.registry("register"),
        {"contract": contract("acme-review", accuracy=0.1), "replace": True},
        mallory,
        "forbidden",
    )
    await assert_denied(
        nc,
        subjects,
        subjects.registry("deregister"),
        {"service_id": "acme-review"},
        mallory,
        "forbidden",
    )
    stored = await ask(nc, subjects.registry("get"), {"service_id": "acme-review"}, acme)

    assert owned["status"] == "registered"
    assert stored["owner"] == "acme"
    assert stored["revision"] == owned["revision"]


async def test_a_publisher_may_only_register_ids_matching_its_globs(
    nc: NATS, subjects: Subjects, secure_router: Router, make_key: MakeKey
) -> None:
    acme = await make_key("acme", "publisher", services=["acme-*"])

    await assert_denied(
        nc,
        subjects,
        subjects.registry("register"),
        {"contract": contract("globex-x")},
        acme,
        "forbidden",
    )
    mine = await ask(nc, subjects.registry("register"), {"contract": contract("acme-x")}, acme)
    gone = await ask(nc, subjects.registry("deregister"), {"service_id": "acme-x"}, acme)

    assert mine["status"] == "registered"
    assert gone["status"] == "deregistered"


async def test_only_an_admin_manages_keys(
    nc: NATS, subjects: Subjects, secure_router: Router, make_key: MakeKey
) -> None:
    publisher = await make_key("acme", "publisher")

    await assert_denied(
        nc,
        subjects,
        subjects.keys("create"),
        {"name": "evil", "role": "admin"},
        publisher,
        "forbidden",
    )
    await assert_denied(nc, subjects, subjects.keys("list"), {}, publisher, "forbidden")


async def test_key_secrets_are_shown_once_and_stored_only_as_hashes(
    nc: NATS, subjects: Subjects, secure_router: Router, admin: str
) -> None:
    created = await ask(nc, subjects.keys("create"), {"name": "bob", "role": "caller"}, admin)
    listed = await ask(nc, subjects.keys("list"), {}, admin)
    kv = await nc.jetstream().key_value(subjects.keys_bucket)
    stored = (await kv.get(f"id.{created['key_id']}")).value

    assert created["secret"].startswith("caio_")
    assert created["secret"] not in str(listed)
    assert "secret_sha256" not in str(listed)
    assert stored is not None
    assert created["secret"].encode() not in stored


@pytest.mark.parametrize(
    ("subject_suffix", "body", "code"),
    [
        ("route.code_review", {"context": {}, "requirements": ["a.b"]}, "invalid_request"),
        (
            "route.code_review",
            {"context": {}, "constraints": {"service_ids": ["*"]}},
            "invalid_request",
        ),
        (
            "route.code_review",
            {"context": {}, "constraints": {"exclude_service_ids": [">"]}},
            "invalid_request",
        ),
        ("registry.get", {"service_id": "a.*"}, "invalid_request"),
        ("registry.get", {"service_id": "a b"}, "invalid_request"),
        ("registry.deregister", {"service_id": ">"}, "invalid_request"),
        ("registry.list", {"capability": "code.review"}, "invalid_request"),
        ("registry.register", {"contract": contract("x.>")}, "invalid_contract"),
        ("registry.register", {"contract": contract("ok", ["a*"])}, "invalid_contract"),
        ("registry.register", {"contract": contract("has space")}, "invalid_contract"),
        ("keys.create", {"name": "a.b", "role": "caller"}, "invalid_request"),
        ("keys.create", {"name": "x", "role": "caller", "services": ["a.>"]}, "invalid_request"),
    ],
)
async def test_subject_injection_through_names_is_rejected_before_any_subject_is_built(
    nc: NATS,
    subjects: Subjects,
    secure_router: Router,
    admin: str,
    subject_suffix: str,
    body: dict,
    code: str,
) -> None:
    before = await state(nc, subjects)

    reply = await ask(nc, f"{subjects.prefix}.{subject_suffix}", body, admin)

    assert reply["error"]["code"] == code
    assert (await state(nc, subjects)).registry == before.registry


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (b'{"context": {"blob": "' + b"x" * (300 * 1024) + b'"}}', "payload_too_large"),
        (b'{"context": ' + b'{"a":' * 40 + b"1" + b"}" * 40 + b"}", "invalid_request"),
        (b'{"context": {"list": ' + b"[" * 2000 + b"]" * 2000 + b"}}", "invalid_request"),
    ],
    ids=["oversized", "nested-objects", "nested-arrays"],
)
async def test_oversized_and_deeply_nested_bodies_are_refused(
    nc: NATS, subjects: Subjects, live_service: LiveService, admin: str, payload: bytes, code: str
) -> None:
    service = await live_service("svc")

    reply = await ask(nc, subjects.route("code_review"), payload, admin)
    healthy = await ask(nc, subjects.route("code_review"), {"context": {}}, admin)

    assert reply["error"]["code"] == code
    assert healthy["status"] == "ok"
    assert len(service.received) == 1  # only the healthy request reached the service


async def test_a_policy_hook_that_times_out_denies_the_request(
    nats_url: str, prefix: str, nc: NATS, subjects: Subjects
) -> None:
    policy_subject = f"{prefix}.policy.check"

    async def never_answer(msg: Msg) -> None:
        return None

    silent = await nc.subscribe(policy_subject, cb=never_answer)
    router = Router(
        RouterConfig(
            nats_url=nats_url,
            prefix=prefix,
            auth=AuthSettings(policy_subject=policy_subject, hook_timeout_s=0.2),
        )
    )
    await router.start()
    try:
        assert router.keys is not None
        secret, _ = await router.keys.create("alice", "caller")
        reply = await assert_denied(
            nc, subjects, subjects.route("code_review"), {"context": {}}, secret, "forbidden"
        )
    finally:
        await router.stop()
        await silent.unsubscribe()

    assert "did not answer" in reply["error"]["message"]


async def test_a_policy_hook_can_deny_with_a_reason_and_allow_otherwise(
    nats_url: str, prefix: str, nc: NATS, subjects: Subjects
) -> None:
    policy_subject = f"{prefix}.policy.check"

    async def govern(msg: Msg) -> None:
        query = orjson.loads(msg.data)
        allow = "secret" not in str(query["context"])
        await msg.respond(
            orjson.dumps({"allow": allow, "reason": "" if allow else "context mentions a secret"})
        )

    sub = await nc.subscribe(policy_subject, cb=govern)
    router = Router(
        RouterConfig(
            nats_url=nats_url, prefix=prefix, auth=AuthSettings(policy_subject=policy_subject)
        )
    )
    await router.start()
    try:
        assert router.keys is not None
        secret, _ = await router.keys.create("alice", "caller")
        denied = await ask(
            nc, subjects.route("code_review"), {"context": {"x": "my secret"}}, secret
        )
        passed = await ask(nc, subjects.route("code_review"), {"context": {"x": "fine"}}, secret)
    finally:
        await router.stop()
        await sub.unsubscribe()

    assert denied["error"]["code"] == "forbidden"
    assert "mentions a secret" in denied["error"]["message"]
    assert passed["error"]["code"] == "no_matching_service"  # past the hook, on to matching


async def test_the_per_caller_rate_limit_answers_rate_limited_with_a_retry_after(
    nc: NATS, subjects: Subjects, live_service: LiveService, make_key: MakeKey
) -> None:
    await live_service("svc")
    secret = await make_key("busy", requests_per_minute=5)

    replies = [
        await ask(nc, subjects.route("code_review"), {"context": {}}, secret) for _ in range(5)
    ]
    limited = await assert_denied(
        nc, subjects, subjects.route("code_review"), {"context": {}}, secret, "rate_limited"
    )

    assert all(r["status"] == "ok" for r in replies)
    assert limited["error"]["retryable"] is True
    assert 0 < limited["error"]["details"]["retry_after_s"] <= 60


async def test_the_per_caller_rate_limit_holds_across_two_routers(
    nats_url: str,
    prefix: str,
    nc: NATS,
    subjects: Subjects,
    live_service: LiveService,
    make_key: MakeKey,
) -> None:
    service = await live_service("svc")
    second = Router(RouterConfig(nats_url=nats_url, prefix=prefix))
    await second.start()
    try:
        await service.beat()  # the second router was not listening to the first heartbeat
        assert await second.liveness.wait_available("svc", timeout_s=5)
        secret = await make_key("busy", requests_per_minute=40)
        assert second.keys is not None
        assert await second.keys.revisions.wait_for(await key_revision(nc, subjects, secret), 5)
        replies = await asyncio.gather(
            *(ask(nc, subjects.route("code_review"), {"context": {}}, secret) for _ in range(100))
        )
    finally:
        await second.stop()

    allowed = sum(r["status"] == "ok" for r in replies)
    limited = sum(r.get("error", {}).get("code") == "rate_limited" for r in replies)
    assert 36 <= allowed <= 44  # within 10% of 40 (it is exact: the window lives in JetStream)
    assert allowed + limited == 100


async def test_the_callers_key_name_reaches_the_service_and_the_audit_record(
    nc: NATS, subjects: Subjects, live_service: LiveService, make_key: MakeKey
) -> None:
    service = await live_service("svc")
    secret = await make_key("alice")

    reply = await ask(
        nc, subjects.route("code_review"), {"request_id": "who-1", "context": {}}, secret
    )
    record = await last_audit(nc, subjects)

    assert reply["status"] == "ok"
    assert service.received[0]["caller"] == "alice"
    assert (record["request_id"], record["caller"], record["outcome"]) == ("who-1", "alice", "ok")


async def test_a_reply_never_carries_the_callers_key_back_over_the_bus(
    nc: NATS, subjects: Subjects, live_service: LiveService, make_key: MakeKey
) -> None:
    await live_service("svc")
    secret = await make_key("caller")

    routed = await nc.request(
        subjects.route("code_review"),
        orjson.dumps({"context": {}}),
        timeout=5,
        headers={"Authorization": f"Bearer {secret}"},
    )
    denied = await nc.request(
        subjects.route("code_review"),
        orjson.dumps({"context": {}}),
        timeout=5,
        headers={"Authorization": f"Bearer {secret}x"},
    )

    assert orjson.loads(routed.data)["status"] == "ok"
    assert orjson.loads(denied.data)["error"]["code"] == "unauthenticated"
    for reply in (routed, denied):
        assert secret not in str(reply.headers or {})


async def test_a_routers_error_replies_carry_the_micro_error_headers_and_a_success_none(
    nc: NATS, subjects: Subjects, live_service: LiveService, make_key: MakeKey
) -> None:
    await live_service("svc")
    secret = await make_key("caller")
    body = orjson.dumps({"context": {}})
    bearer = {"Authorization": f"Bearer {secret}"}

    routed = await nc.request(subjects.route("code_review"), body, timeout=5, headers=bearer)
    unknown = await nc.request(subjects.route("translation"), body, timeout=5, headers=bearer)
    denied = await nc.request(subjects.registry("list"), b"{}", timeout=5)

    assert orjson.loads(routed.data)["status"] == "ok"
    assert not routed.headers
    assert unknown.headers is not None
    assert unknown.headers["Nats-Service-Error-Code"] == "503"
    assert unknown.headers["Nats-Service-Error"] == orjson.loads(unknown.data)["error"]["message"]
    assert denied.headers is not None
    assert denied.headers["Nats-Service-Error-Code"] == "401"
