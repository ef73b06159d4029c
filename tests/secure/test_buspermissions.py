"""The one list of subjects: complete, and the deployment's users.conf is generated from it.

What the list grants is proven against a real server elsewhere: refusals per
user in tests/security/test_bus_permissions.py, and everything the product
really uses by the integration suite on the secure bus
(``pytest tests/integration --bus=secure``, tests/secure/bus.py).
"""

from __future__ import annotations

import inspect
import os
import subprocess
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from caio_broker.buspermissions import (
    CALLER_REGISTRY_OPERATIONS,
    PUBLISHER_REGISTRY_OPERATIONS,
    default_roster,
    kv_stream,
    main,
    permissions,
    render_users_conf,
    rules,
    subject_matches,
)
from caio_broker.limits import lease_subject
from caio_broker.ratelimit import limit_stream_name, limit_subject
from caio_broker.registry import Registry
from caio_integration.natsserver import find_nats_server
from caio_integration.subjects import REGISTRY_OPERATIONS, Subjects
from tests.secure.roles import ROLES, role_for

SECURE = Path(__file__).resolve().parents[2] / "deploy" / "nats" / "secure"
PREFIXES = ["caio", "t0a1b2c3d4e", "acme.prod-1"]

# Subjects' public names that are not subjects, and why.
NOT_SUBJECTS = {
    "prefix": "the prefix itself",
    "jetstream_name": "builds the stream and bucket names checked below",
    "name_in": "parses a subject, builds none",
}
STREAMS = ("audit_stream", "jobs_stream", "results_stream", "dead_letter_stream")
BUCKETS = ("registry_bucket", "keys_bucket", "spend_bucket", "cache_bucket")
SAMPLE = {"kind": "route", "service_id": "svc-1", "capability": "code_review", "request_id": "R-1"}


def served_registry_operations() -> set[str]:
    """What the router's registry answers (its handler table)."""
    health = SimpleNamespace(liveness=None)
    registry = Registry(store=None, catalog=None, health=health, audit=None)  # type: ignore[arg-type]
    return set(registry.operations)


def granted(subject: str, role: str, subjects: Subjects, *, publish: bool = True) -> bool:
    perms = permissions(role, subjects, service_id="svc-1", inbox="_INBOX_x")
    listed = perms.publish if publish else perms.subscribe
    return any(subject_matches(rule.subject, subject) for rule in listed)


def anyone_uses(subject: str, subjects: Subjects) -> bool:
    return any(
        (r.publish or r.subscribe) and subject_matches(r.subject, subject)
        for r in rules(subjects, "svc-1")
    )


def built_subjects(subjects: Subjects, name: str) -> list[str]:
    """Every subject ``Subjects.<name>`` builds, with sample tokens (all registry ops)."""
    attribute = getattr(subjects, name)
    if not callable(attribute):
        return [attribute]
    params = list(inspect.signature(attribute).parameters)
    if params == ["operation"]:
        if name == "registry":
            operations = served_registry_operations() | set(REGISTRY_OPERATIONS)
        else:
            operations = {"create", "list", "revoke"}  # caio.keys.*
        return [attribute(op) for op in sorted(operations)]
    return [attribute(*(SAMPLE[p] for p in params))]


def public_names() -> list[str]:
    return [n for n in dir(Subjects) if not n.startswith("_")]


# -- the list is complete -------------------------------------------------------


@pytest.mark.parametrize("prefix", PREFIXES)
def test_every_subject_that_subjects_builds_is_in_the_list(prefix: str) -> None:
    subjects = Subjects(prefix)
    unlisted = [
        (name, subject)
        for name in public_names()
        if name not in NOT_SUBJECTS and name not in STREAMS + BUCKETS
        for subject in built_subjects(subjects, name)
        if not anyone_uses(subject, subjects)
    ]
    assert unlisted == []


def test_every_public_name_of_subjects_is_a_subject_a_name_or_explained() -> None:
    for name in public_names():
        value = getattr(Subjects("caio"), name)
        if name in NOT_SUBJECTS or name in STREAMS + BUCKETS:
            continue
        built = built_subjects(Subjects("caio"), name)
        assert all(s.startswith("caio.") for s in built), (name, value)


@pytest.mark.parametrize("prefix", PREFIXES)
def test_the_router_may_create_and_find_each_of_its_streams_and_buckets(prefix: str) -> None:
    subjects = Subjects(prefix)
    names = [getattr(subjects, n) for n in STREAMS]
    names += [kv_stream(getattr(subjects, n)) for n in BUCKETS]
    names += [limit_stream_name(subjects, 60, 5), subjects.jetstream_name("CAIO_CONC_3")]
    for name in names:
        for verb in ("CREATE", "INFO"):
            assert granted(f"$JS.API.STREAM.{verb}.{name}", "router", subjects), (verb, name)


