"""Routing on ``<prefix>.route.<capability>``, as a bare NATS client sees it."""

from __future__ import annotations

import asyncio

import orjson
from nats.aio.client import Client as NATS

from caio_broker.router import Router
from caio_integration.subjects import Subjects
from tests.integration.conftest import ServiceFactory, audit_records, request


async def test_a_request_is_answered_by_the_best_available_service(
    nc: NATS, subjects: Subjects, live_service: ServiceFactory
) -> None:
    await live_service("good", accuracy=0.7)
    await live_service("better", accuracy=0.95)

    reply = await request(nc, subjects.route("code_review"), {"context": {"code": "x = 1"}})

    assert reply["status"] == "ok"
    assert reply["service_id"] == "better"
    assert reply["capability"] == "code_review"
    assert reply["result"] == {"served_by": "better", "echo": {"code": "x = 1"}}
    assert reply["guarantees"]["accuracy"]["bound"]["min"] == 0.95
    assert reply["latency_ms"] > 0
    assert reply["attempts"] == [
        {"service_id": "better", "status": "ok", "latency_ms": reply["attempts"][0]["latency_ms"]}
    ]
    assert len(reply["request_id"]) == 32


async def test_the_service_receives_the_protocols_service_request(
    nc: NATS, subjects: Subjects, live_service: ServiceFactory
) -> None:
    service = await live_service("svc")

    await request(
        nc,
        subjects.route("code_review"),
        {"request_id": "req-42", "context": {"code": "y"}, "timeout_ms": 5000},
    )

    sent = service.received[0]
    assert set(sent) == {"request_id", "capability", "context", "caller", "deadline_ms"}
    assert sent["request_id"] == "req-42"
    assert sent["capability"] == "code_review"
    assert sent["context"] == {"code": "y"}
    assert isinstance(sent["deadline_ms"], int) and sent["deadline_ms"] > 1_600_000_000_000


async def test_a_dry_run_returns_the_decision_and_calls_nothing(
    nc: NATS, subjects: Subjects, live_service: ServiceFactory
) -> None:
    first = await live_service("first", accuracy=0.9)
    second = await live_service("second", accuracy=0.6)

    reply = await request(nc, subjects.route("code_review"), {"context": {}, "dry_run": True})

    assert reply["status"] == "ok"
    assert reply["service_id"] == "first"
    assert [c["service_id"] for c in reply["candidates"]] == ["first", "second"]
    assert reply["candidates"][0]["score"] > reply["candidates"][1]["score"]
    assert "accuracy" in reply["guarantees"]
    assert first.received == [] and second.received == []


async def test_the_same_request_and_registry_give_the_same_decision(
    nc: NATS, subjects: Subjects, live_service: ServiceFactory
) -> None:
    for name in ("a1", "a2", "a3"):
        await live_service(name, accuracy=0.8)  # equal scores: the id breaks the tie

    decisions = [
        await request(nc, subjects.route("code_review"), {"context": {}, "dry_run": True})
        for _ in range(5)
    ]

    assert {d["service_id"] for d in decisions} == {"a1"}
    assert len({orjson.dumps(d["candidates"]) for d in decisions}) == 1


async def test_no_matching_service_explains_every_exclusion(
    nc: NATS, subjects: Subjects, live_service: ServiceFactory
) -> None:
    await live_service("slow", p95_ms=9000)
    await live_service("cloudy", locality="cloud")

    reply = await request(
        nc,
        subjects.route("code_review"),
        {
            "context": {},
            "guarantees": {"max_p95_latency_ms": 2000},
            "constraints": {"data_locality": ["on_prem"]},
        },
    )

    assert reply["status"] == "error"
    assert reply["error"]["code"] == "no_matching_service"
    excluded = reply["error"]["details"]["excluded"]
    assert "p95 latency" in excluded["slow"]
    assert "data locality cloud" in excluded["cloudy"]


async def test_an_unknown_capability_has_no_matching_service(
    nc: NATS, subjects: Subjects, router: Router
) -> None:
    reply = await request(nc, subjects.route("text_embedding"), {"context": {}})

    assert reply["error"]["code"] == "no_matching_service"


async def test_a_service_without_a_live_worker_is_not_chosen(
    nc: NATS, subjects: Subjects, live_service: ServiceFactory
) -> None:
    await request(
        nc,
        subjects.registry("register"),
        {
            "contract": {
                "service_id": "silent",
                "name": "n",
                "version": "1",
                "capabilities": ["code_review"],
            }
        },
    )
    await live_service("alive", accuracy=0.1)

    reply = await request(nc, subjects.route("code_review"), {"context": {}, "dry_run": True})

    assert reply["service_id"] == "alive"
    assert reply["excluded"]["silent"] == "unavailable: no live worker"


