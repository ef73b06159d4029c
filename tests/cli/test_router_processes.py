"""`caio router --processes N`: N routers from one command, sharing the route subjects.

The real command against the real nats-server: two processes both take
route requests (each one's /metrics counts its share), a signal to the
command stops them all, and a child that dies stops the rest and fails the
command, so a process manager sees the failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import orjson
import pytest
from nats.aio.client import Client as NATS

from caio_integration.subjects import Subjects
from tests.cli.conftest import CAIO

pytestmark = pytest.mark.asyncio

ROUTES = 40


@dataclass
class RouterGroup:
    """One `caio router --processes N` command, read from its JSON log."""

    proc: asyncio.subprocess.Process
    expected: int
    pids: set[int] = field(default_factory=set)
    metrics_urls: list[str] = field(default_factory=list)
    started: asyncio.Event = field(default_factory=asyncio.Event)
    lines: list[bytes] = field(default_factory=list)

    async def read(self) -> None:
        assert self.proc.stderr is not None
        async for line in self.proc.stderr:  # kept draining: a full pipe would stall it
            self.lines.append(line)
            with contextlib.suppress(orjson.JSONDecodeError):
                event = orjson.loads(line)
                if event.get("event") == "metrics_serving":
                    self.metrics_urls.append(event["url"])
                if event.get("event") == "router_started":
                    self.pids.add(event["pid"])
                    if len(self.pids) == self.expected:
                        self.started.set()

    def log(self) -> str:
        return b"".join(self.lines).decode(errors="replace")[-3000:]


@pytest.fixture
async def two_routers(nats_url: str, prefix: str) -> AsyncIterator[RouterGroup]:
    argv = [CAIO, "router", "--processes", "2", "--insecure-no-auth", "--metrics-port", "0"]
    proc = await asyncio.create_subprocess_exec(
        *argv,
        "--nats-url",
        nats_url,
        "--prefix",
        prefix,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "CAIO_LOG_FORMAT": "json"},
        start_new_session=True,  # its own process group: teardown can kill every router
    )
    group = RouterGroup(proc, expected=2)
    reader = asyncio.create_task(group.read())
    try:
        try:
            await asyncio.wait_for(group.started.wait(), 30)
        except TimeoutError:
            pytest.fail(f"two routers did not start:\n{group.log()}")
        yield group
    finally:
        with contextlib.suppress(ProcessLookupError):  # never leave a router behind
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()
        reader.cancel()


async def counted_requests(url: str) -> int:
    async with httpx.AsyncClient() as http:
        text = (await http.get(url)).text
    return sum(int(float(n)) for n in re.findall(r"^caio_requests_total\{.*\} (\S+)$", text, re.M))


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


async def test_two_router_processes_share_the_route_requests(
    two_routers: RouterGroup, nc: NATS, prefix: str
) -> None:
    subject = Subjects(prefix).route("no_such_capability")
    for _ in range(ROUTES):
        reply = orjson.loads((await nc.request(subject, b'{"context": {}}', timeout=10)).data)
        assert reply["error"]["code"] == "no_matching_service", reply

    assert len(two_routers.metrics_urls) == 2, two_routers.log()
    counts = [await counted_requests(url) for url in two_routers.metrics_urls]
    assert sum(counts) == ROUTES
    assert all(count > 0 for count in counts), counts  # both took a share


async def test_a_signal_to_the_command_stops_every_router(two_routers: RouterGroup) -> None:
    two_routers.proc.send_signal(signal.SIGTERM)

    assert await asyncio.wait_for(two_routers.proc.wait(), 30) == 0
    assert all(gone(pid) for pid in two_routers.pids)


async def test_a_router_that_dies_stops_the_others_and_fails_the_command(
    two_routers: RouterGroup,
) -> None:
    killed, other = sorted(two_routers.pids)
    os.kill(killed, signal.SIGKILL)

    assert await asyncio.wait_for(two_routers.proc.wait(), 30) != 0
    assert gone(other)
    assert b"router_process_exited" in b"".join(two_routers.lines)