@pytest.mark.parametrize("prefix", PREFIXES)
def test_subjects_the_broker_builds_itself_are_the_routers_to_publish(prefix: str) -> None:
    subjects = Subjects(prefix)
    for subject in (
        limit_subject(subjects, 60, 5, "caller.alice"),
        lease_subject(subjects, 3, "svc-1"),
        subjects.result("R-1"),
        subjects.dead_letter("code_review"),
        subjects.service("svc-1", "code_review"),
        subjects.audit("route", "svc-1"),
    ):
        assert granted(subject, "router", subjects), subject
        assert not granted(subject, "caller", subjects), subject
        assert not granted(subject, "publisher", subjects), subject


def test_every_registry_operation_the_router_serves_is_granted_to_a_role() -> None:
    classified = set(CALLER_REGISTRY_OPERATIONS) | set(PUBLISHER_REGISTRY_OPERATIONS)
    assert served_registry_operations() <= classified
    assert set(REGISTRY_OPERATIONS) <= classified
    subjects = Subjects("caio")
    for op in PUBLISHER_REGISTRY_OPERATIONS:
        assert granted(subjects.registry(op), "publisher", subjects)
        assert not granted(subjects.registry(op), "caller", subjects)


# -- what the roles get ---------------------------------------------------------------


def test_callers_read_results_only_by_direct_get_of_one_subject() -> None:
    subjects = Subjects("caio")
    mine = f"$JS.API.DIRECT.GET.{subjects.results_stream}.{subjects.result('R-1')}"
    assert granted(mine, "caller", subjects)
    for refused in (
        f"$JS.API.DIRECT.GET.{subjects.results_stream}",  # by sequence: every result
        f"$JS.API.CONSUMER.CREATE.{subjects.results_stream}",
        f"$JS.API.STREAM.INFO.{subjects.audit_stream}",  # audit replay: operators only
        f"$JS.API.CONSUMER.CREATE.{subjects.audit_stream}",
    ):
        assert not granted(refused, "caller", subjects), refused
    assert not granted(subjects.result("R-1"), "caller", subjects, publish=False)


def test_a_worker_is_granted_its_own_service_and_nothing_of_another() -> None:
    subjects = Subjects("caio")
    perms = permissions("worker", subjects, service_id="svc-1")
    assert [r.subject for r in perms.publish] == [subjects.heartbeat("svc-1")]
    for rule in perms.subscribe:
        assert "svc-1" in rule.subject or rule.subject.startswith("$SRV."), rule
    queued = [r for r in perms.subscribe if r.subject.startswith("caio.svc.")]
    assert [(r.subject, r.queue) for r in queued] == [("caio.svc.svc-1.*", "svc-1")]
    assert perms.allow_responses


def test_the_router_may_not_delete_or_purge_a_stream() -> None:
    subjects = Subjects("caio")
    for verb in ("DELETE", "PURGE"):
        assert not granted(f"$JS.API.STREAM.{verb}.{subjects.audit_stream}", "router", subjects)


@pytest.mark.parametrize(
    ("pattern", "subject", "matches"),
    [
        ("a.*", "a.b", True),
        ("a.*", "a.b.c", False),
        ("a.>", "a.b.c", True),
        ("a.>", "a", False),
        ("a.b", "a.b", True),
        ("a.b", "a.c", False),
    ],
)
def test_subjects_match_as_nats_matches_them(pattern: str, subject: str, matches: bool) -> None:
    assert subject_matches(pattern, subject) is matches


# -- users.conf ---------------------------------------------------------------------


def test_the_committed_users_conf_is_what_the_generator_writes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    committed = (SECURE / "users.conf").read_text()
    assert render_users_conf(Subjects("caio"), default_roster()) == committed
    assert main(["--prefix", "caio"]) == 0
    assert capsys.readouterr().out == committed, (
        "regenerate: python -m caio_broker.buspermissions --prefix caio "
        "> deploy/nats/secure/users.conf"
    )


def test_the_deployment_config_is_valid_for_nats_server() -> None:
    env: dict[str, Any] = {**os.environ}
    env.update({user.password_env: f"pw-{user.name}" for user in default_roster()})
    checked = subprocess.run(
        [find_nats_server(), "-c", str(SECURE / "nats-server.conf"), "-t"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    assert checked.returncode == 0, checked.stderr + checked.stdout


def test_an_unsafe_name_is_refused_before_it_becomes_a_subject() -> None:
    with pytest.raises(ValueError, match="unsafe"):
        default_roster(workers=["a.b"])
    with pytest.raises(ValueError, match="unsafe"):
        permissions("worker", Subjects("caio"), service_id="*")


def test_the_secure_suites_role_table_takes_the_longest_matching_entry() -> None:
    key = "tests/integration/test_routing.py::test_a_heartbeat_counts_only_on_its_own_services"
    assert role_for(key + "_subject") == ROLES[key + "_subject"]
    assert role_for("tests/integration/test_ratelimit.py::anything")[0] == "router"  # type: ignore[index]
    assert role_for("tests/integration/test_registry.py::x") is None