async def test_a_stopping_heartbeat_makes_the_service_unavailable_at_once(
    nc: NATS, subjects: Subjects, live_service: ServiceFactory, router: Router
) -> None:
    service = await live_service("leaving")

    await service.beat(stopping=True)
    await request(nc, subjects.registry("list"), {})  # a round trip through the router

    assert not router.liveness.is_available("leaving")


async def test_a_killed_best_service_falls_back_to_the_next(
    nc: NATS, subjects: Subjects, live_service: ServiceFactory
) -> None:
    best = await live_service("best", accuracy=0.99)
    await live_service("backup", accuracy=0.5)
    await best.unsubscribe()  # killed: its heartbeat is still fresh, nobody answers

    reply = await request(nc, subjects.route("code_review"), {"context": {}})

    assert reply["status"] == "ok"
    assert reply["service_id"] == "backup"
    assert [(a["service_id"], a["status"]) for a in reply["attempts"]] == [
        ("best", "no_responders"),
        ("backup", "ok"),
    ]


async def test_a_best_service_replying_errors_falls_back_to_the_next(
    nc: NATS, subjects: Subjects, live_service: ServiceFactory
) -> None:
    best = await live_service("best", accuracy=0.99)
    await live_service("backup", accuracy=0.5)
    best.mode = "error"

    reply = await request(nc, subjects.route("code_review"), {"context": {}})

    assert reply["service_id"] == "backup"
    first, second = reply["attempts"]
    assert (first["service_id"], first["status"], first["error"]["code"]) == (
        "best",
        "error",
        "service_error",
    )
    assert (second["service_id"], second["status"]) == ("backup", "ok")


async def test_a_hanging_best_service_falls_back_within_the_callers_timeout(
    nc: NATS, subjects: Subjects, live_service: ServiceFactory
) -> None:
    best = await live_service("best", accuracy=0.99, p95_ms=200)  # attempt budget: 2 x 200 ms
    await live_service("backup", accuracy=0.5)
    best.mode = "hang"

    reply = await request(nc, subjects.route("code_review"), {"context": {}, "timeout_ms": 5000})

    assert reply["service_id"] == "backup"
    assert [(a["service_id"], a["status"]) for a in reply["attempts"]] == [
        ("best", "timeout"),
        ("backup", "ok"),
    ]
    assert 350 <= reply["attempts"][0]["latency_ms"] < 2000


async def test_when_every_service_fails_the_reply_lists_the_attempts(
    nc: NATS, subjects: Subjects, live_service: ServiceFactory
) -> None:
    one = await live_service("one", accuracy=0.9)
    two = await live_service("two", accuracy=0.8)
    one.mode = two.mode = "error"

    reply = await request(nc, subjects.route("code_review"), {"request_id": "r1", "context": {}})

    assert reply["status"] == "error"
    assert reply["request_id"] == "r1"
    assert reply["error"]["code"] == "service_error"
    # Both errors were retryable: one more round after a short backoff.
    assert [a["service_id"] for a in reply["attempts"]] == ["one", "two", "one", "two"]


async def test_a_non_retryable_error_is_not_retried(
    nc: NATS, subjects: Subjects, live_service: ServiceFactory
) -> None:
    only = await live_service("only")
    only.mode, only.retryable = "error", False

    reply = await request(nc, subjects.route("code_review"), {"context": {}})

    assert [a["service_id"] for a in reply["attempts"]] == ["only"]
    assert len(only.received) == 1


async def test_a_hanging_last_service_answers_timeout_within_the_deadline(
    nc: NATS, subjects: Subjects, live_service: ServiceFactory
) -> None:
    only = await live_service("only")
    only.mode = "hang"

    reply = await request(nc, subjects.route("code_review"), {"context": {}, "timeout_ms": 300})

    assert reply["error"]["code"] == "timeout"
    assert reply["attempts"][0]["status"] == "timeout"


async def test_every_route_outcome_is_audited_before_the_reply(
    nc: NATS, subjects: Subjects, live_service: ServiceFactory
) -> None:
    await live_service("svc")

    ok = await request(nc, subjects.route("code_review"), {"request_id": "ok-1", "context": {}})
    none = await request(nc, subjects.route("translation"), {"request_id": "none-1", "context": {}})
    bad = await request(
        nc, subjects.route("code_review"), {"request_id": "bad-1", "timeout_ms": "soon"}
    )
    records = {
        r["request_id"]: r for r in await audit_records(nc, subjects) if r["kind"] != "registry"
    }

    assert ok["status"] == "ok" and none["status"] == "error" and bad["status"] == "error"
    assert records["ok-1"]["outcome"] == "ok"
    assert records["ok-1"]["service_id"] == "svc"
    assert records["ok-1"]["decision"]["candidates"][0]["service_id"] == "svc"
    assert records["ok-1"]["decision"]["registry_revision"] >= 1
    assert (records["none-1"]["kind"], records["none-1"]["outcome"]) == ("route", "no_match")
    assert (records["bad-1"]["kind"], records["bad-1"]["outcome"]) == ("invalid", "invalid")
    for record in records.values():
        assert {
            "ts",
            "kind",
            "request_id",
            "caller",
            "capability",
            "service_id",
            "outcome",
            "decision",
            "latency_ms",
            "error",
        } <= set(record)


