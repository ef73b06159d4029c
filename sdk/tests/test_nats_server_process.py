"""The embedded nats-server: started on a free port, stopped for good, and a taken port named."""

from __future__ import annotations

import socket
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
