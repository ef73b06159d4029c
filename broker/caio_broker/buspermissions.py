"""Who may publish and subscribe what on the bus: the one list, and users.conf from it.

``rules(subjects)`` lists every subject pattern CAIO uses for one prefix,
each with the roles that publish it, the roles that subscribe to it (in a
queue group where that matters) and why. Everything else derives from it:
``permissions(role, ...)`` for one NATS user, ``render_users_conf`` for
nats-server (``deploy/nats/secure/users.conf`` is its output for prefix
``caio``), and the secure test bus (``pytest --bus=secure``), which runs the
integration suite with each role as its own user. A subject used but not
listed here is a permissions violation there, so the list cannot drift from
the code unnoticed.

Roles:

- ``router``: serves route, registry and keys requests, forwards to
  services, writes audit records, results, leases and rate-limit counters,
  keeps the registry and keys buckets.
- ``admin``: everything (operators, ``caio keys``, ``caio audit replay``).
- ``caller``: routes, reads the registry, submits durable jobs and reads a
  job's result by its request id.
- ``publisher``: a caller that may also register and deregister contracts.
- ``worker``: one per service id: its own service subjects in its queue
  group, its own heartbeat, nats.micro discovery for its own name.

Results are read by direct get of one subject
(``$JS.API.DIRECT.GET.<results stream>.<prefix>.results.<id>``), never by a
consumer or a subscription: docs/security.md, "Reading job results", says
what that protects and what it does not.

``python -m caio_broker.buspermissions --prefix caio > deploy/nats/secure/users.conf``
writes the deployment's roster (see ``main``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from caio_integration.subjects import Subjects, is_safe_token

__all__ = [
    "ROLES",
    "Permissions",
    "Rule",
    "User",
    "default_roster",
    "kv_stream",
    "main",
    "permissions",
    "render_users_conf",
    "rules",
    "subject_matches",
]

ROLES = ("router", "admin", "caller", "publisher", "worker", "mqtt-ingress")
CALLER_REGISTRY_OPERATIONS = ("list", "get", "discover", "validate", "stats")
PUBLISHER_REGISTRY_OPERATIONS = ("register", "deregister")
# nats.micro answers these verbs on $SRV.<VERB>, $SRV.<VERB>.<name>, $SRV.<VERB>.<name>.<id>.
MICRO_VERBS = ("PING", "INFO", "STATS")

_ROUTER = frozenset({"router"})
_CALLERS = frozenset({"caller", "publisher"})
_MQTT = frozenset({"mqtt-ingress"})  # caio mqtt-ingress: MQTT devices' route requests
_WORKER = frozenset({"worker"})
_NOBODY: frozenset[str] = frozenset()


def kv_stream(bucket: str) -> str:
    """The stream behind a JetStream KV bucket."""
    return f"KV_{bucket}"


@dataclass(frozen=True, slots=True)
class Rule:
    """One subject pattern: who publishes it, who subscribes to it, and why."""

    subject: str
    why: str
    publish: frozenset[str] = _NOBODY
    subscribe: frozenset[str] = _NOBODY
    # Subscribers may take it only as members of this queue group (NATS
    # "<subject> <queue>" permission): no silent copies of others' messages.
    queue: str | None = None


def rules(subjects: Subjects, service_id: str | None = None) -> list[Rule]:
    """Every subject CAIO uses for ``subjects.prefix``; with ``service_id``, that
    service's worker rules too (role ``worker``)."""
    s = subjects
    p = s.prefix
    results, jobs, dead, audit = (
        s.results_stream,
        s.jobs_stream,
        s.dead_letter_stream,
        s.audit_stream,
    )
    kv_registry, kv_keys = kv_stream(s.registry_bucket), kv_stream(s.keys_bucket)
    kv_spend, kv_cache = kv_stream(s.spend_bucket), kv_stream(s.cache_bucket)
    listed = [
        # -- requests callers send and the router serves (queue group caio-router)
        Rule(s.route_all, "route requests", _CALLERS | _MQTT, _ROUTER),
        # -- MQTT devices (docs/mqtt.md): nats-server's MQTT users publish the first,
        #    subscribe their own reply subtree; the ingress does the rest
        Rule(
            f"{p}.mqtt.route.*",
            "MQTT devices' route requests, taken by the ingress in its queue group",
            _NOBODY,
            _MQTT,
            queue="caio-mqtt-ingress",
        ),
        Rule(f"{p}.mqtt.reply.>", "the router's replies, passed on to devices", _MQTT),
        *(Rule(s.registry(op), f"registry {op}", _CALLERS) for op in CALLER_REGISTRY_OPERATIONS),
        *(
            Rule(s.registry(op), f"registry {op}: publishers only", frozenset({"publisher"}))
            for op in PUBLISHER_REGISTRY_OPERATIONS
        ),
        Rule(
            s.registry_all, "every registry operation (the router's subscription)", _NOBODY, _ROUTER
        ),
        Rule(
            s.keys_all, "API-key management (admin over NATS, the router serves)", _NOBODY, _ROUTER
        ),
        Rule(s.heartbeat_all, "every worker's heartbeat: every router hears all", _NOBODY, _ROUTER),
        # -- what only the router writes
        Rule(
            s.service("*", "*"),
            "forwards to services: only the router, so nobody routes around its checks",
            _ROUTER,
        ),
        Rule(s.audit_all, f"audit records (JetStream {audit}): only the router", _ROUTER),
        Rule(f"{p}.rl.>", "rate-limit counters (memory streams CAIO_RL_*)", _ROUTER),
        Rule(f"{p}.conc.>", "max_concurrent_requests leases (memory streams CAIO_CONC_*)", _ROUTER),
        Rule(s.results_all, f"job results (JetStream {results}): only the router", _ROUTER),
        Rule(s.dead_letters_all, f"dead-lettered jobs (JetStream {dead})", _ROUTER),
        Rule(
            f"$KV.{s.registry_bucket}.>", "registry writes (put, create, delete markers)", _ROUTER
        ),
        Rule(f"$KV.{s.keys_bucket}.>", "API-key writes", _ROUTER),
        Rule(f"$KV.{s.spend_bucket}.>", "budgeted keys' spend (caio_broker.budgets)", _ROUTER),
        Rule(f"$JS.API.DIRECT.GET.{kv_spend}.>", "budgeted keys' spend reads", _ROUTER),
        Rule(f"$JS.API.STREAM.MSG.GET.{kv_spend}", "the same, without direct get", _ROUTER),
        Rule(f"$KV.{s.cache_bucket}.>", "reusable answers (caio_broker.cache)", _ROUTER),
        Rule(f"$JS.API.DIRECT.GET.{kv_cache}.>", "reusable answers: reads", _ROUTER),
        Rule(f"$JS.API.STREAM.MSG.GET.{kv_cache}", "the same, without direct get", _ROUTER),
        Rule(f"$JS.ACK.{jobs}.>", "acks, naks and in-progress of the jobs it runs", _ROUTER),
        Rule(f"$JS.FC.{kv_registry}.>", "flow control of the registry watch", _ROUTER),
        Rule(f"$JS.FC.{kv_keys}.>", "flow control of the keys watch", _ROUTER),
        Rule("$SRV.>", "nats.micro discovery (a starting router pings live workers)", _ROUTER),
        Rule(
            f"{p}.policy.>", "governance hook requests (--policy-subject under the prefix)", _ROUTER
        ),
        # -- the router's JetStream API: create and use its own assets, never delete them
        Rule(
            "$JS.API.STREAM.CREATE.*",
            "its streams and buckets; rate-limit and lease streams are named per limit "
            "(CAIO_RL_60s_5, CAIO_CONC_3), so a token wildcard cannot be narrower",
            _ROUTER,
        ),
        Rule("$JS.API.STREAM.INFO.*", "find existing streams and buckets (as above)", _ROUTER),
        Rule(
            f"$JS.API.STREAM.UPDATE.{audit}",
            "bring the audit stream's settings up to date",
            _ROUTER,
        ),
        Rule(
            "$JS.API.STREAM.MSG.DELETE.*",
            "release a concurrency lease (CAIO_CONC_<limit>)",
            _ROUTER,
        ),
        Rule(
            "$JS.API.DIRECT.GET.*",
            "direct gets with a body: a rate limit's oldest hit, whether a result exists",
            _ROUTER,
        ),
        *(
            rule
            for kv, what in ((kv_registry, "registry"), (kv_keys, "API-key"))
            for rule in (
                Rule(f"$JS.API.DIRECT.GET.{kv}.>", f"{what} reads (direct get)", _ROUTER),
                Rule(
                    f"$JS.API.STREAM.MSG.GET.{kv}",
                    f"{what} reads (a bucket without direct get)",
                    _ROUTER,
                ),
                Rule(
                    f"$JS.API.CONSUMER.CREATE.{kv}", f"{what} watch (its ordered consumer)", _ROUTER
                ),
                Rule(f"$JS.API.CONSUMER.CREATE.{kv}.>", f"{what} watch (the same, named)", _ROUTER),
                Rule(
                    f"$JS.API.CONSUMER.INFO.{kv}.*", f"{what} watch (its consumer's state)", _ROUTER
                ),
            )
        ),
        Rule(f"$JS.API.CONSUMER.INFO.{jobs}.*", "the shared jobs consumer", _ROUTER),
        Rule(
            f"$JS.API.CONSUMER.CREATE.{jobs}.>", "create the jobs consumer (first router)", _ROUTER
        ),
        Rule(f"$JS.API.CONSUMER.DURABLE.CREATE.{jobs}.*", "the same, older API form", _ROUTER),
        Rule(f"$JS.API.CONSUMER.MSG.NEXT.{jobs}.*", "fetch jobs", _ROUTER),
        # -- callers' durable jobs
        Rule(
            s.jobs_all,
            f"submit a job (JetStream {jobs}; the ack comes to the caller's inbox)",
            _CALLERS,
        ),
        Rule(
            f"$JS.API.DIRECT.GET.{results}.{s.results_all}",
            "read one result by its request id (the only way callers read results)",
            _CALLERS,
        ),
        # -- replies: the router's own requests; callers have inboxes of their own
        Rule(
            "_INBOX.>",
            "replies to the router's requests, JetStream acks and deliveries",
            _NOBODY,
            _ROUTER,
        ),
    ]
    if service_id is not None:
        listed += worker_rules(subjects, service_id)
    return listed


