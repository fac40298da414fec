"""The one narrow model interface (`LLM`, `Embedder`) and the normalized results every provider returns.

Other layers depend on this module only (plus `build_llm` / `build_embedder` in `honcho_local.llm`).
Messages are OpenAI-style dicts: `{"role": "system"|"user"|"assistant", "content": str}`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol, runtime_checkable

Message = dict[str, str]
JsonSchema = dict[str, Any]
EmbedKind = Literal["query", "document"]
EMBED_KINDS: tuple[str, ...] = ("query", "document")


@dataclass(frozen=True)
class ChatRequest:
    """One chat completion request; `schema` asks for JSON output constrained to that JSON schema."""

    messages: Sequence[Message]
    max_tokens: int = 512
    temperature: float = 0.0
    stop: Sequence[str] = ()
    schema: JsonSchema | None = None
    timeout: float | None = None
    seed: int | None = None

    def with_messages(self, messages: Sequence[Message]) -> ChatRequest:
        return replace(self, messages=list(messages))


@dataclass(frozen=True)
class Completion:
    """A normalized chat completion. `parsed` holds the decoded JSON when a schema was requested."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str
    provider: str
    model: str
    fallback_used: bool = False
    seconds: float = 0.0
    parsed: Any = None
    attempts: int = 1
    errors: tuple[str, ...] = field(default_factory=tuple)

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class StreamChunk:
    """One piece of a streamed completion; the last chunk has `finish_reason` set and the usage."""

    text: str
    provider: str
    model: str
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    fallback_used: bool = False


@dataclass(frozen=True)
class Embeddings:
    """Normalized embeddings: one L2-normalized vector per input text."""

    vectors: list[list[float]]
    dims: int
    prompt_tokens: int
    provider: str
    model: str
    seconds: float = 0.0


@runtime_checkable
class LLM(Protocol):
    """A chat model. Implementations: llama.cpp in-process, OpenAI-compatible HTTP, the router, a fake."""

    provider: str
    model: str

    def complete(self, request: ChatRequest) -> Completion: ...

    def stream(self, request: ChatRequest) -> Iterator[StreamChunk]: ...

    def count_tokens(self, text: str) -> int: ...

    def close(self) -> None: ...


# BM25's weight against an embedding model's vectors when message search fuses the two, for a model that
# names none (the catalog's `lexical_weight`; docs/decisions/007-tuned-constants.md and 010).
LEXICAL_WEIGHT = 1.5


@runtime_checkable
class Embedder(Protocol):
    """A sentence-embedding model.

    `kind` says what the texts are: "query" for search queries, "document" for what is stored and
    searched. Models trained with task prefixes (nomic-embed: "search_query: " / "search_document: ")
    prepend the matching one; for others (MiniLM) both kinds embed the same.
    """

    provider: str
    model: str
    dims: int

    def embed(self, texts: Sequence[str], kind: EmbedKind = "document") -> Embeddings: ...

    def count_tokens(self, text: str) -> int: ...

    def close(self) -> None: ...


def collect_stream(chunks: Iterator[StreamChunk], seconds: float = 0.0) -> Completion:
    """Fold a stream into one `Completion` (used by tests and by callers that want both)."""
    parts: list[str] = []
    last: StreamChunk | None = None
    for chunk in chunks:
        parts.append(chunk.text)
        last = chunk
    if last is None:
        raise ValueError("empty stream")
    return Completion(
        text="".join(parts),
        prompt_tokens=last.prompt_tokens or 0,
        completion_tokens=last.completion_tokens or 0,
        finish_reason=last.finish_reason or "stop",
        provider=last.provider,
        model=last.model,
        fallback_used=last.fallback_used,
        seconds=seconds,
    )
