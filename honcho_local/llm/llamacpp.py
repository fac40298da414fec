"""In-process llama.cpp provider (`llama-cpp-python`): chat, constrained JSON, streaming, embeddings.

A `Llama` object is not thread-safe, so each loaded model has its own lock; calls wait for it at most
the call's timeout. Every generation runs as a llama.cpp stream so the deadline is checked between
tokens (create_chat_completion takes no stopping criteria, and an exception raised in a logits
processor is swallowed by its ctypes callback); past it the generation is closed and `ModelTimeout`
raised (prompt evaluation itself cannot be interrupted, so a call overshoots by at most the time
to read its prompt). Token counts come from the model's own tokenizer: the prompt count is the number of tokens in
the context when the first chunk arrives, the completion count what was evaluated after it.

JSON requests (`schema` set) are first generated without the grammar (`free_json`, the default): a
llama.cpp JSON-schema grammar slows generation ~40% on this CPU. The answer is parsed, clipped to the
schema's caps and validated; only when that fails does the same request run under the grammar (its
prompt is then already in the KV cache). The returned `Completion` counts the time and tokens of both.
"""

from __future__ import annotations

import contextlib
import functools
import io
import logging
import os
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from honcho_local.errors import ModelError, ModelUnavailable
from honcho_local.llm.base import LEXICAL_WEIGHT, ChatRequest, Completion, Embeddings, StreamChunk
from honcho_local.llm.jsonout import extract_json, salvage

PROVIDER = "llamacpp"
log = logging.getLogger(__name__)


class ModelTimeout(ModelError):
    """A model call ran past its deadline."""


def default_threads(configured: int) -> int:
    """`model_threads` from settings; 0 means one per core."""
    return configured if configured > 0 else max(1, os.cpu_count() or 1)


_guard_lock = threading.Lock()


@functools.cache
def _amx_build() -> bool:
    """Whether this llama.cpp build multiplies matrices with Intel AMX tiles. Its AMX kernels load a
    tile configuration that the compiler leaves blank, so the first prompt dies of a general
    protection fault in `ggml_backend_amx_mul_mat` (seen on a Xeon VM with amx_int8; upstream
    ggml-org/llama.cpp#20824 and PR #26954). A from-source build picks AMX up whenever the build
    machine has it (GGML_NATIVE)."""
    import llama_cpp

    try:
        info = llama_cpp.llama_print_system_info().decode(errors="replace")
    except Exception:  # pragma: no cover - a build without the call
        return False
    return "AMX_INT8 = 1" in info


def guard_amx() -> bool:
    """On an AMX build, make every model in this process load without llama.cpp's extra buffer types
    (AMX, and with it the CPU repack), so no weight lands in an AMX buffer and the AMX kernels are
    never called. llama-cpp-python has no argument for `use_extra_bufts`, so the default-params
    factory its constructor calls is wrapped, once per process. Returns whether the guard is on."""
    if not _amx_build():
        return False
    import llama_cpp.llama_cpp as low

    with _guard_lock:
        factory = low.llama_model_default_params
        if not getattr(factory, "honcho_local_guard", False):
            def without_extra_buffers() -> Any:
                params = factory()
                params.use_extra_bufts = False
                return params

            without_extra_buffers.honcho_local_guard = True  # type: ignore[attr-defined]
            without_extra_buffers.wrapped = factory  # type: ignore[attr-defined]
            low.llama_model_default_params = without_extra_buffers
            log.info("this llama.cpp build uses AMX kernels, which crash: models load without extra buffer types")
    return True


def _quiet_llama(llama_cpp: Any, path: Path, kwargs: dict[str, Any]) -> Any:
    """A `Llama` loaded without llama-cpp-python's `verbose=False` path, which silences a load by pointing
    the process's file descriptors 1 and 2 at /dev/null (dup2) for its duration: every other thread's
    log lines written meanwhile were lost (seen as a server's shutdown lines missing while the embedder
    loaded). Its Python-level chatter goes to a buffer instead, and llama.cpp's own log stays at errors."""
    from llama_cpp._logger import set_verbose

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            llama = llama_cpp.Llama(model_path=str(path), verbose=True, **kwargs)
        finally:
            set_verbose(False)
    llama.verbose = False
    return llama


def load_llama(path: Path, **kwargs: Any):
    """Construct a `llama_cpp.Llama`, turning load failures into `ModelUnavailable` naming the file."""
    try:
        import llama_cpp
    except ImportError as exc:  # pragma: no cover - dependency is required
        raise ModelUnavailable(f"llama-cpp-python is not installed: {exc}") from exc
    if not Path(path).is_file():
        raise ModelUnavailable(f"model file {path} does not exist; run `honcho-local models pull NAME`")
    try:
        guard_amx()
        return _quiet_llama(llama_cpp, path, kwargs)
    except Exception as exc:  # llama_cpp raises ValueError/RuntimeError with little detail
        raise ModelUnavailable(
            f"llama.cpp could not load {path}: {exc}; check it with `honcho-local models verify`"
        ) from exc