def worker_rules(subjects: Subjects, service_id: str) -> list[Rule]:
    """One service's worker: its requests in its queue group, its heartbeat, $SRV for its name."""
    if not is_safe_token(service_id):
        raise ValueError(f"unsafe service id {service_id!r}")
    return [
        Rule(
            subjects.service(service_id, "*"),
            "its own requests, only in its queue group (no copies)",
            _NOBODY,
            _WORKER,
            queue=service_id,
        ),
        Rule(subjects.heartbeat(service_id), "its own heartbeat only", _WORKER),
        *(
            Rule(f"$SRV.{verb}", "nats.micro: all services", _NOBODY, _WORKER)
            for verb in MICRO_VERBS
        ),
        Rule(f"$SRV.*.{service_id}", "nats.micro: this service by name", _NOBODY, _WORKER),
        Rule(
            f"$SRV.*.{service_id}.*", "nats.micro: this instance by name and id", _NOBODY, _WORKER
        ),
    ]


@dataclass(frozen=True, slots=True)
class Permissions:
    publish: tuple[Rule, ...]
    subscribe: tuple[Rule, ...]
    inbox: str | None  # the caller's own inbox prefix: subscribe ``<inbox>.>``
    allow_responses: bool
    everything: bool = False


def permissions(
    role: str, subjects: Subjects, *, service_id: str | None = None, inbox: str | None = None
) -> Permissions:
    """What one user of ``role`` may do (``service_id`` for a worker, ``inbox`` for callers)."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
    if role == "admin":
        return Permissions((), (), None, allow_responses=False, everything=True)
    if role == "worker" and service_id is None:
        raise ValueError("a worker user serves one service: give its service_id")
    if role in _CALLERS | _MQTT and inbox is None:
        raise ValueError("a caller needs an inbox prefix of its own (e.g. _INBOX_alice)")
    listed = rules(subjects, service_id if role == "worker" else None)
    return Permissions(
        publish=tuple(r for r in listed if role in r.publish),
        subscribe=tuple(r for r in listed if role in r.subscribe),
        inbox=inbox if role in _CALLERS | _MQTT else None,
        # Answer whoever sent a request: callers' inboxes, $SRV pings; the MQTT
        # ingress answers a NATS requester's bad input on its reply subject.
        allow_responses=role in ("router", "worker", "mqtt-ingress"),
    )


def subject_matches(pattern: str, subject: str) -> bool:
    """NATS matching: ``*`` is one token, a final ``>`` one or more."""
    want, have = pattern.split("."), subject.split(".")
    for i, part in enumerate(want):
        if part == ">":
            return len(have) > i
        if i >= len(have) or (part != "*" and part != have[i]):
            return False
    return len(want) == len(have)


# -- users.conf ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class User:
    name: str
    role: str
    password_env: str  # the server's environment variable holding the password
    service_id: str | None = None
    inbox: str | None = None
    about: str = ""


def _env_name(name: str) -> str:
    return "CAIO_" + name.upper().replace("-", "_") + "_NATS_PASSWORD"


def default_roster(
    workers: Sequence[str] = ("local-review", "codex"),
    callers: Sequence[str] = ("alice",),
    publishers: Sequence[str] = ("acme",),
) -> list[User]:
    """The deployment's users: router, admin, callers, publishers, one worker per service."""
    for name in (*workers, *callers, *publishers):
        if not is_safe_token(name):
            raise ValueError(f"unsafe name {name!r}: use a-z, 0-9, '_' and '-'")
    roster = [
        User("caio-router", "router", "CAIO_ROUTER_NATS_PASSWORD"),
        User("caio-admin", "admin", "CAIO_ADMIN_NATS_PASSWORD"),
    ]
    roster += [User(f"caller-{n}", "caller", _env_name(n), inbox=f"_INBOX_{n}") for n in callers]
    roster += [
        User(f"publisher-{n}", "publisher", _env_name(n), inbox=f"_INBOX_{n}") for n in publishers
    ]
    roster += [User(f"worker-{w}", "worker", _env_name(w), service_id=w) for w in workers]
    roster.append(
        User(
            "caio-mqtt-ingress",
            "mqtt-ingress",
            "CAIO_MQTT_INGRESS_NATS_PASSWORD",
            inbox="_INBOX_mqtt_ingress",
        )
    )
    return roster


