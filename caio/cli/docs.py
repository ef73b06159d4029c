"""``caio asyncapi``: write the AsyncAPI document of the CAIO wire protocol."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from caio.cli._common import PrefixOption, fail

__all__ = ["register_commands"]


class SpecFormat(StrEnum):
    yaml = "yaml"
    json = "json"


def asyncapi(
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="Write the document here instead of printing it.", dir_okay=False
        ),
    ] = None,
    fmt: Annotated[SpecFormat, typer.Option("--format", help="Document format.")] = SpecFormat.yaml,
    prefix: PrefixOption = "caio",
) -> None:
    """Generate the AsyncAPI 3.0 document of the CAIO wire protocol.

    AsyncAPI is to messaging what OpenAPI is to HTTP: a machine-readable
    description of every subject CAIO speaks on, the JSON bodies sent there and
    the replies, errors included. Feed it to AsyncAPI tools to render docs,
    generate clients in other languages or check messages. The repository keeps
    the generated docs/asyncapi.yaml; a unit test fails when it drifts.
    """
    # Imported here: FastStream is only needed for this command, not every `caio` start.
    from caio.asyncapi import asyncapi_document

    try:
        text = asyncapi_document(prefix, fmt.value)
    except ValueError as exc:  # an unsafe --prefix
        fail(str(exc))
    if output is None:
        sys.stdout.write(text)
        return
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        # Bytes, not text mode: the same document on every OS, byte for byte.
        output.write_bytes(text.encode("utf-8"))
    except OSError as exc:
        fail(f"cannot write {output}: {exc}")
    typer.echo(f"wrote {output} (AsyncAPI 3.0.0, {fmt.value}, prefix {prefix!r})")


def register_commands(app: typer.Typer) -> None:
    app.command("asyncapi")(asyncapi)
