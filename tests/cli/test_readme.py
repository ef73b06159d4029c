"""The README's tour and Python snippet run as written, against a real CAIO.

The tour runs against `caio up` (its own nats-server on a free port, in this
test's directory, with the checkout's contracts beside it as a reader of the
README would have them), one line at a time in bash, the way a reader
pastes it. The Python snippet runs as the script the README says to save.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from nats.aio.client import Client as NATS

from caio_broker.router import Router
from caio_integration.natsserver import NatsServer
from caio_integration.subjects import Subjects
from tests.cli.conftest import CAIO, REPO
from tests.integration.conftest import FakeService, contract
from tests.security.conftest import ask

README = (REPO / "README.md").read_text(encoding="utf-8")


def code_blocks(language: str, after: str) -> list[str]:
    """The ``language`` fenced blocks of the README after the heading ``after``."""
    section = README[README.index(after) :]
    section = section[: section.find("\n## ", 1)] if "\n## " in section[1:] else section
    return re.findall(rf"```{language}\n(.*?)```", section, flags=re.DOTALL)


def python_snippet() -> str:
    [snippet] = code_blocks("python", "## A tour")
    return snippet


def tour_lines() -> list[str]:
    """Every command of the tour's bash blocks that ends by itself."""
    lines = []
    for block in code_blocks("bash", "## A tour"):
        for line in block.splitlines():
            if not line.startswith("caio ") and not line.startswith(("printf ", "cp ")):
                continue  # the plain-NATS block needs the nats CLI, not installed here
            if "--follow" in line or line.startswith("caio worker "):
                continue  # they run until Ctrl-C (test_custom_worker runs a worker)
            lines.append(line)
    return lines


def test_the_tour_is_what_this_test_runs() -> None:
    lines = tour_lines()

    assert lines[0].startswith("caio services")
    assert any("@snippet.json" in line for line in lines)
    assert any(line.startswith("caio keys revoke") for line in lines)
    # Each file a command reads is made by an earlier line of the tour, or ships.
    made = " ".join(lines[: next(i for i, x in enumerate(lines) if "@snippet.json" in x)])
    assert "> snippet.json" in made


@pytest.fixture
async def caio_up(tmp_path: Path) -> AsyncIterator[str]:
    """`caio up` in this test's directory; yields its NATS URL, stops it with Ctrl-C."""
    (tmp_path / "contracts").symlink_to(REPO / "contracts")
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"} | {"COLUMNS": "200"}
    up = await asyncio.create_subprocess_exec(
        CAIO,
        "up",
        "--port",
        "-1",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=env,
    )
    assert up.stdout is not None
    seen: list[str] = []
    try:
        async with asyncio.timeout(60):
            while not any("CAIO is running" in line for line in seen):
                line = (await up.stdout.readline()).decode()
                assert line, "caio up exited early:\n" + "".join(seen)
                seen.append(line)
        [url] = re.findall(r"NATS listening on (nats://\S+)", "".join(seen))
        yield url
        up.send_signal(signal.SIGINT)
        await asyncio.wait_for(up.communicate(), 30)
    finally:
        if up.returncode is None:
            up.kill()
            await up.wait()


async def test_every_command_of_the_tour_works_as_written(caio_up: str) -> None:
    env = os.environ | {
        "CAIO_NATS_URL": caio_up,
        "PATH": f"{Path(CAIO).parent}{os.pathsep}{os.environ['PATH']}",
        "COLUMNS": "100",
    }
    failed = []
    outputs = {}
    for line in tour_lines():
        process = await asyncio.create_subprocess_exec(
            "bash",
            "-c",
            line,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            stdin=asyncio.subprocess.DEVNULL,
            env=env,
        )
        out, _ = await process.communicate()
        outputs[line] = out.decode()
        if process.returncode != 0:
            failed.append(f"$ {line}\n{out.decode()}")

    assert failed == []
    snippet_review = next(out for line, out in outputs.items() if "@snippet.json" in line)
    assert "local-review" in snippet_review
    assert "F821" in snippet_review  # print(undefined_name): the file's code was reviewed
    dry_run = next(out for line, out in outputs.items() if "--dry-run" in line)
    assert "left out" in dry_run
    assert "codex-bridge-001" in dry_run


@pytest.fixture
def prefix() -> str:
    """The snippet uses the default prefix: it gets a nats-server of its own."""
    return "caio"


@pytest.fixture
def nats_url(nats_server_factory: Callable[..., NatsServer]) -> str:
    return nats_server_factory().url


def save_the_snippet_beside_an_admin_key(admin: str, nats_url: str) -> None:
    """The reader's directory: `caio up`'s key file, and the snippet saved as review.py."""
    Path(".caio").mkdir()
    Path(".caio/admin.key").write_text(admin + "\n")
    # The only change: the test's server instead of the default port.
    Path("review.py").write_text(python_snippet().replace("nats://127.0.0.1:4222", nats_url))


async def test_the_python_snippet_runs_as_a_script(
    nats_url: str, secure_router: Router, admin: str, nc: NATS, subjects: Subjects
) -> None:
    registered = await ask(
        nc,
        subjects.registry("register"),
        {"contract": contract("reviewer-on-prem", locality="on_prem")},
        admin,
    )
    assert registered["status"] == "registered", registered
    service = await FakeService(nc, subjects, "reviewer-on-prem", ["code_review"]).start()
    await service.beat()
    assert await secure_router.liveness.wait_available("reviewer-on-prem", timeout_s=5)
    save_the_snippet_beside_an_admin_key(admin, nats_url)

    script = await asyncio.create_subprocess_exec(
        sys.executable,
        "review.py",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await script.communicate()

    assert script.returncode == 0, err.decode()
    assert out.decode().startswith("reviewer-on-prem {")
    assert "'served_by': 'reviewer-on-prem'" in out.decode()
    assert service.received[0]["context"] == {"code": "import os\n"}
