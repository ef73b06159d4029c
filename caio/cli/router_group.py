"""``caio router --processes N``: N router processes from one command, one per core.

A router is one asyncio process, so it uses one core at most. Routers share
nothing but NATS (they serve the route and registry subjects in one queue
group; keys and the registry are in KV, limits in JetStream), so more
capacity on one machine is simply more router processes: exactly what
``--scale router=N`` does across containers.

The command forks N children before any event loop or connection exists
(each child then builds its own) and supervises them:

- SIGINT/SIGTERM to the command reach every child, which drains and stops;
- a child that exits on its own stops the others, and the command exits
  with that child's status, so a process manager (systemd, Docker's restart
  policy) sees one failed service and restarts it whole. Restarting single
  children here would hide a crash loop (NATS unreachable, bad credentials)
  behind a supervisor that looks healthy.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import signal
from collections.abc import Callable
from multiprocessing.context import ForkProcess
from typing import Any

import structlog

from caio_broker.router import RouterConfig

__all__ = ["child_configs", "run_router_processes"]

log = structlog.get_logger("caio.cli")

STOP_TIMEOUT_S = 30.0  # a draining router finishes its in-flight requests well within this


def child_configs(config: RouterConfig, count: int) -> list[RouterConfig]:
    """One config per process: a fixed metrics port becomes port, port+1, ...; 0 stays
    "any free port" for each."""
    port = config.metrics.port
    if not port:
        return [config] * count
    return [
        dataclasses.replace(config, metrics=dataclasses.replace(config.metrics, port=port + index))
        for index in range(count)
    ]


def run_router_processes(
    config: RouterConfig, count: int, serve: Callable[[RouterConfig], None]
) -> int:
    """Run ``serve(config)`` in ``count`` forked processes; the exit status for the command."""
    # fork, not spawn: the children inherit the parsed options (and the
    # connect options' callbacks, which cannot be pickled) as they are.
    context = multiprocessing.get_context("fork")
    children: list[ForkProcess] = []
    received: list[int] = []

    def forward(signum: int, _frame: Any) -> None:
        received.append(signum)
        for child in children:
            if child.pid is not None and child.exitcode is None:
                os.kill(child.pid, signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        for index, child_config in enumerate(child_configs(config, count)):
            child = context.Process(
                target=_child_main, args=(serve, child_config), name=f"caio-router-{index + 1}"
            )
            child.start()
            children.append(child)
        log.info("router_processes_started", count=count, pids=[c.pid for c in children])
        status = _wait_first_exit(children, received)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _stop_all(children)
    return status


def _child_main(serve: Callable[[RouterConfig], None], config: RouterConfig) -> None:
    # The parent's handlers forward signals; a child handles its own (the router
    # installs them once its loop runs), so start from the defaults.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    serve(config)


def _wait_first_exit(children: list[ForkProcess], received: list[int]) -> int:
    """Block until one child exits; its status, or 0 when a signal asked them to stop."""
    from multiprocessing.connection import wait

    sentinels = {child.sentinel: child for child in children}
    while True:
        ready = wait(list(sentinels))
        if ready:
            first = sentinels[ready[0]]  # type: ignore[index]
            first.join()
            if received:
                return 0
            log.error("router_process_exited", pid=first.pid, exitcode=first.exitcode)
            return first.exitcode or 1


def _stop_all(children: list[ForkProcess]) -> None:
    for child in children:
        if child.exitcode is None and child.pid is not None:
            os.kill(child.pid, signal.SIGTERM)
    for child in children:
        child.join(STOP_TIMEOUT_S)
        if child.exitcode is None:
            child.kill()
            child.join()
