"""The model layer: one narrow protocol (`LLM`, `Embedder`) over llama.cpp in-process and OpenAI-compatible HTTP.

Other layers call only what is exported here:

    llm = build_llm(settings)            # Router: local primary (lazy load) + optional fallback
    done = llm.complete(ChatRequest(messages=[...], schema={...}, max_tokens=256))
    done.text, done.parsed, done.prompt_tokens, done.completion_tokens, done.fallback_used
    for chunk in llm.stream(ChatRequest(...)): ...
    llm.count_tokens("text")
    embedder = build_embedder(settings)  # all-MiniLM-L6-v2 via llama.cpp, 384-d, L2-normalized
    embedder.embed(["a", "b"]).vectors  # stored texts; embed([q], kind="query") for search queries

`FakeLLM` / `FakeEmbedder` (in `honcho_local.llm.fake`) implement the same protocols for tests.
Nothing here reads the environment or loads a model at import time.
"""

from __future__ import annotations

from typing import Any

from honcho_local.llm.base import LLM, ChatRequest, Completion, Embedder, Embeddings, StreamChunk, collect_stream
from honcho_local.llm.router import Router

OPENAI_PREFIX = "openai:"
DEFAULT_OPENAI_URL = "https://api.openai.com/v1"

__all__ = [
    "LLM", "ChatRequest", "Completion", "Embedder", "Embeddings", "StreamChunk", "Router",
    "build_llm", "build_embedder", "build_local_chat", "build_local_tokenizer", "build_fallback", "collect_stream",
]


def build_local_chat(settings: Any, name: str | None = None) -> LLM:
    """Load a catalog chat model (or a GGUF path) in process, after checking its file."""
    from honcho_local.llm.catalog import find_spec, models_dir, verified_path
    from honcho_local.llm.llamacpp import LlamaCppChat

    directory = models_dir(settings)
    spec = find_spec(name or settings.reasoning_model, directory)
    path = verified_path(spec, directory)
    n_ctx = min(settings.model_context, spec.context_length or settings.model_context)
    return LlamaCppChat(path, spec.name, chat_format=spec.chat_format, n_ctx=n_ctx,
                        n_threads=settings.model_threads, timeout=settings.model_timeout,
                        free_json=getattr(settings, "model_free_json", True))


def build_local_tokenizer(settings: Any, name: str | None = None) -> Any:
    """The vocabulary of a catalog chat model (or a GGUF path) alone: `count_tokens` without the weights."""
    from honcho_local.llm.catalog import find_spec, models_dir, verified_path
    from honcho_local.llm.llamacpp import LlamaCppTokenizer

    directory = models_dir(settings)
    spec = find_spec(name or settings.reasoning_model, directory)
    return LlamaCppTokenizer(verified_path(spec, directory), spec.name)


def fallback_configured(settings: Any) -> bool:
    """A fallback exists when any of `openai_api_key`, `openai_base_url`, `fallback_model` is set."""
    return bool(settings.openai_api_key or settings.openai_base_url or settings.fallback_model)


def build_fallback(settings: Any, model: str | None = None) -> LLM:
    """The OpenAI-compatible client described by `openai_base_url` / `openai_api_key` / `fallback_model`."""
    from honcho_local.llm.openai_compat import OpenAICompat

    return OpenAICompat(
        base_url=settings.openai_base_url or DEFAULT_OPENAI_URL,
        model=model or settings.fallback_model or settings.reasoning_model,
        api_key=settings.openai_api_key, timeout=settings.model_timeout,
    )


def build_llm(settings: Any) -> Router:
    """The configured chat model: `reasoning_model` as primary (loaded on first use), plus the fallback.

    `reasoning_model = "openai:NAME"` makes the OpenAI-compatible endpoint the primary.
    """
    name = settings.reasoning_model
    if name.startswith(OPENAI_PREFIX):
        return Router(lambda: build_fallback(settings, name[len(OPENAI_PREFIX):]), None)
    fallback = (lambda: build_fallback(settings)) if fallback_configured(settings) else None
    return Router(lambda: build_local_chat(settings), fallback)


def build_embedder(settings: Any) -> Embedder:
    """The configured embedding model (all-MiniLM-L6-v2 by default), loaded now, with its catalog prefixes."""
    from honcho_local.errors import ModelUnavailable
    from honcho_local.llm.catalog import embeddings_off, find_spec, models_dir, verified_path
    from honcho_local.llm.llamacpp import LlamaCppEmbedder

    if embeddings_off(settings):
        raise ModelUnavailable("embeddings are off (embedding_model = none)")
    directory = models_dir(settings)
    spec = find_spec(settings.embedding_model, directory)
    path = verified_path(spec, directory)
    return LlamaCppEmbedder(path, spec.name, n_threads=settings.model_threads, timeout=settings.model_timeout,
                            query_prefix=spec.query_prefix, document_prefix=spec.document_prefix,
                            lexical_weight=spec.lexical_weight)