async def test_many_concurrent_requests_are_all_answered(
    nc: NATS, subjects: Subjects, live_service: ServiceFactory
) -> None:
    await live_service("svc")

    replies = await asyncio.gather(
        *(
            request(nc, subjects.route("code_review"), {"request_id": f"c{i}", "context": {"i": i}})
            for i in range(200)
        )
    )

    assert all(r["status"] == "ok" for r in replies)
    assert {r["result"]["echo"]["i"] for r in replies} == set(range(200))


async def test_when_no_candidate_has_a_worker_subscribed_the_reply_is_service_unavailable(
    nc: NATS, subjects: Subjects, live_service: ServiceFactory
) -> None:
    gone = await live_service("gone")
    await gone.unsubscribe()

    reply = await request(nc, subjects.route("code_review"), {"context": {}})

    assert reply["error"]["code"] == "service_unavailable"
    assert reply["error"]["retryable"] is True
    assert reply["attempts"][0]["status"] == "no_responders"


async def test_when_every_service_is_rate_limited_the_caller_is_told_so(
    nc: NATS, subjects: Subjects, live_service: ServiceFactory
) -> None:
    for name in ("one", "two"):
        service = await live_service(name)
        service.mode, service.error_code = "error", "rate_limited"

    reply = await request(nc, subjects.route("code_review"), {"context": {}})

    assert reply["error"]["code"] == "rate_limited"
    assert {a["error"]["code"] for a in reply["attempts"]} == {"rate_limited"}


async def test_without_its_audit_stream_the_router_answers_internal_not_an_unrecorded_result(
    nc: NATS, subjects: Subjects, live_service: ServiceFactory
) -> None:
    await live_service("svc")
    await nc.jetstream().delete_stream(subjects.audit_stream)

    reply = await request(nc, subjects.route("code_review"), {"context": {}})

    assert reply["status"] == "error"
    assert reply["error"]["code"] == "internal"
    assert reply["error"]["retryable"] is True
    assert "result" not in reply


async def test_a_heartbeat_counts_only_on_its_own_services_subject(
    nc: NATS, subjects: Subjects, router: Router
) -> None:
    beat = {"service_id": "impostor", "instance_id": "i", "ts": 1.0}
    await nc.publish(subjects.heartbeat("victim"), orjson.dumps(beat))
    await nc.publish(subjects.heartbeat("victim"), b"not json")
    await nc.publish(
        subjects.heartbeat("victim"), orjson.dumps({**beat, "service_id": "victim", "ts": "x"})
    )
    await nc.publish(subjects.heartbeat("honest"), orjson.dumps({**beat, "service_id": "honest"}))

    assert await router.liveness.wait_available("honest", timeout_s=5)
    assert not router.liveness.is_available("victim")
    assert not router.liveness.is_available("impostor")


async def test_a_route_record_says_what_the_caller_asked_for_and_only_that(
    nc: NATS, subjects: Subjects, live_service: ServiceFactory
) -> None:
    await live_service("svc")
    asked = {
        "requirements": ["code_review"],
        "guarantees": {"max_p95_latency_ms": 5000},
        "constraints": {"service_ids": ["svc"]},
    }

    first = await request(nc, subjects.route("code_review"), {"context": {}, **asked})
    second = await request(nc, subjects.route("code_review"), {"context": {}})

    records = {r["request_id"]: r for r in await audit_records(nc, subjects)}
    assert records[first["request_id"]]["requested"] == asked
    assert "requested" not in records[second["request_id"]]


async def test_each_answer_is_measured_against_its_contract_and_the_verdict_is_audited(
    nc: NATS, subjects: Subjects, live_service: ServiceFactory
) -> None:
    slow = await live_service("slow", p95_ms=50)
    slow.delay_s = 0.1

    reply = await request(nc, subjects.route("code_review"), {"context": {}})

    verdict = reply["verdict"]
    assert verdict["latency"]["bound_ms"] == 50
    assert verdict["latency"]["observed_ms"] >= 100
    assert verdict["latency"]["kept"] is False
    assert verdict["unchecked"] == ["accuracy"]  # one result cannot show an accuracy
    records = {r["request_id"]: r for r in await audit_records(nc, subjects)}
    assert records[reply["request_id"]]["verdict"] == verdict


async def test_a_result_within_the_bound_keeps_it(
    nc: NATS, subjects: Subjects, live_service: ServiceFactory
) -> None:
    await live_service("quick", p95_ms=5000)

    reply = await request(nc, subjects.route("code_review"), {"context": {}})

    assert reply["verdict"]["latency"]["kept"] is True
