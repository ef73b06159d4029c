"""TensorZero's gateway, embedded, serving HTTP: run with the TensorZero venv's python.

    ~/.cache/caio-bench/tensorzero/bin/python benchmarks/gateways/tensorzero_serve.py \
        --config tensorzero.toml

The ``tensorzero`` wheel holds TensorZero's Rust gateway as an extension
module; ``_start_http_gateway`` (what ``tensorzero.patch_openai_client``
calls) starts it on its own Tokio runtime, listening on a free local port,
with the gateway's full HTTP API, the OpenAI-compatible
``/openai/v1/chat/completions`` included. This process then only waits:
all the serving happens on the gateway's threads, and the process's CPU time
is the gateway's.

It prints ``READY {"base_url": ...}`` once the gateway answers and stops on
SIGTERM/SIGINT. Standard library only, plus ``tensorzero``: it runs outside
the project's venv.
"""

from __future__ import annotations

import argparse
import importlib
import json
import signal
import sys
import threading


def main() -> None:
    parser = argparse.ArgumentParser(description="TensorZero's embedded gateway over HTTP.")
    parser.add_argument("--config", required=True, help="tensorzero.toml")
    args = parser.parse_args()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, frame: stop.set())
    native = importlib.import_module("tensorzero.tensorzero")
    gateway = native._start_http_gateway(
        config_file=args.config,
        clickhouse_url=None,
        postgres_url=None,
        valkey_url=None,
        async_setup=False,
    )
    sys.stdout.write("READY " + json.dumps({"base_url": gateway.base_url}) + "\n")
    sys.stdout.flush()
    stop.wait()
    gateway.close()


if __name__ == "__main__":
    main()
