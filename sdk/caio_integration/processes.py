"""Stopping a child process, the one way CAIO does it: SIGTERM, wait, then SIGKILL.

SIGTERM first lets the process drain (nats-server flushes JetStream, a
router or worker answers what it holds); a process still running after the
grace period is killed, and always reaped, so no zombie outlives its owner.
"""

from __future__ import annotations

import os
import signal
import subprocess
from typing import Any

__all__ = ["stop_process"]


def stop_process(
    process: subprocess.Popen[Any] | None, timeout_s: float = 10.0, *, group: bool = False
) -> None:
    """Terminate ``process``, wait up to ``timeout_s``, then kill it; one already
    finished (or ``None``) is left as it is. With ``group`` the signals go to its
    whole process group (one started with ``start_new_session``: a server's children
    stop with it)."""
    if process is None or process.poll() is not None:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            if group:
                os.killpg(process.pid, sig)
            else:
                process.send_signal(sig)
        except ProcessLookupError:
            break
        try:
            process.wait(timeout_s)
            return
        except subprocess.TimeoutExpired:
            continue
    process.wait()
