"""Run LiteLLM's proxy as the comparison point for CAIO's Codex worker.

LiteLLM cannot live in the project's venv (its pins fight ours), so it gets a
venv of its own under ~/.cache. The proxy is started as a subprocess with a
generated config that points two deployments of one model name at a local fake
OpenAI server, and is configured to run offline: no database, no telemetry, the
bundled model cost map, and minimal logging, so that what we measure is the
proxy's own per-request cost.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

import yaml

from caio_integration.processes import stop_process

LITELLM_VERSION = "1.106.0"
LITELLM_SPEC = f"litellm[proxy]=={LITELLM_VERSION}"
DEFAULT_VENV = Path.home() / ".cache" / "caio-bench" / "litellm-venv"
MASTER_KEY = "sk-bench-master"
MODEL_NAME = "bench-model"
_MARKER = ".caio-bench-installed"


def _log(msg: str) -> None:
    sys.stderr.write(f"[litellm-venv] {msg}\n")
    sys.stderr.flush()


def ensure_litellm_venv(path: Path | None = None) -> Path:
    """Create (once) a venv with LiteLLM's proxy installed; return its path.

    A marker file holding the install spec makes the already-installed check a
    single file read, so callers can invoke this before every run.
    """
    venv = (path or DEFAULT_VENV).expanduser()
    marker = venv / _MARKER
    litellm_bin = venv / "bin" / "litellm"
    if litellm_bin.exists() and marker.exists() and marker.read_text().strip() == LITELLM_SPEC:
        return venv
    started = time.monotonic()
    if not (venv / "bin" / "python").exists():
        _log(f"creating venv at {venv}")
        venv.parent.mkdir(parents=True, exist_ok=True)
        # From inside a venv, `-m venv` still builds on the base interpreter.
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    _log(f"installing {LITELLM_SPEC} (takes a few minutes the first time)")
    subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", LITELLM_SPEC],
        check=True,
        stdout=sys.stderr,  # keep our stdout free for machine-readable output
    )
    if not litellm_bin.exists():
        raise RuntimeError(f"{LITELLM_SPEC} installed but {litellm_bin} is missing")
    marker.write_text(LITELLM_SPEC + "\n")
    _log(f"ready in {time.monotonic() - started:.0f} s")
    return venv


def free_port() -> int:
    """A port that was free a moment ago (the usual small race is acceptable here)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def proxy_config(
    upstream: str, model_name: str = MODEL_NAME, deployments: int = 2
) -> dict[str, Any]:
    """LiteLLM config: `deployments` copies of one fake deployment behind one model name."""
    params = {
        "model": "openai/fake-ok",
        "api_base": upstream,
        "api_key": "sk-fake",
        # "fake-ok" is not in LiteLLM's price list: without a price every
        # response fails cost calculation (traceback captured) and runs a
        # zero-cost diagnostic that scans the price map, ~15% of its CPU.
        # Real deployments are priced, so price this one too.
        "input_cost_per_token": 1.0e-6,
        "output_cost_per_token": 2.0e-6,
    }
    return {
        # Separate copies: shared objects would be dumped as YAML anchors/aliases.
        "model_list": [
            {"model_name": model_name, "litellm_params": dict(params)} for _ in range(deployments)
        ],
        "router_settings": {"routing_strategy": "simple-shuffle", "num_retries": 0},
        # 1.106 has no `telemetry` setting any more; nothing phones home once the
        # LITELLM_LOCAL_* variables below stop the start-up fetches.
        "litellm_settings": {
            "set_verbose": False,
            "json_logs": False,
            "drop_params": True,
            "request_timeout": 30,
        },
        "general_settings": {
            "master_key": "os.environ/LITELLM_MASTER_KEY",
            "disable_spend_logs": True,  # no DB; also skips the spend-log queue work
            "store_model_in_db": False,
            "background_health_checks": False,
        },
    }


# Offline and quiet: bundled cost map / header tables instead of fetching them
# from GitHub at import (each fetch retries with back-off when there is no
# network), no .env loading, no DB, no admin UI, error-level logs only.
OFFLINE_ENV = {
    "LITELLM_MASTER_KEY": MASTER_KEY,
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS": "True",
    "LITELLM_LOCAL_AUTOROUTER_PRESETS": "True",
    "LITELLM_LOG": "ERROR",
    "PYTHONUNBUFFERED": "1",  # so the log tail in errors is current
    "LITELLM_MODE": "PRODUCTION",
    "LITELLM_DONT_SHOW_FEEDBACK_BOX": "True",
    "DISABLE_ADMIN_UI": "True",
    "NO_DOCS": "True",
    "NO_PROXY": "127.0.0.1,localhost",
    "no_proxy": "127.0.0.1,localhost",
}
# Inherited settings that would make LiteLLM reach for a database, cache or proxy.
_DROP_ENV = frozenset(
    {"DATABASE_URL", "DIRECT_URL", "REDIS_HOST", "REDIS_URL"}
    | {"HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"}
)


