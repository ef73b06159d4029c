"""The Codex bridge: code generation and review through an OpenAI-compatible API.

Seed 001 wraps "Codex via the SDK" as an HTTP service; here it is a bridge
worker on NATS instead, using the official ``openai`` SDK against
``chat.completions`` (the one API every OpenAI-compatible server speaks, so the
same worker fronts OpenAI, Azure-style gateways, vLLM or Ollama).

The SDK's own retries are off (``max_retries=0``): the router owns retrying
and fail-over, and needs the ``retryable`` verdict on the first failure rather
than after the worker has spent the caller's deadline. Every upstream failure
maps to one CAIO error with a distinct ``details.reason``; the API key never
appears in a reply or a log line, even when the upstream echoes it.
"""

from __future__ import annotations

import email.utils
import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

import openai
from openai.types.chat import ChatCompletion, ChatCompletionMessageParam

from caio_integration.bridge import BridgeWorker, WorkerConfig, WorkResult
from caio_integration.contracts.model import ServiceContract
from caio_integration.errors import (
    CAIOError,
    InvalidRequest,
    RateLimited,
    ServiceError,
    ServiceUnavailable,
    Timeout,
)
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
# Key-shaped strings an upstream might echo back (OpenAI's 401 message does).
_KEYLIKE = re.compile(r"\b(sk|rk|pk)-[A-Za-z0-9_\-*.]{6,}")
_UPSTREAM_MESSAGE_CHARS = 300


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
        if capability == "code_generation":
            return await self._generate(request.context)
        return await self._review(request.context)

    # -- capabilities ----------------------------------------------------------

    async def _generate(self, context: Mapping[str, Any]) -> WorkResult:
        prompt = self._required_text(context, "prompt")
        language = self._text(context, "language") or "Python"
        system = self._text(context, "system") or _GENERATE_SYSTEM.format(language=language)
        messages: list[ChatCompletionMessageParam] = [
            {"role": "system", "content": system},
            {"role": "user", "content": prompt},
        ]
        completion = await self._complete(messages, self._max_tokens(context))
        text, finish = self._content(completion)
        return WorkResult(
            {
                "code": strip_single_fence(text),
                "text": text,
                "model": completion.model,
                "finish_reason": finish,
            },
            _usage(completion),
        )

    async def _review(self, context: Mapping[str, Any]) -> WorkResult:
        code = self._required_text(context, "code")
        language = self._text(context, "language") or "Python"
        instructions = self._text(context, "instructions")
        parts = [f"Review this {language} code."]
        if instructions:
            parts.append(f"Focus: {instructions}")
        parts.append(f"```{language.lower()}\n{code}\n```")
        messages: list[ChatCompletionMessageParam] = [
            {"role": "system", "content": _REVIEW_SYSTEM},
            {"role": "user", "content": "\n\n".join(parts)},
        ]
        completion = await self._complete(messages, self._max_tokens(context))
        text, finish = self._content(completion)
        return WorkResult(
            {"review": text, "model": completion.model, "finish_reason": finish},
            _usage(completion),
        )

    # -- the upstream call -------------------------------------------------------

    async def _complete(
        self, messages: list[ChatCompletionMessageParam], max_tokens: int
    ) -> ChatCompletion:
        if self._client is None:
            raise ServiceUnavailable(
                "the Codex worker is not started", details={"reason": "not_started"}
            )
        body: dict[str, Any] = {
            "model": self.settings.model,
            "messages": messages,
            "max_tokens": max_tokens,
        }
        if self.settings.temperature is not None:
            body["temperature"] = self.settings.temperature
        try:
            # The SDK's documented raw call, typed reply: ``chat.completions.create``
            # first walks its params' TypedDicts (~1 ms of CPU per call here, most of
            # the SDK's cost); this body is built above and always well formed.
            return await self._client.post("/chat/completions", cast_to=ChatCompletion, body=body)
        except openai.OpenAIError as exc:
            error = _upstream_error(exc, self.settings.api_key)
            self._log.warning(
                "upstream call failed",
                code=error.code,
                reason=error.details.get("reason"),
                status=error.details.get("status"),
                upstream_request_id=getattr(exc, "request_id", None),
            )
            raise error from None

    @staticmethod
    def _content(completion: ChatCompletion) -> tuple[str, str]:
        if not completion.choices:
            raise ServiceError(
                "the upstream returned no choices", details={"reason": "upstream_error"}
            )
        choice = completion.choices[0]
        message = choice.message
        if message.refusal or choice.finish_reason == "content_filter":
            raise ServiceError(
                "the model declined the request",
                details={
                    "reason": "refused",
                    "refusal": (message.refusal or "")[:_UPSTREAM_MESSAGE_CHARS],
                    "finish_reason": choice.finish_reason,
                },
                retryable=False,
            )
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