_ABOUT = {
    "router": (
        "The router: serves route, registry and keys requests, forwards to\n"
        "workers, writes audit records, job results, leases and rate-limit\n"
        "counters, keeps the registry and keys buckets. It cannot delete or\n"
        "purge a stream, nor read callers' inboxes."
    ),
    "admin": "Operators and the `caio` CLI for administration (keys, audit replay): everything.",
    "caller": (
        "A caller: routes, reads the registry, submits durable jobs and reads a\n"
        "job's result by its request id. Replies arrive on its own inbox prefix\n"
        "(CAIO_NATS_INBOX_PREFIX), which no other user may subscribe to."
    ),
    "publisher": "A publisher: what a caller may, plus register and deregister contracts.",
    "mqtt-ingress": (
        "`caio mqtt-ingress` (docs/mqtt.md): takes MQTT devices' route requests in\n"
        "its queue group, sends them to the router as a caller does (replies on\n"
        "its own inbox prefix), and publishes the answers to the devices' reply\n"
        "subtree. It holds no key of its own: each request carries the device's."
    ),
    "worker": (
        "The bridge workers of service `{service}` (one user per service): its own\n"
        "requests in its queue group only, its own heartbeat, nats.micro\n"
        "discovery for its name; replies through allow_responses. Run it with\n"
        "--no-register: a publisher registers its contract."
    ),
}

