"""The Codex bridge: code generation and review through an OpenAI-compatible API.

Seed 001 wraps "Codex via the SDK" as an HTTP service; here it is a bridge
worker on NATS instead, using the official ``openai`` SDK against
``chat.completions`` (the one API every OpenAI-compatible server speaks, so the
same worker fronts OpenAI, Azure-style gateways, vLLM or Ollama).

The SDK's own retries are off (``max_retries=0``): the router owns retrying
and fail-over, and needs the ``retryable`` verdict on the first failure rather
than after the worker has spent the caller's deadline. Every upstream failure
maps to one CAIO error with a distinct ``details.reason`` (caio_codex.upstream);
the API key never appears in a reply or a log line, even when the upstream
echoes it. A caller who asks for a stream gets the model's text as it comes
(``handle_stream``; caio_codex.streaming).
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

import openai
from openai.types.chat import ChatCompletion, ChatCompletionMessageParam

from caio_codex.streaming import ResultOf, stream_chat
from caio_codex.upstream import failed_call, refused, retry_after_s, usage_of
from caio_integration.bridge import BridgeWorker, WorkerConfig, WorkResult
from caio_integration.contracts.model import ServiceContract
from caio_integration.errors import InvalidRequest, ServiceError, ServiceUnavailable
from caio_integration.wire import ServiceRequest

__all__ = [
    "DEFAULT_CODEX_MODEL",
    "CodexSettings",
    "CodexWorker",
    "retry_after_s",
    "strip_single_fence",
]

DEFAULT_CODEX_MODEL = "gpt-4.1-mini"

_GENERATE_SYSTEM = (
    "You are a senior software engineer who writes {language} code. Reply with the "
    "complete code in one fenced code block; add no explanation unless asked."
)
_REVIEW_SYSTEM = (
    "You are a meticulous code reviewer. List concrete problems in the code: bugs, "
    "security issues, unclear or fragile constructs, each with its line number, most "
    "serious first, then suggest fixes. Be concise; do not restate the code."
)
# One fenced block: an opening ``` line (with an optional info string) up to a
# closing ``` line.
_FENCE = re.compile(r"^```[^\n`]*\n(.*?)^```[ \t]*$", re.DOTALL | re.MULTILINE)


@dataclass(frozen=True, slots=True)
class CodexSettings:
    """Where the upstream is and how to call it; ``from_env`` reads the environment."""

    api_key: str = field(default="", repr=False)  # never printed
    base_url: str | None = None  # None: the SDK's default (api.openai.com)
    model: str = DEFAULT_CODEX_MODEL
    timeout_s: float = 60.0
    max_tokens: int = 4096  # the reply's token cap, and the most a request may ask for
    temperature: float | None = None  # None: the model's default
    max_input_chars: int = 200_000  # prompt or code, per request

    def __post_init__(self) -> None:
        if self.timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        if self.max_tokens <= 0:
            raise ValueError("max_tokens must be positive")
        if self.max_input_chars <= 0:
            raise ValueError("max_input_chars must be positive")
        if not self.model:
            raise ValueError("model must not be empty")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> CodexSettings:
        """``OPENAI_API_KEY``, ``OPENAI_BASE_URL``, ``CAIO_CODEX_MODEL``,
        ``CAIO_CODEX_TIMEOUT_S``, ``CAIO_CODEX_MAX_TOKENS``, ``CAIO_CODEX_TEMPERATURE``."""
        env = os.environ if env is None else env
        temperature = env.get("CAIO_CODEX_TEMPERATURE")
        return cls(
            api_key=env.get("OPENAI_API_KEY", ""),
            base_url=env.get("OPENAI_BASE_URL") or None,
            model=env.get("CAIO_CODEX_MODEL") or DEFAULT_CODEX_MODEL,
            timeout_s=_env_number(env, "CAIO_CODEX_TIMEOUT_S", 60.0, float),
            max_tokens=_env_number(env, "CAIO_CODEX_MAX_TOKENS", 4096, int),
            temperature=_env_number(env, "CAIO_CODEX_TEMPERATURE", 0.0, float)
            if temperature
            else None,
        )


_N = TypeVar("_N", int, float)


def _env_number(env: Mapping[str, str], name: str, default: _N, kind: type[_N]) -> _N:
    raw = env.get(name)
    if not raw:
        return default
    try:
        return kind(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a valid {kind.__name__}") from None


def strip_single_fence(content: str) -> str:
    """The code inside the reply's fenced block if there is exactly one, else the reply.

    Models wrap code in Markdown fences, often with a sentence around them;
    with one block the block is the code. With none the reply is taken as
    code; with several we cannot tell which is meant, so the caller gets it all.
    """
    blocks = _FENCE.findall(content)
    if len(blocks) == 1:
        return str(blocks[0])
    return content


class CodexWorker(BridgeWorker):
    """``code_generation`` and ``code_review`` through ``chat.completions``."""

    implemented_capabilities: ClassVar[frozenset[str]] = frozenset(
        {"code_generation", "code_review"}
    )
    #: What `caio worker` serves without --contract: a file in CAIO's contracts/.
    default_contract: ClassVar[str] = "codex.yaml"

    def __init__(
        self,
        contract: ServiceContract,
        config: WorkerConfig,
        settings: CodexSettings | None = None,
    ) -> None:
        super().__init__(contract, config)
        self.settings = settings if settings is not None else CodexSettings.from_env()
        if not self.settings.api_key:
            # Fail at startup, not on every request: the worker is misconfigured.
            raise ValueError(
                "the Codex worker needs an API key: set OPENAI_API_KEY "
                "(any non-empty value for servers that do not check it)"
            )
        self._client: openai.AsyncOpenAI | None = None

    async def setup(self) -> None:
        self._client = openai.AsyncOpenAI(
            api_key=self.settings.api_key,
            base_url=self.settings.base_url,
            timeout=self.settings.timeout_s,
            max_retries=0,  # the router retries and fails over; see the module docstring
            # The SDK's aiohttp transport (openai[aiohttp]): measured 2.5x the default
            # transport's throughput at 64 calls in flight (docs/benchmarks.md).
            http_client=openai.DefaultAioHttpClient(),
        )

    async def teardown(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.close()

    async def handle(self, capability: str, request: ServiceRequest) -> WorkResult:
        messages, max_tokens, result_of = self._prepare(capability, request.context)
        completion = await self._complete(messages, max_tokens)
        text, finish = self._content(completion)
        return WorkResult(result_of(text, completion.model, finish), usage_of(completion.usage))

    async def handle_stream(
        self, capability: str, request: ServiceRequest
    ) -> AsyncIterator[dict[str, Any] | WorkResult]:
        """``{"delta": text}`` per upstream text delta, then ``handle``'s result."""
        messages, max_tokens, result_of = self._prepare(capability, request.context)
        chunks = stream_chat(
            self._started(),
            self._body(messages, max_tokens),
            result_of=result_of,
            api_key=self.settings.api_key,
            log=self._log,
        )
        # Closed with this generator (the deadline, an error): the upstream's response too.
        async with contextlib.aclosing(chunks):
            async for item in chunks:
                yield item

    # -- capabilities ----------------------------------------------------------

    def _prepare(
        self, capability: str, context: Mapping[str, Any]
    ) -> tuple[list[ChatCompletionMessageParam], int, ResultOf]:
        """The checked request's messages and token cap, and how to shape its result."""
        if capability == "code_generation":
            return self._generation(context), self._max_tokens(context), _generation_result
        return self._review(context), self._max_tokens(context), _review_result

    def _generation(self, context: Mapping[str, Any]) -> list[ChatCompletionMessageParam]:
        prompt = self._required_text(context, "prompt")
        language = self._text(context, "language") or "Python"
        system = self._text(context, "system") or _GENERATE_SYSTEM.format(language=language)
        return [{"role": "system", "content": system}, {"role": "user", "content": prompt}]

    def _review(self, context: Mapping[str, Any]) -> list[ChatCompletionMessageParam]:
        code = self._required_text(context, "code")
        language = self._text(context, "language") or "Python"
        instructions = self._text(context, "instructions")
        parts = [f"Review this {language} code."]
        if instructions:
            parts.append(f"Focus: {instructions}")
        parts.append(f"```{language.lower()}\n{code}\n```")
        return [
            {"role": "system", "content": _REVIEW_SYSTEM},
            {"role": "user", "content": "\n\n".join(parts)},
        ]

    # -- the upstream call -------------------------------------------------------

    def _started(self) -> openai.AsyncOpenAI:
        if self._client is None:
            raise ServiceUnavailable(
                "the Codex worker is not started", details={"reason": "not_started"}
            )
        return self._client

    def _body(self, messages: list[ChatCompletionMessageParam], max_tokens: int) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.settings.model,
            "messages": messages,
            "max_tokens": max_tokens,
        }
        if self.settings.temperature is not None:
            body["temperature"] = self.settings.temperature
        return body

    async def _complete(
        self, messages: list[ChatCompletionMessageParam], max_tokens: int
    ) -> ChatCompletion:
        client = self._started()
        try:
            # The SDK's documented raw call, typed reply: ``chat.completions.create``
            # first walks its params' TypedDicts (~1 ms of CPU per call here, most of
            # the SDK's cost); this body is built by _body and always well formed.
            return await client.post(
                "/chat/completions", cast_to=ChatCompletion, body=self._body(messages, max_tokens)
            )
        except openai.OpenAIError as exc:
            raise failed_call(exc, self.settings.api_key, self._log) from None

    @staticmethod
    def _content(completion: ChatCompletion) -> tuple[str, str]:
        if not completion.choices:
            raise ServiceError(
                "the upstream returned no choices", details={"reason": "upstream_error"}
            )
        choice = completion.choices[0]
        message = choice.message
        if message.refusal or choice.finish_reason == "content_filter":
            raise refused(message.refusal, choice.finish_reason)
        if message.content is None:
            raise ServiceError(
                "the upstream returned a message without text",
                details={"reason": "upstream_error", "finish_reason": choice.finish_reason},
            )
        return message.content, choice.finish_reason

    # -- context checks ------------------------------------------------------------

    def _required_text(self, context: Mapping[str, Any], key: str) -> str:
        value = self._text(context, key)
        if value is None or not value.strip():
            raise InvalidRequest(
                f"context.{key} is required and must not be empty", details={"field": key}
            )
        return value

    def _text(self, context: Mapping[str, Any], key: str) -> str | None:
        value = context.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            raise InvalidRequest(f"context.{key} must be a string", details={"field": key})
        if len(value) > self.settings.max_input_chars:
            raise InvalidRequest(
                f"context.{key} is {len(value)} characters; the limit is "
                f"{self.settings.max_input_chars}",
                details={"field": key, "limit": self.settings.max_input_chars},
            )
        return value

    def _max_tokens(self, context: Mapping[str, Any]) -> int:
        value = context.get("max_tokens")
        if value is None:
            return self.settings.max_tokens
        limit = self.settings.max_tokens
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= limit:
            raise InvalidRequest(
                f"context.max_tokens must be an integer from 1 to {limit}",
                details={"field": "max_tokens", "limit": limit},
            )
        return value


# -- results ------------------------------------------------------------------------


def _generation_result(text: str, model: str, finish_reason: str) -> dict[str, Any]:
    return {
        "code": strip_single_fence(text),
        "text": text,
        "model": model,
        "finish_reason": finish_reason,
    }


def _review_result(text: str, model: str, finish_reason: str) -> dict[str, Any]:
    return {"review": text, "model": model, "finish_reason": finish_reason}
