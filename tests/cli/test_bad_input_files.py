"""Missing or unreadable files, bad JSON and bad YAML: one line that says so, exit 1.

No command prints a traceback for a user's mistake. None of these needs a
server: each is caught before the command connects (port 1 has none).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.conftest import Ran, caio_now

NOWHERE = ("--nats-url", "nats://127.0.0.1:1")


def one_line_error(ran: Ran) -> str:
    assert ran.code == 1, ran.text
    assert "Traceback" not in ran.text
    lines = ran.err.strip().splitlines()
    assert len(lines) == 1, ran.err
    assert lines[0].startswith("error: ")
    return lines[0]


@pytest.fixture(autouse=True)
def files() -> None:
    """Files to point at, in the test's own directory."""
    Path("bad.json").write_text('{"code": ')
    Path("list.json").write_text("[1, 2]")
    Path("bad.yaml").write_text("service: [unclosed\n")
    Path("latin1.yaml").write_bytes("name: caf\xe9\n".encode("latin-1"))
    Path("a-directory").mkdir()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["route", "x", "--context", "@missing.json"], "--context: cannot read missing.json"),
        (["route", "x", "--context", "@a-directory"], "--context: cannot read a-directory"),
        (["route", "x", "--context", "@bad.json"], "--context (bad.json) is not valid JSON"),
        (["route", "x", "--context", "@list.json"], "must be a JSON object"),
        (["route", "x", "--context", "{nope"], "--context is not valid JSON"),
        (["route", "x", "--constraints", "@missing.json"], "--constraints: cannot read"),
        (["route", "x", "--guarantees", "@missing.json"], "--guarantees: cannot read"),
        (["jobs", "submit", "x", "--context", "@missing.json"], "--context: cannot read"),
        (["jobs", "submit", "x", "--constraints", "@bad.json"], "is not valid JSON"),
    ],
)
def test_a_json_option_that_cannot_be_used_is_one_line(args: list[str], expected: str) -> None:
    line = one_line_error(caio_now(*args, *NOWHERE))

    assert expected in line


def test_register_names_the_file_it_cannot_read_and_registers_nothing() -> None:
    line = one_line_error(caio_now("register", "missing.yaml", *NOWHERE))

    assert "cannot read missing.yaml" in line
    assert "No such file" in line


def test_register_refuses_a_file_that_is_not_utf8() -> None:
    line = one_line_error(caio_now("register", "latin1.yaml", *NOWHERE))

    assert "latin1.yaml is not UTF-8" in line


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("missing.yaml", "cannot read missing.yaml: No such file"),
        ("a-directory", "cannot read a-directory"),
        ("bad.yaml", "(yaml): line 2"),
    ],
)
def test_validate_reports_each_unusable_file_on_one_line(name: str, expected: str) -> None:
    ran = caio_now("validate", name)

    assert ran.code == 1
    assert "Traceback" not in ran.text
    lines = ran.out.strip().splitlines()
    assert len(lines) == 1, ran.out
    assert lines[0].startswith(f"✗ {name}: ")
    assert expected in lines[0]


def test_validate_still_checks_the_other_files() -> None:
    contract = Path(__file__).parents[2] / "contracts" / "local-review.yaml"

    ran = caio_now("validate", "missing.yaml", str(contract))

    assert ran.code == 1
    assert "✗ missing.yaml" in ran.out
    # The line may wrap at 80 columns, depending on how long the checkout's path is.
    assert "valid contract for local-review" in " ".join(ran.out.split())


@pytest.mark.parametrize(
    ("contract", "expected"),
    [
        ("missing.yaml", "--contract: cannot read missing.yaml: No such file"),
        ("bad.yaml", "(yaml): line 2"),
    ],
)
def test_a_worker_contract_that_cannot_be_used_is_one_line(contract: str, expected: str) -> None:
    line = one_line_error(caio_now("worker", "local-review", "--contract", contract, *NOWHERE))

    assert expected in line


def test_up_refuses_a_contracts_directory_that_does_not_exist() -> None:
    line = one_line_error(caio_now("up", "--contracts", "missing-dir", "--port", "-1"))

    assert "--contracts: missing-dir is not a directory" in line
    assert not Path(".caio").exists()


def test_bridge_http_names_a_missing_contract_and_connects_nowhere() -> None:
    line = one_line_error(caio_now("bridge", "http", "missing.yaml", *NOWHERE))

    assert "CONTRACT: cannot read missing.yaml" in line


def test_bridge_http_refuses_a_contract_without_an_http_api_before_connecting() -> None:
    Path("no-api.yaml").write_text(
        "service:\n  id: no-api\n  name: No api\n  version: 1.0.0\n"
        "  capabilities:\n    - type: code_review\n"
    )

    ran = caio_now("bridge", "http", "no-api.yaml", *NOWHERE)

    assert ran.code == 1, ran.text
    assert "Traceback" not in ran.text
    assert ran.err.startswith("error: ")
    assert "api" in ran.err
