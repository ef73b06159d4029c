"""Stopping a child process, the one way CAIO does it: SIGTERM, wait, then SIGKILL.

SIGTERM first lets the process drain (nats-server flushes JetStream, a
router or worker answers what it holds); a process still running after the
grace period is killed, and always reaped, so no zombie outlives its owner.
"""

from __future__ import annotations

import subprocess
from typing import Any

__all__ = ["stop_process"]


def stop_process(process: subprocess.Popen[Any] | None, timeout_s: float = 10.0) -> None:
    """Terminate ``process``, wait up to ``timeout_s``, then kill it; one already
    finished (or ``None``) is left as it is."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
