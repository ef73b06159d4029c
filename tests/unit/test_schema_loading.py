"""The schema file is found, valid Draft 2020-12, compiled once, and usable on its own."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
import yaml
from jsonschema import Draft202012Validator

import caio_integration._datafiles as sdk_data
from caio_integration.contracts import contract_schema, schema_path
from caio_integration.contracts._resources import contract_validator
from caio_integration.contracts.model import _UNIT_PRICE

REPO = Path(__file__).resolve().parents[2]


def test_in_a_checkout_the_schema_is_read_from_the_top_level_schemas_dir() -> None:
    assert schema_path() == REPO / "schemas" / "service_contract.schema.json"


def test_in_a_wheel_the_schema_is_read_from_the_sdks_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wheel_copy = (
        tmp_path / "caio_integration" / "_data" / "schemas" / "service_contract.schema.json"
    )
    wheel_copy.parent.mkdir(parents=True)
    wheel_copy.write_bytes(schema_path().read_bytes())
    monkeypatch.setattr(sdk_data, "_REPO_ROOT", tmp_path / "site-packages")
    monkeypatch.setattr(sdk_data, "_WHEEL_DATA", tmp_path / "caio_integration" / "_data")
    assert schema_path() == wheel_copy


def test_a_missing_schema_says_where_it_looked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sdk_data, "_REPO_ROOT", tmp_path / "a")
    monkeypatch.setattr(sdk_data, "_WHEEL_DATA", tmp_path / "b")
    with pytest.raises(FileNotFoundError, match="looked in"):
        schema_path()


def test_the_schema_is_valid_draft_2020_12_json() -> None:
    schema = orjson.loads(schema_path().read_bytes())
    Draft202012Validator.check_schema(schema)
    assert schema == contract_schema()


def test_the_validator_is_compiled_once() -> None:
    assert contract_validator() is contract_validator()
    assert contract_schema() is contract_schema()


@pytest.mark.parametrize("path", sorted((REPO / "contracts").rglob("*.yaml")), ids=lambda p: p.name)
def test_a_plain_2020_12_validator_accepts_the_shipped_contracts(path: Path) -> None:
    # Other languages use the schema file with their own validator, without our extensions.
    plain = Draft202012Validator(contract_schema())
    assert list(plain.iter_errors(yaml.safe_load(path.read_text()))) == []


def test_a_plain_2020_12_validator_rejects_an_unsafe_id_and_an_unknown_key() -> None:
    plain = Draft202012Validator(contract_schema())
    base = {"service_id": "ok", "name": "n", "version": "1", "capabilities": ["ok"]}
    assert plain.is_valid(base)
    assert not plain.is_valid({**base, "service_id": "a.b"})
    assert not plain.is_valid({**base, "owner": "me"})


def test_our_validator_treats_integers_and_end_anchors_strictly() -> None:
    base = {"service_id": "ok", "name": "n", "version": "1", "capabilities": ["ok"]}
    validator = contract_validator()
    assert not validator.is_valid({**base, "service_id": "ok\n"})
    assert not validator.is_valid({**base, "constraints": {"max_tokens": 4096.0}})
    assert validator.is_valid({**base, "constraints": {"max_tokens": 4096}})


def test_the_unit_price_pattern_is_the_same_in_schema_and_model() -> None:
    defs = contract_schema()["$defs"]
    for part in ("cost", "flat_cost"):
        [pattern] = defs[part]["patternProperties"]
        assert pattern == f"^{_UNIT_PRICE.pattern}$"
