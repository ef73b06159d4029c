"""Contract files on the author's disk: capability schemas named by path.

In a contract file a capability may name its JSON Schemas by a path relative
to the file (``output_schema: schemas/codex/code_review.output.json``). The
router never sees the author's disk, so before a contract leaves the machine
each path is replaced by the file's content. ``caio register``, ``caio up``,
the workers and ``CAIOClient.register_service(Path(...))`` all go through
``contract_body``; ``caio_integration.contracts.load_contract_file`` uses the same
``inline_schema_files``.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from caio_integration._json import JSONDecodeError, loads
from caio_integration.errors import InvalidContract

__all__ = ["SCHEMA_KEYS", "contract_body", "inline_schema_files"]

SCHEMA_KEYS = ("input_schema", "output_schema")


def _where(index: int, key: str) -> str:
    return f"$.service.capabilities[{index}].{key}"


def _capabilities(document: object) -> list[Any]:
    """The nested dialect's capability list (flat contracts name no schemas)."""
    if not isinstance(document, dict):
        return []
    service = document.get("service")
    capabilities = service.get("capabilities") if isinstance(service, dict) else None
    return capabilities if isinstance(capabilities, list) else []


def inline_schema_files(document: object, base_dir: Path) -> tuple[object, list[str]]:
    """A copy of ``document`` with schema paths replaced by the files' JSON, and errors."""
    document = copy.deepcopy(document)
    errors: list[str] = []
    for index, entry in enumerate(_capabilities(document)):
        if not isinstance(entry, dict):
            continue
        for key in SCHEMA_KEYS:
            ref = entry.get(key)
            if not isinstance(ref, str) or not ref:
                continue
            path = base_dir / ref
            try:
                entry[key] = loads(path.read_bytes())
            except FileNotFoundError:
                errors.append(f"{_where(index, key)}: no such schema file: {path}")
            except OSError as exc:
                errors.append(f"{_where(index, key)}: cannot read {path}: {exc.strerror}")
            except JSONDecodeError as exc:
                errors.append(f"{_where(index, key)}: {path} is not JSON: {exc}")
    return document, errors


def _names_schema_files(document: object) -> bool:
    return any(
        isinstance(entry, dict) and any(isinstance(entry.get(k), str) for k in SCHEMA_KEYS)
        for entry in _capabilities(document)
    )


def contract_body(path: Path) -> dict[str, Any]:
    """The ``register``/``validate`` body for a contract file.

    A file that names schema files is sent as a JSON object with the schemas
    read in; any other is sent as its YAML text, so the router's errors cite
    its lines. A schema file that is missing or not JSON is an
    ``InvalidContract`` here, before anything is sent.
    """
    text = path.read_text(encoding="utf-8")
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError:
        return {"contract_yaml": text}  # the router explains the syntax error, with its line
    if not _names_schema_files(document):
        return {"contract_yaml": text}
    inlined, errors = inline_schema_files(document, path.parent)
    if errors:
        raise InvalidContract(
            f"{path}: " + "; ".join(errors[:3]), details={"errors": errors, "file": str(path)}
        )
    return {"contract": inlined}