class _Deadline:
    """The wall-clock limit of one call, checked between generated tokens."""

    def __init__(self, seconds: float | None) -> None:
        self.seconds = seconds or 0.0
        self.at = time.monotonic() + seconds if seconds else None

    def passed(self) -> bool:
        return self.at is not None and time.monotonic() > self.at

    def remaining(self) -> float:
        return -1 if self.at is None else max(0.0, self.at - time.monotonic())


class _Locked:
    """One lock per loaded model; acquiring it counts against the call's deadline. A closed model refuses
    calls instead of letting llama.cpp touch freed memory: a worker thread still running at shutdown
    embedded with a model `close()` had just freed, and the server died with SIGSEGV."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.closed = False

    def acquire(self, deadline: _Deadline, what: str) -> None:
        if not self.lock.acquire(timeout=deadline.remaining()):
            raise ModelTimeout(f"timed out waiting for {what} (busy with another call)")
        if self.closed:
            self.lock.release()
            raise ModelUnavailable(f"{what} is closed (the server is shutting down)")

    def check_open(self) -> None:
        """For the lock-free calls (token counts): refuse once `close()` has begun."""
        if self.closed:
            raise ModelUnavailable("the model is closed (the server is shutting down)")

    def close_llama(self, llama: Any) -> None:
        self.closed = True  # first, so lock-free calls stop before the lock is taken
        with self.lock:
            llama.close()


def _response_format(schema: dict | None) -> dict | None:
    return None if schema is None else {"type": "json_object", "schema": schema}


class LlamaCppChat(_Locked):
    """A chat model loaded in this process."""

    provider = PROVIDER

    def __init__(self, path: Path, model: str, chat_format: str | None = "chatml", n_ctx: int = 4096,
                 n_threads: int = 0, timeout: float = 300.0, n_batch: int = 512, seed: int = 0,
                 free_json: bool = True) -> None:
        super().__init__()
        self.model = model
        self.free_json = free_json
        self.free_json_stats = {"tried": 0, "failed": 0}
        self.path = Path(path)
        self.timeout = timeout
        fmt = None if chat_format in (None, "", "auto") else chat_format
        self.llama = load_llama(self.path, n_ctx=n_ctx, n_threads=default_threads(n_threads),
                                n_batch=n_batch, chat_format=fmt, seed=seed)

    def _kwargs(self, request: ChatRequest) -> dict[str, Any]:
        kwargs: dict[str, Any] = dict(
            messages=list(request.messages), max_tokens=request.max_tokens,
            temperature=request.temperature, stop=list(request.stop) or None,
            response_format=_response_format(request.schema), stream=True,
        )
        if request.seed is not None:
            kwargs["seed"] = request.seed
        return kwargs

    def _deadline(self, request: ChatRequest) -> _Deadline:
        return _Deadline(request.timeout or self.timeout)

    def complete(self, request: ChatRequest) -> Completion:
        if request.schema is None or not self.free_json:
            return self._complete_once(request)
        free = self._complete_once(replace(request, schema=None))
        self.free_json_stats["tried"] += 1
        try:
            try:
                text, parsed = extract_json(free.text, request.schema)
            except ValueError:
                if free.finish_reason != "length":
                    raise
                # More than it was asked for ran into max_tokens: the complete part is the answer
                # (the caps would have cut the rest), and the grammar run would be cut off too.
                text, parsed = salvage(free.text, request.schema)
        except ValueError as exc:
            self.free_json_stats["failed"] += 1
            log.info("free JSON unusable (%s; %d/%d so far), generating under the grammar",
                     exc, self.free_json_stats["failed"], self.free_json_stats["tried"])
            done = self._complete_once(request)
            return replace(done, prompt_tokens=free.prompt_tokens + done.prompt_tokens,
                           completion_tokens=free.completion_tokens + done.completion_tokens,
                           seconds=free.seconds + done.seconds, errors=(f"free JSON: {exc}",))
        return replace(free, text=text, parsed=parsed)

    def _complete_once(self, request: ChatRequest) -> Completion:
        started = time.monotonic()
        parts: list[str] = []
        last: StreamChunk | None = None
        for chunk in self.stream(request):
            parts.append(chunk.text)
            last = chunk
        assert last is not None
        return Completion(
            text="".join(parts), prompt_tokens=last.prompt_tokens or 0,
            completion_tokens=last.completion_tokens or 0, finish_reason=last.finish_reason or "stop",
            provider=self.provider, model=self.model, seconds=time.monotonic() - started,
        )

    def stream(self, request: ChatRequest) -> Iterator[StreamChunk]:
        deadline = self._deadline(request)
        self.acquire(deadline, self.model)
        try:
            yield from self._stream_locked(request, deadline)
        finally:
            self.lock.release()

    def _stream_locked(self, request: ChatRequest, deadline: _Deadline) -> Iterator[StreamChunk]:
        parts: list[str] = []
        finish, prompt = "stop", -1
        chunks = self.llama.create_chat_completion(**self._kwargs(request))
        try:
            for chunk in chunks:
                if prompt < 0:
                    prompt = self.llama.n_tokens
                if deadline.passed():
                    raise ModelTimeout(f"{self.model} ran past its {deadline.seconds:g}s deadline",
                                       raw_output="".join(parts))
                choice = chunk["choices"][0]
                piece = (choice.get("delta") or {}).get("content") or ""
                finish = choice.get("finish_reason") or finish
                if piece:
                    parts.append(piece)
                    yield StreamChunk(text=piece, provider=self.provider, model=self.model)
        except ValueError as exc:  # e.g. the prompt does not fit the context window
            raise ModelError(f"{self.model}: {exc}", raw_output="".join(parts)) from exc
        finally:
            chunks.close()
        completion = max(0, self.llama.n_tokens - prompt) + (1 if finish == "length" else 0)
        yield StreamChunk(text="", provider=self.provider, model=self.model, finish_reason=finish,
                          prompt_tokens=max(prompt, 0), completion_tokens=completion)

    def count_tokens(self, text: str) -> int:
        # No lock: llama_tokenize reads only the vocabulary, so counting never waits for a generation.
        self.check_open()
        return len(self.llama.tokenize(text.encode(), add_bos=False, special=False))

    def close(self) -> None:
        self.close_llama(self.llama)


class LlamaCppTokenizer(_Locked):
    """A chat model's vocabulary alone (`vocab_only=True`), for counting tokens while no model call needs
    the weights (issue 31): the 1.5B model's vocabulary took 74 MB of RSS against 1.8 GB for the whole
    model, and counts exactly as `LlamaCppChat.count_tokens` does."""

    provider = PROVIDER

    def __init__(self, path: Path, model: str) -> None:
        super().__init__()
        self.path = Path(path)
        self.model = model
        self.llama = load_llama(self.path, vocab_only=True)

    def count_tokens(self, text: str) -> int:
        self.check_open()
        return len(self.llama.tokenize(text.encode(), add_bos=False, special=False))

    def close(self) -> None:
        self.close_llama(self.llama)


class LlamaCppEmbedder(_Locked):
    """A sentence-embedding model (BERT-family GGUF, pooling as its GGUF says: mean for MiniLM and
    nomic-bert) loaded with `embedding=True`; vectors are L2-normalized.

    `query_prefix` / `document_prefix` (from the catalog) are prepended to texts embedded as
    `kind="query"` / `kind="document"`. `lexical_weight` (from the catalog) is BM25's weight against
    this model's vectors when message search fuses the two.
    """

    provider = PROVIDER

    def __init__(self, path: Path, model: str, n_threads: int = 0, max_tokens: int = 256,
                 timeout: float = 300.0, query_prefix: str = "", document_prefix: str = "",
                 lexical_weight: float = LEXICAL_WEIGHT) -> None:
        super().__init__()
        self.model = model
        self.lexical_weight = lexical_weight
        self.path = Path(path)
        self.timeout = timeout
        self.prefixes = {"query": query_prefix, "document": document_prefix}
        self.llama = load_llama(self.path, embedding=True, n_ctx=512, n_batch=max_tokens,
                                n_ubatch=max_tokens, n_threads=default_threads(n_threads))
        self.dims = int(self.llama.n_embd())

    def embed(self, texts: Sequence[str], kind: str = "document") -> Embeddings:
        if kind not in self.prefixes:
            raise ValueError(f"embed kind must be one of {sorted(self.prefixes)}, not {kind!r}")
        prefix = self.prefixes[kind]
        texts = [prefix + text for text in texts] if prefix else texts
        deadline = _Deadline(self.timeout)
        started = time.monotonic()
        self.acquire(deadline, self.model)
        try:
            vectors, tokens = [], 0
            for text in texts:  # one sequence per call: measured faster than llama.embed(list) here
                vector, count = self.llama.embed(text, normalize=True, truncate=True, return_count=True)
                vectors.append(vector)
                tokens += count
        finally:
            self.lock.release()
        return Embeddings(vectors=[list(map(float, v)) for v in vectors], dims=self.dims, prompt_tokens=tokens,
                          provider=self.provider, model=self.model, seconds=time.monotonic() - started)

    def count_tokens(self, text: str) -> int:
        """Tokens including [CLS] and [SEP], as the model sees them (lock-free: vocabulary only)."""
        self.check_open()
        return len(self.llama.tokenize(text.encode()))

    def close(self) -> None:
        self.close_llama(self.llama)
