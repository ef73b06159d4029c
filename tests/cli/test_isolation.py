"""The suite does not depend on where it runs: a `caio up` in the checkout changes nothing."""

from __future__ import annotations

import os
from pathlib import Path

from tests.cli.conftest import REPO, caio_now


def test_each_test_runs_in_an_empty_directory_of_its_own(tmp_path: Path) -> None:
    assert Path.cwd() == tmp_path
    assert Path.cwd() != REPO
    assert not (Path.cwd() / ".caio").exists()


def test_no_caller_key_or_server_comes_from_the_environment() -> None:
    leaked = [n for n in os.environ if n.startswith("CAIO_") and not n.startswith("CAIO_TEST_")]

    assert leaked == []


def test_a_cli_call_sends_no_key_unless_the_test_gives_one() -> None:
    # Nothing listens on port 1: the command fails on connecting, and says which
    # key it would have sent only if it found one (it must not find one).
    ran = caio_now("services", "--nats-url", "nats://127.0.0.1:1")

    assert ran.code == 1
    assert "cannot reach NATS" in ran.err
    assert not Path(".caio").exists()
