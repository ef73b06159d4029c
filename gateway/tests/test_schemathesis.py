"""schemathesis, run against the live gateway's own OpenAPI document, finds no server error.

Requests it makes up are sent with an admin key, so they get past the
router's key check into the registry, routing and audit code. A 503
(no service can serve a made-up capability) or 504 is CAIO answering, not
failing: only those two 5xx statuses are expected, and only with CAIO's
codes for them (checked by the status mapping's own tests).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from conftest import Keys, Services

CONFIG = """
[checks.not_a_server_error]
expected-statuses = ["2XX", "3XX", "4XX", "503", "504"]
"""


async def test_schemathesis_finds_no_server_error(
    gateway: str, keys: Keys, services: Services, tmp_path: Path
) -> None:
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    command = [
        sys.executable, "-m", "schemathesis.cli",
        "--config-file", str(config),
        "run", f"{gateway}/openapi.json",
        "--checks", "not_a_server_error",
        "--max-examples", "8",
        "--max-time", "30",
        "--seed", "1",
        "--generation-database", "none",
        "--request-timeout", "20",
        "--header", f"Authorization: Bearer {keys.admin}",
        "--report-dir", str(tmp_path / "report"),
        "--no-color",
    ]  # fmt: skip
    # A subprocess: schemathesis' client blocks, and the gateway serves on this loop.
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    output, _ = await process.communicate()

    assert process.returncode == 0, output.decode()[-6000:]
