"""The embedded nats-server: started on a free port, stopped for good, and a taken port named."""

from __future__ import annotations

import os
import select
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from caio_integration.natsserver import NatsServer, NatsServerConfig, NatsServerPortInUse


def test_a_server_started_on_a_free_port_answers_and_is_gone_after_stop(tmp_path: Path) -> None:
    server = NatsServer(NatsServerConfig(store_dir=tmp_path)).start()
    try:
        assert server.running
        host, port = server.url.removeprefix("nats://").rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=5) as conn:
            assert conn.recv(4).startswith(b"INFO")
    finally:
        server.stop()
    assert not server.running


def test_a_port_already_taken_is_reported_as_such(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = NatsServerConfig(store_dir=tmp_path, port=port, ready_timeout_s=5)
        with pytest.raises(NatsServerPortInUse, match="address already in use"):
            NatsServer(config).start()


STARTER = """
import sys
from pathlib import Path
from caio_integration.natsserver import NatsServer, NatsServerConfig
server = NatsServer(NatsServerConfig(store_dir=Path(sys.argv[1]))).start()
print(server.pid, flush=True)
sys.stdin.read()  # until killed
"""


@pytest.mark.skipif(sys.platform != "linux", reason="the parent-death signal is Linux's")
def test_a_server_stops_when_the_process_that_started_it_is_killed(tmp_path: Path) -> None:
    starter = subprocess.Popen(
        [sys.executable, "-c", STARTER, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert starter.stdout is not None
        server_pid = int(starter.stdout.readline())
        exited = os.pidfd_open(server_pid)  # readable once the server has exited
        try:
            starter.kill()  # SIGKILL: no chance to stop its server itself
            starter.wait()
            readable, _, _ = select.select([exited], [], [], 30)
        finally:
            os.close(exited)
        assert readable, f"nats-server {server_pid} outlived the process that started it"
    finally:
        starter.kill()
        starter.wait()
