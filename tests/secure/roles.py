"""Which tests play another role than a caller's on the secure bus, and why.

By default a test's own connections (``nc``, ``CAIOClient``, the CLI, any
bare ``nats.connect``) are a publisher: a caller that may also register.
The router and workers the test starts always connect as their own users.
Some tests also play a part no caller may: they forge heartbeats, answer as
a service on bare nats-py, delete a stream to inject a fault, read the audit
stream or drive router internals (the rate limiter, the reply mux) on their
own connections. Those run as the role named here; what the router does in
them is still checked against the router's permissions. A few cannot mean
anything on a secure bus and are skipped (``SKIP``).

Keys are node ids (``path::test``, ``path::test[param]``) or their prefixes;
the longest match wins. A key that matches no collected test fails the run
(see ``tests/secure/bus.py``), so a renamed test cannot lose its entry quietly.
"""

from __future__ import annotations

SKIP = "skip"
I = "tests/integration/"  # noqa: E741 - short on purpose: the keys below read as paths

# node id (prefix) -> (role or SKIP, why)
ROLES: dict[str, tuple[str, str]] = {
    I + "test_ratelimit.py": (
        "router",
        "the limiter is router code, driven here on the tests' own connections",
    ),
    I + "test_audit_leaderless.py": (
        "admin",
        "the audit log is router code, driven here on the tests' own connections; the "
        "stream is deleted to inject the fault",
    ),
    I + "test_registry.py::test_a_registration_while_the_registry_store_is_gone": (
        "admin",
        "deletes the registry bucket's stream to inject the fault",
    ),
    I + "test_cache.py": (
        "admin",
        "watches the cache bucket (a router asset) to know an answer was stored",
    ),
    I + "test_replymux.py": (
        "admin",
        "one client plays both ends of the reply mux on made-up subjects",
    ),
    I + "test_failures_answered.py": (
        "admin",
        "services answer on bare nats-py and a stream is made to refuse the router's lease",
    ),
    I + "test_heartbeats.py": (
        "admin",
        "heartbeats are forged or garbled on purpose; a worker user could not send them",
    ),
    I + "test_routing.py::test_a_heartbeat_counts_only_on_its_own_services_subject": (
        "admin",
        "forges heartbeats on another service's subject",
    ),
    I + "test_routing.py::test_without_its_audit_stream_the_router_answers_internal": (
        "admin",
        "deletes the audit stream to inject the fault",
    ),
    I + "test_bad_input.py::test_a_bad_registry_request_gets_its_error_code_and_changes_nothing": (
        "admin",
        "sends unknown registry operations, which the bus itself refuses to callers",
    ),
    I + "test_jobs.py::test_two_routers_finishing_one_job_store_one_result": (
        "admin",
        "the service is played on bare nats-py",
    ),
    I + "test_jobs.py::test_a_job_runs_once_and_its_result_is_stored": (
        "admin",
        "counts the messages in the jobs and results streams",
    ),
    I + "test_jobs.py::test_a_resubmitted_request_id_is_one_job_with_one_result": (
        "admin",
        "counts the messages in the results stream",
    ),
    I + "test_ratelimit.py::test_a_stream_that_vanished_is_made_again_on_the_next_hit": (
        "admin",
        "deletes the limiter's stream, which no router may do",
    ),
    I + "test_ratelimit.py::test_a_different_limit_counts_in_its_own_stream": (
        "admin",
        "lists every stream on the server",
    ),
    I + "test_jobs.py::test_a_retryable_failure_is_retried_then_dead_lettered": (
        "admin",
        "inspects the dead-letter stream",
    ),
    I + "test_jobs.py::test_a_job_without_a_usable_request_id_is_dead_lettered_and_audited": (
        "admin",
        "inspects the dead-letter stream",
    ),
    I + "test_jobs.py::test_a_non_retryable_error_is_final_at_once": (
        "admin",
        "inspects the dead-letter stream",
    ),
    I + "test_sdk_and_cli.py::test_audit_replay": (
        "admin",
        "audit replay is an operator's right (docs/security.md)",
    ),
    I + "test_sdk_and_cli.py::test_the_cli_registers_lists_routes_and_replays": (
        "admin",
        "ends with an audit replay, an operator's right",
    ),
    I + "test_end_to_end.py::test_a_worker_process_killed_with_sigkill": (
        "admin",
        "the worker is a `caio worker` process reading the test's one set of CAIO_NATS_*",
    ),
    I + "test_discovery.py::test_a_worker_of_another_prefix_is_not_taken_for_one_of_ours": (
        SKIP,
        "a worker of another prefix has no user on a bus generated for this test's prefix",
    ),
}


def role_for(nodeid: str) -> tuple[str, str] | None:
    """The entry for a test: the longest key that its node id starts with."""
    keys = [key for key in ROLES if nodeid.startswith(key)]
    return ROLES[max(keys, key=len)] if keys else None
