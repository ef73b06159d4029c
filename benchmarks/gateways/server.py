"""A server process that is not one of our roles: started, probed until it answers, stopped.

The gateways under test (Node's Portkey, TensorZero's embedded gateway,
CAIO's gateway and HTTP bridge) print no ``READY`` line, so readiness is a
probe: a function polled every 0.1 s until it says yes, while the process
is checked for an early exit. Output goes to a log file whose tail is in
every error. Each server runs in its own process group, so stopping it
(SIGTERM, then SIGKILL) reaches anything it started.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any, Self

from caio_integration.processes import stop_process

__all__ = ["ServerProcess", "free_port", "http_answers"]

Probe = Callable[[], bool]


def free_port() -> int:
    """A port that was free a moment ago (the usual small race is acceptable here)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http_answers(
    url: str,
    *,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    expect: bytes = b"",
) -> Probe:
    """A probe: a GET (or a POST of ``body``) to ``url`` answers 200 with ``expect`` in it."""

    def probe() -> bool:
        request = urllib.request.Request(url, data=body, headers=dict(headers or {}))  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=5) as resp:  # noqa: S310 (local http)
                return resp.status == 200 and expect in resp.read()
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False

    return probe


class ServerProcess:
    """``argv`` as a subprocess; ``with`` starts it and waits until ``probe`` says yes."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        *,
        probe: Probe | None = None,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        ready_timeout_s: float = 60.0,
    ) -> None:
        self.name = name
        self._argv = argv
        self._probe = probe
        self._env = dict(env) if env is not None else dict(os.environ)
        self._cwd = cwd
        self._ready_timeout_s = ready_timeout_s
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def pid(self) -> int:
        if self._proc is None:
            raise RuntimeError(f"{self.name} is not running")
        return self._proc.pid

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> Self:
        self._tmp = tempfile.TemporaryDirectory(prefix=f"caio-bench-{self.name}-")
        self._log = (Path(self._tmp.name) / "server.log").open("wb")
        self._proc = subprocess.Popen(
            self._argv,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=self._env,
            cwd=self._cwd or self._tmp.name,  # files it writes stay out of the repo
            start_new_session=True,
        )
        try:
            self.wait_until(self._probe, self._ready_timeout_s)
        except BaseException:
            self.stop()
            raise
        return self

    def wait_until(self, probe: Probe | None, timeout_s: float) -> None:
        """Poll ``probe`` until it says yes; fail when the process exits or time runs out."""
        deadline = time.monotonic() + timeout_s
        while True:
            if not self.alive():
                code = self._proc.returncode if self._proc is not None else None
                raise RuntimeError(f"{self.name} exited ({code}):\n{self.log_tail()}")
            if probe is None or probe():
                return
            if time.monotonic() > deadline:
                tail = self.log_tail()
                raise RuntimeError(f"{self.name} not ready after {timeout_s:.0f} s:\n{tail}")
            time.sleep(0.1)

    def log_tail(self, lines: int = 30) -> str:
        if self._tmp is None:
            return "(no log)"
        text = (Path(self._tmp.name) / "server.log").read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def ready_info(self) -> dict[str, Any] | None:
        """The JSON of the first ``READY {...}`` line the server printed, if any yet."""
        if self._tmp is None:
            return None
        for line in (Path(self._tmp.name) / "server.log").read_text(errors="replace").splitlines():
            if line.startswith("READY "):
                info: dict[str, Any] = json.loads(line[len("READY ") :])
                return info
        return None

    def stop(self, timeout_s: float = 10.0) -> None:
        proc, self._proc = self._proc, None
        stop_process(proc, timeout_s, group=True)
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