_HEADER = """\
# CAIO's NATS users and their subject permissions, included by
# nats-server.conf inside `authorization { }`. Anything not allowed here is
# denied.
#
# GENERATED for subject prefix `{prefix}` from broker/caio_broker/buspermissions.py, the one
# list of CAIO's subjects; do not edit by hand. To change the roster (add a
# caller, a publisher or a worker user for a new service) or the prefix:
#   python -m caio_broker.buspermissions --prefix {prefix} \\
#       --worker local-review --worker codex --caller alice --publisher acme \\
#       > deploy/nats/secure/users.conf
# tests/deploy checks that this file is what the generator writes.
#
# Passwords come from the server's environment ($NAME is an environment
# variable when no config variable of that name exists); the server refuses
# to start if one is missing, but an EMPTY one is an empty password. A value
# may be a bcrypt hash (`nats server passwd`, in double quotes inside the
# variable). For production prefer nkeys or JWT credentials (docs/security.md).
"""


def _entry(pattern: str, why: str, width: int) -> str:
    return f'          "{pattern}",'.ljust(width) + f"  # {why}"


def _block(kind: str, lines: list[tuple[str, str]]) -> list[str]:
    if not lines:
        return [f'      {kind}: {{ deny: [">"] }}']
    width = max(len(f'          "{pattern}",') for pattern, _ in lines)
    body = [_entry(pattern, why, width) for pattern, why in lines]
    body[-1] = body[-1].replace('",', '" ', 1)  # no comma after the last entry
    return [f"      {kind}: {{", "        allow: [", *body, "        ]", "      }"]