# -- error mapping ------------------------------------------------------------------


def _usage(completion: ChatCompletion) -> dict[str, Any]:
    usage = completion.usage
    if usage is None:
        return {}
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }


def _scrub(text: str, api_key: str) -> str:
    """The upstream's message, safe to forward: no key, bounded length."""
    if api_key:
        text = text.replace(api_key, "***")
    return _KEYLIKE.sub(r"\1-***", text)[:_UPSTREAM_MESSAGE_CHARS]


def retry_after_s(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` / ``Retry-After`` (seconds or HTTP date)."""
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    now = time.time() if now is None else now
    return max(0.0, when.timestamp() - now)


def _refused(exc: BaseException) -> bool:
    """A connection that failed outright (refused, unroutable) rather than timed out.

    The SDK's aiohttp transport reports a refused connection as a connect
    *timeout*; the OS error underneath says what happened.
    """
    seen: BaseException | None = exc
    for _ in range(8):  # a chain is short; the bound guards against a cycle
        if seen is None:
            break
        if isinstance(seen, OSError) and not isinstance(seen, TimeoutError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _upstream_error(exc: openai.OpenAIError, api_key: str) -> CAIOError:
    """One CAIO error per kind of upstream failure, each with its own ``reason``."""
    # Order matters: APITimeoutError is an APIConnectionError, and every
    # status error is an APIStatusError.
    if isinstance(exc, openai.APITimeoutError) and not _refused(exc):
        return Timeout(
            "the upstream model did not answer in time", details={"reason": "upstream_timeout"}
        )
    if isinstance(exc, openai.APIConnectionError):
        return ServiceUnavailable(
            "the upstream model could not be reached", details={"reason": "upstream_unreachable"}
        )
    if not isinstance(exc, openai.APIStatusError):
        return ServiceError(
            "the upstream's answer could not be used", details={"reason": "upstream_error"}
        )
    status = exc.status_code
    if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
        # The upstream's message is left out: OpenAI's 401 quotes the key.
        return ServiceUnavailable(
            "the upstream rejected this worker's credentials",
            details={"reason": "upstream_unauthorized", "status": status},
            retryable=False,
        )
    message = _scrub(exc.message, api_key)
    if isinstance(exc, openai.RateLimitError):
        details: dict[str, Any] = {"reason": "upstream_rate_limited", "status": status}
        wait = retry_after_s(exc.response.headers)
        if wait is not None:
            details["retry_after_s"] = wait
        return RateLimited("the upstream is rate limiting this worker", details=details)
    if isinstance(exc, openai.BadRequestError | openai.UnprocessableEntityError):
        return InvalidRequest(
            f"the upstream rejected the request: {message}",
            details={"reason": "upstream_bad_request", "status": status},
        )
    if isinstance(exc, openai.NotFoundError):
        # Usually a wrong model name or base URL: the worker's configuration.
        return ServiceUnavailable(
            f"the upstream does not know this model or endpoint: {message}",
            details={"reason": "upstream_not_found", "status": status},
            retryable=False,
        )
    retryable = status >= 500 or status in (408, 409)
    return ServiceError(
        f"the upstream failed with HTTP {status}: {message}",
        details={"reason": "upstream_error", "status": status},
        retryable=retryable,
    )
