"""Local code review: ``code_review`` with no network and no key, backed by ruff.

A useful stand-in for an AI reviewer wherever one is not allowed or not
configured (on-prem, tests, demos): deterministic, fast and free. ruff runs as
a subprocess with ``--isolated`` so no config file on the worker's machine
changes the verdict, and ``--no-cache`` so nothing else is written.

The code goes to ruff as a file in a private temporary directory, not on
stdin: with uvloop (the CLI's event loop) writing a subprocess's stdin can
fail with "WriteUnixTransport closed" (MagicStack/uvloop#506), which made a
review fail now and then. Reading ruff's output is unaffected.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import tempfile
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from ruff.__main__ import find_ruff_bin  # type: ignore[import-untyped]

from caio_integration.bridge import BridgeWorker, WorkerConfig, WorkResult
from caio_integration.contracts.model import ServiceContract
from caio_integration.errors import InvalidRequest, ServiceError, ServiceUnavailable, Timeout
from caio_integration.wire import ServiceRequest

__all__ = ["DEFAULT_IGNORE", "DEFAULT_SELECT", "LocalReviewSettings", "LocalReviewWorker"]

# Correctness (F, B), style that hides bugs (E, W), security (S), modern
# syntax (UP) and simplifications (SIM).
DEFAULT_SELECT: tuple[str, ...] = ("E", "F", "W", "B", "S", "UP", "SIM")
# assert in a snippet is normal, not a finding.
DEFAULT_IGNORE: tuple[str, ...] = ("S101",)

_RULE = re.compile(r"^[A-Z]{1,4}[0-9]{0,4}$")
# A base name only: it names the file in the worker's private temporary
# directory, and tells ruff what kind of file it is (.pyi stubs follow other rules).
_FILENAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}\.pyi?$")
_DEFAULT_FILENAME = "snippet.py"
_STDERR_CHARS = 500
# `ruff --version` at start: generous, a cold disk or a busy machine is not a fault.
_STARTUP_TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True)
class LocalReviewSettings:
    """What ruff checks and how long it may take."""

    select: tuple[str, ...] = DEFAULT_SELECT
    ignore: tuple[str, ...] = DEFAULT_IGNORE
    timeout_s: float = 10.0
    max_code_bytes: int = 256 * 1024

    def __post_init__(self) -> None:
        for rule in (*self.select, *self.ignore):
            if not _RULE.fullmatch(rule):
                raise ValueError(f"{rule!r} is not a ruff rule code or prefix")
        if not self.select:
            raise ValueError("select at least one rule prefix")
        if self.timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        if self.max_code_bytes <= 0:
            raise ValueError("max_code_bytes must be positive")


class LocalReviewWorker(BridgeWorker):
    """``code_review`` of Python code by ruff; findings sorted by position, then code."""

    implemented_capabilities: ClassVar[frozenset[str]] = frozenset({"code_review"})
    #: What `caio worker` serves without --contract: a file in CAIO's contracts/.
    default_contract: ClassVar[str] = "local-review.yaml"

    def __init__(
        self,
        contract: ServiceContract,
        config: WorkerConfig,
        settings: LocalReviewSettings | None = None,
    ) -> None:
        super().__init__(contract, config)
        self.settings = settings or LocalReviewSettings()
        self._ruff: str = os.fspath(find_ruff_bin())
        self._analyzer = "ruff"

    async def setup(self) -> None:
        # Fail at start, not on the first request, if ruff cannot run here.
        returncode, stdout, stderr = await self._run_ruff(["--version"], _STARTUP_TIMEOUT_S)
        if returncode != 0:
            raise RuntimeError(f"ruff does not run: {stderr.decode(errors='replace')[:200]}")
        self._analyzer = stdout.decode().strip() or "ruff"  # "ruff 0.6.9"

    async def handle(self, capability: str, request: ServiceRequest) -> WorkResult:
        code, filename = self._parse_context(request.context)
        findings = await self._check(code, filename)
        by_code = Counter(finding["code"] for finding in findings)
        return WorkResult(
            {
                "findings": findings,
                "summary": {"count": len(findings), "by_code": dict(sorted(by_code.items()))},
                "analyzer": self._analyzer,
                "language": "python",
            },
            {"lines": code.count("\n") + 1, "bytes": len(code.encode())},
        )

    def _parse_context(self, context: Mapping[str, Any]) -> tuple[str, str]:
        language = context.get("language", "python")
        if not isinstance(language, str) or language.strip().lower() != "python":
            raise InvalidRequest(
                "local-review supports python only", details={"language": language}
            )
        code = context.get("code")
        if not isinstance(code, str) or not code.strip():
            raise InvalidRequest(
                "context.code is required: a non-empty string", details={"field": "code"}
            )
        size = len(code.encode())
        if size > self.settings.max_code_bytes:
            raise InvalidRequest(
                f"context.code is {size} bytes; the limit is {self.settings.max_code_bytes}",
                details={"field": "code", "size": size, "limit": self.settings.max_code_bytes},
            )
        filename = context.get("filename") or _DEFAULT_FILENAME
        if not isinstance(filename, str) or not _FILENAME.fullmatch(filename):
            raise InvalidRequest(
                "context.filename must be a plain file name ending in .py or .pyi",
                details={"field": "filename"},
            )
        return code, filename

    async def _check(self, code: str, filename: str) -> list[dict[str, Any]]:
        args = [
            "check",
            "--isolated",
            "--no-cache",
            "--exit-zero",  # findings are the answer, not a failure: exit 0 or 2 (error)
            "--output-format",
            "json",
            "--select",
            ",".join(self.settings.select),
        ]
        if self.settings.ignore:
            args += ["--ignore", ",".join(self.settings.ignore)]
        with tempfile.TemporaryDirectory(prefix="caio-review-") as workdir:
            path = Path(workdir) / filename
            path.write_bytes(code.encode())
            returncode, stdout, stderr = await self._run_ruff(
                [*args, str(path)], self.settings.timeout_s
            )
        if returncode != 0:
            raise ServiceError(
                "the analyzer failed",
                details={
                    "reason": "analyzer_failed",
                    "exit_code": returncode,
                    "stderr": stderr.decode(errors="replace")[-_STDERR_CHARS:],
                },
            )
        return _findings(stdout)

    async def _run_ruff(self, args: Sequence[str], timeout_s: float) -> tuple[int, bytes, bytes]:
        try:
            process = await asyncio.create_subprocess_exec(
                self._ruff,
                *args,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        except OSError as exc:
            raise ServiceUnavailable(
                f"the analyzer could not start: {exc.strerror or exc}",
                details={"reason": "analyzer_unavailable"},
            ) from None
        try:
            async with asyncio.timeout(timeout_s):
                stdout, stderr = await process.communicate()
        except BaseException as exc:
            # Timed out, or the request was cancelled (deadline, shutdown):
            # never leave a ruff process behind.
            await _kill(process)
            if isinstance(exc, TimeoutError):
                raise Timeout(
                    f"the analyzer took longer than {timeout_s} s",
                    details={"reason": "analyzer_timeout"},
                ) from None
            raise
        return process.returncode or 0, stdout, stderr


async def _kill(process: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        process.kill()
    # Reap it so no zombie (or "Event loop is closed" warning) is left.
    with contextlib.suppress(Exception):
        await asyncio.shield(process.wait())


def _findings(stdout: bytes) -> list[dict[str, Any]]:
    try:
        # The standard library's: this worker installs without orjson (ruff's small
        # report is not where a review spends its time).
        raw = json.loads(stdout)
    except ValueError:  # not JSON, or not UTF-8
        raw = None
    if not isinstance(raw, list):
        raise ServiceError(
            "the analyzer's output was not understood", details={"reason": "analyzer_failed"}
        )
    findings = [_finding(item) for item in raw if isinstance(item, dict)]
    findings.sort(key=lambda f: (f["line"], f["column"], f["code"]))
    return findings


def _finding(item: Mapping[str, Any]) -> dict[str, Any]:
    start = item.get("location") or {}
    end = item.get("end_location") or start
    return {
        "line": int(start.get("row", 0)),
        "column": int(start.get("column", 0)),
        "end_line": int(end.get("row", 0)),
        "end_column": int(end.get("column", 0)),
        # ruff reports syntax errors with code null (older) or "invalid-syntax".
        "code": str(item.get("code") or "invalid-syntax"),
        "message": str(item.get("message", "")),
        "fixable": item.get("fix") is not None,
    }
