"""Unknown fields in a request: name them, and say what was probably meant.

A misspelled constraint must never be ignored (``data_localty`` would route
with no locality constraint at all), so request models forbid unknown
fields. This module turns pydantic's bare "extra inputs are not permitted"
into ``constraints.data_localty: unknown field; did you mean
'data_locality'?``, looking for the intended name among the fields of the
same object first, then among every field of the request (``max_p95_latency``
under ``constraints`` belongs in ``guarantees``).
"""

from __future__ import annotations

import difflib
import functools
import types
import typing
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel

__all__ = ["field_paths", "suggest", "unknown_field_message"]

Loc = tuple[str | int, ...]


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The model inside ``Model``, ``Model | None`` or ``Annotated[Model, ...]``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType, typing.Annotated):
        for arg in typing.get_args(annotation):
            found = _model_in(arg)
            if found is not None:
                return found
    return None


def _aliases(model: type[BaseModel]) -> Iterator[tuple[str, Any]]:
    for name, info in model.model_fields.items():
        yield (info.alias or name), info.annotation


@functools.cache
def field_paths(model: type[BaseModel]) -> tuple[tuple[str, ...], ...]:
    """Every field path of ``model`` and of its nested models.

    ``("constraints", "data_locality")`` is one of ``RouteRequest``'s.
    """
    paths: list[tuple[str, ...]] = []
    stack: list[tuple[type[BaseModel], tuple[str, ...]]] = [(model, ())]
    while stack:
        current, prefix = stack.pop()
        for name, annotation in _aliases(current):
            path = (*prefix, name)
            paths.append(path)
            nested = _model_in(annotation)
            if nested is not None and len(path) < 4:
                stack.append((nested, path))
    return tuple(sorted(paths))


def _close(name: str, options: list[str]) -> str | None:
    """The option ``name`` most likely meant: a near spelling, or a clear prefix of one."""
    lowered = name.lower()
    match = difflib.get_close_matches(lowered, options, n=1, cutoff=0.75)
    if match:
        return match[0]
    # "hipaa" for "hipaa_compliant", "max_p95_latency" for "max_p95_latency_ms"
    prefixed = [o for o in options if len(lowered) >= 4 and o.startswith(lowered)]
    if len(prefixed) == 1:
        return prefixed[0]
    match = difflib.get_close_matches(lowered, options, n=1, cutoff=0.6)
    return match[0] if match else None


def suggest(model: type[BaseModel], loc: Loc) -> str | None:
    """The field probably meant by the unknown one at ``loc``, or None."""
    name = str(loc[-1])
    parent = tuple(str(part) for part in loc[:-1])
    paths = field_paths(model)
    siblings = [p[-1] for p in paths if p[:-1] == parent]
    guess = _close(name, siblings)
    if guess is not None:
        return guess
    # Not a near sibling: maybe it belongs elsewhere in the request.
    by_leaf = {p[-1]: p for p in paths if p[:-1] != parent}
    guess = _close(name, sorted(by_leaf))
    return ".".join(by_leaf[guess]) if guess is not None else None


def unknown_field_message(model: type[BaseModel], loc: Loc) -> str:
    """``path: unknown field; did you mean 'x'?`` for an unknown field at ``loc``."""
    path = ".".join(str(part) for part in loc)
    guess = suggest(model, loc)
    hint = f"; did you mean {guess!r}?" if guess else ""
    return f"{path}: unknown field{hint}"