class LiteLLMProxy:
    """LiteLLM's proxy in a subprocess, in front of an OpenAI-compatible upstream.

    `upstream` is the upstream's base URL including /v1, e.g. http://127.0.0.1:8123/v1.
    With --num_workers 1 the `litellm` CLI runs uvicorn in its own process (no
    fork), so `pid` is the serving process and can be sampled for RSS.
    """

    def __init__(
        self,
        upstream: str,
        *,
        venv: Path | None = None,
        port: int | None = None,
        deployments: int = 2,
        ready_timeout: float = 120.0,
        stop_timeout: float = 10.0,
    ) -> None:
        self.upstream = upstream
        self.port = port or free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.chat_url = f"{self.base_url}/v1/chat/completions"
        self.auth_header = f"Authorization: Bearer {MASTER_KEY}"
        self._venv = venv
        self._deployments = deployments
        self._ready_timeout = ready_timeout
        self._stop_timeout = stop_timeout
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def pid(self) -> int:
        if self._proc is None:
            raise RuntimeError("LiteLLM proxy is not running")
        return self._proc.pid

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def log_path(self) -> Path:
        if self._tmp is None:
            raise RuntimeError("LiteLLM proxy was never started")
        return Path(self._tmp.name) / "litellm.log"

    def start(self) -> None:
        venv = ensure_litellm_venv(self._venv)
        self._tmp = tempfile.TemporaryDirectory(prefix="caio-litellm-")
        config = Path(self._tmp.name) / "config.yaml"
        config.write_text(
            yaml.safe_dump(
                proxy_config(self.upstream, deployments=self._deployments), sort_keys=False
            )
        )
        env = {k: v for k, v in os.environ.items() if k not in _DROP_ENV}
        env.update(OFFLINE_ENV)
        self._log = self.log_path.open("wb")
        argv = [str(venv / "bin" / "litellm"), "--config", str(config)]
        argv += ["--host", "127.0.0.1", "--port", str(self.port), "--num_workers", "1"]
        # uvicorn's default 5 s keep-alive closes pooled client connections that
        # sat idle (e.g. through a sequential phase); a close racing a new
        # request shows up as a spurious client error. Outlast the client's 60 s.
        argv += ["--keepalive_timeout", "75"]
        self._proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=self._tmp.name,  # keep any files it writes out of the repo
            start_new_session=True,  # its own process group: stop() reaches any children
        )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self) -> None:
        assert self._proc is not None
        url = f"{self.base_url}/health/liveliness"
        deadline = time.monotonic() + self._ready_timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                self._fail(f"exited with code {self._proc.returncode} before becoming ready")
            try:
                with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 (fixed http URL)
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.25)
        self._fail(f"not ready at {url} after {self._ready_timeout:.0f} s")

    def _fail(self, what: str) -> None:
        raise RuntimeError(f"LiteLLM proxy {what}; last log lines:\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except (OSError, RuntimeError):
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """SIGTERM the process group, SIGKILL it if it outlives `stop_timeout`."""
        proc, self._proc = self._proc, None
        stop_process(proc, self._stop_timeout, group=True)
        if self._log is not None:
            self._log.close()
            self._log = None

    def cleanup(self) -> None:
        """stop(), then remove the temp dir holding the config and log."""
        self.stop()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.cleanup()


def main(argv: list[str] | None = None) -> None:
    """Run the proxy until SIGTERM/SIGINT, announcing it like fake_openai does.

    python -m benchmarks.openai_side.litellm_proxy --upstream http://127.0.0.1:PORT/v1
    prints ``READY {"base_url": ..., "chat_url": ..., "pid": ...}`` once it answers.
    """
    parser = argparse.ArgumentParser(description="LiteLLM proxy in front of an upstream.")
    parser.add_argument("--upstream", help="upstream base URL including /v1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--venv", type=Path, default=None, help=f"default {DEFAULT_VENV}")
    parser.add_argument("--setup-only", action="store_true", help="only create the venv")
    args = parser.parse_args(argv)
    if args.setup_only:
        sys.stdout.write(f"{ensure_litellm_venv(args.venv)}\n")
        return
    if not args.upstream:
        parser.error("--upstream is required")

    def _exit(signum: int, frame: object) -> None:
        raise SystemExit(0)  # unwinds through the context manager, which stops LiteLLM

    signal.signal(signal.SIGTERM, _exit)
    signal.signal(signal.SIGINT, _exit)
    with LiteLLMProxy(args.upstream, venv=args.venv, port=args.port or None) as proxy:
        info = {"base_url": proxy.base_url, "chat_url": proxy.chat_url, "pid": proxy.pid}
        sys.stdout.write(f"READY {json.dumps(info)}\n")
        sys.stdout.flush()
        while proxy.alive():
            time.sleep(0.5)
        raise SystemExit(f"LiteLLM proxy exited; last log lines:\n{proxy.log_tail()}")


if __name__ == "__main__":
    main()