# What a router or worker may send in reply to one request: a streamed answer's
# chunks and its final reply, for at most this long. The server keeps each grant
# until it is used up or expires, so a longer window costs server memory under load.
STREAM_MAX_REPLIES = 100_000
STREAM_MAX_DURATION = "5m"


def _render_user(user: User, subjects: Subjects, password: str) -> list[str]:
    about = user.about or _ABOUT[user.role].replace("{service}", user.service_id or "")
    out = [f"  # {line}".rstrip() for line in about.splitlines()]
    out += ["  {", f"    user: {user.name}", f"    password: {password}", "    permissions: {"]
    perms = permissions(user.role, subjects, service_id=user.service_id, inbox=user.inbox)
    if perms.everything:
        out += ['      publish: { allow: [">"] }', '      subscribe: { allow: [">"] }']
    else:
        out += _block("publish", [(r.subject, r.why) for r in perms.publish])
        sub = [(f"{r.subject} {r.queue}" if r.queue else r.subject, r.why) for r in perms.subscribe]
        if perms.inbox is not None:
            sub.append((f"{perms.inbox}.>", "its own replies (connect with this inbox prefix)"))
        out += _block("subscribe", sub)
        if perms.allow_responses:
            # A streamed answer is several replies to one request (docs/protocol.md,
            # "Streaming"); each grant lasts as long as the longest stream may.
            out.append(
                f"      allow_responses: {{ max: {STREAM_MAX_REPLIES}, "
                f'expires: "{STREAM_MAX_DURATION}" }}'
                "  # answer each request it received: once, or a stream"
            )
    out += ["    }", "  }"]
    return out


def render_users_conf(
    subjects: Subjects,
    roster: Iterable[User],
    password: Callable[[User], str] | None = None,
) -> str:
    """users.conf for ``roster``; passwords are ``$<password_env>`` unless ``password`` says."""

    def from_env(user: User) -> str:
        return f"${user.password_env}"

    password_of = password or from_env
    lines = [_HEADER.replace("{prefix}", subjects.prefix).rstrip("\n"), "", "users = ["]
    for index, user in enumerate(roster):
        if index:
            lines.append("")
        lines += _render_user(user, subjects, password_of(user))
    lines.append("]")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m caio_broker.buspermissions",
        description="Print nats-server users.conf for CAIO's roles (docs/security.md).",
    )
    parser.add_argument("--prefix", default="caio", help="the subject prefix (CAIO_PREFIX)")
    parser.add_argument("--worker", action="append", help="a service id (repeatable)")
    parser.add_argument("--caller", action="append", help="a caller's name (repeatable)")
    parser.add_argument("--publisher", action="append", help="a publisher's name (repeatable)")
    args = parser.parse_args(argv)
    try:
        roster = default_roster(
            workers=args.worker or ("local-review", "codex"),
            callers=args.caller or ("alice",),
            publishers=args.publisher or ("acme",),
        )
        text = render_users_conf(Subjects(args.prefix), roster)
    except ValueError as exc:
        parser.error(str(exc))
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
