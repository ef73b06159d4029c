"""CAIO's Codex bridge: code generation and review through an OpenAI-compatible API."""

from caio_codex.worker import (
    DEFAULT_CODEX_MODEL,
    CodexSettings,
    CodexWorker,
    retry_after_s,
    strip_single_fence,
)

__all__ = [
    "DEFAULT_CODEX_MODEL",
    "CodexSettings",
    "CodexWorker",
    "retry_after_s",
    "strip_single_fence",
]
