"""Answering and scoring one question: recall as served, the baselines over the same document text, the
answer models' prompts fitted to the window, and the BEAM rubric judge."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from honcho_local.bench import scoring
from honcho_local.bench.api import (
    Api,
    conclusion_sources,
    subject_of,
    turn_ids,
    workspace_of,
)
from honcho_local.bench.baselines import TurnIndex
from honcho_local.bench.config import (
    ANSWER_SYSTEM,
    JUDGE_SYSTEM,
    BenchConfig,
    RunState,
    slug,
)
from honcho_local.bench.data import Conversation, Question
from honcho_local.bench.journal import Journal
from honcho_local.errors import NotFound
from honcho_local.llm.base import LEXICAL_WEIGHT
from honcho_local.services.chat_prompt import MAX_LINE_CHARS

log = logging.getLogger(__name__)



def _excerpts(turns: list[Any], names: dict[str, str]) -> str:
    return "\n".join(f"- ({t.created_at.day} {t.created_at:%B %Y}) {names.get(t.speaker, t.speaker)}: {t.text}"[
        :MAX_LINE_CHARS] for t in turns)


def _answer_prompt(memory: str, question: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": ANSWER_SYSTEM},
            {"role": "user", "content": f"Excerpts:\n{memory}\n\nQuestion: {question}\nAnswer:"}]


class Answerer:
    """The answer model of the baselines, in this process (same catalog model as the server)."""

    def __init__(self, config: BenchConfig, context_tokens: int | None = None, timeout: float | None = None) -> None:
        from honcho_local.config import load_settings
        from honcho_local.llm import build_llm
        from honcho_local.llm.catalog import find_spec, models_dir

        extra: dict[str, Any] = {"model_timeout": timeout} if timeout else {}  # settings overrides
        self.settings = load_settings(config.home or Path("."), reasoning_model=config.model,
                                      model_context=context_tokens or config.context_tokens, **extra)
        self.llm = build_llm(self.settings)
        try:
            limit = find_spec(config.model, models_dir(self.settings)).context_length
        except Exception:  # not a catalog model (a path, an endpoint): trust the setting
            limit = None
        self.window = min(self.settings.model_context, limit or self.settings.model_context)

    def count(self, text: str) -> int:
        return self.llm.count_tokens(text)

    def answer(self, messages: list[dict[str, str]], max_tokens: int = 64) -> tuple[str, Any]:
        from honcho_local.llm import ChatRequest

        done = self.llm.complete(ChatRequest(messages=messages, max_tokens=max_tokens))
        return done.text.strip(), done


def _settings(config: BenchConfig) -> Any:
    """The settings the bench's server runs with, as far as the embedding model goes."""
    from honcho_local.config import load_settings

    overrides: dict[str, Any] = {"embedding_model": config.embedding_model} if config.embedding_model else {}
    return load_settings(config.home or Path("."), **overrides)


def lexical_weight_for(config: BenchConfig) -> float:
    """BM25's weight in the product's fusion for the bench's embedding model (the catalog's
    `lexical_weight`), so the `bm25+dense-w` baseline fuses as the product does."""
    from honcho_local.llm.catalog import find_spec, models_dir

    settings = _settings(config)
    try:
        return find_spec(settings.embedding_model, models_dir(settings)).lexical_weight
    except NotFound:
        return LEXICAL_WEIGHT


def embedder_for(config: BenchConfig, cache_dir: Path) -> Callable[..., list[list[float]]]:
    """The baselines' embedding function, with an on-disk cache in the bench home (the baselines embed
    every turn of every conversation: minutes on 2 cores, spent once per home and model)."""
    import pickle

    from honcho_local.llm import build_embedder

    settings = _settings(config)
    path = cache_dir / f"baseline-embeddings-{slug(settings.embedding_model)}.pkl"
    cache: dict[str, list[float]] = pickle.loads(path.read_bytes()) if path.exists() else {}
    embedder: Any = None

    def embed(texts: list[str], kind: str = "document") -> list[list[float]]:
        nonlocal embedder
        keys = [hashlib.sha1(f"{kind}\0{t}".encode()).hexdigest() for t in texts]
        todo = sorted({k: t for k, t in zip(keys, texts) if k not in cache}.items())
        if todo:
            embedder = embedder or build_embedder(settings)
            for i in range(0, len(todo), 64):
                chunk = todo[i:i + 64]
                for (k, _), v in zip(chunk, embedder.embed([t for _, t in chunk], kind=kind).vectors):
                    cache[k] = list(v)
            if len(todo) > 8:  # persist after corpus-sized work, not after every query
                path.write_bytes(pickle.dumps(cache))
        return [cache[k] for k in keys]

    return embed


class FullContext:
    """The full-context baseline: the whole conversation, then the question, to the answer model loaded
    with a window that holds the conversation (Qwen2.5 takes 32k tokens; LoCoMo's conversations are 16-31k).
    A conversation's questions are answered one after the other, so llama.cpp evaluates the conversation
    once and then only each question (the prompt's prefix is reused): minutes per conversation instead of
    minutes per question."""

    def __init__(self, config: BenchConfig) -> None:
        self.config = config
        self.answerer: Answerer | None = None

    def _model(self) -> Answerer:
        if self.answerer is None:
            # the first question of a conversation evaluates all of it: minutes on 2 cores
            self.answerer = Answerer(self.config, context_tokens=self.config.full_context_tokens, timeout=3 * 3600)
        return self.answerer

    def answer_all(self, conv: Conversation, questions: list[Question], journal: Journal, state: RunState,
                   bar: Any) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        todo = []
        for q in questions:
            entry = journal.entries.get(journal.full_key(self.config, q))
            if entry is not None:
                out[q.qid] = entry["full"]
            else:
                todo.append(q)
        if not todo:
            return out
        model = self._model()
        text = _excerpts(conv.turns, conv.names)
        tokens = model.count(text)
        window = model.window
        if tokens + 300 > window:
            state.skipped["full-context"] = (f"{conv.conv_id} is {tokens:,} tokens; the model window is "
                                             f"{window:,} (--full-context-tokens)")
            return out
        task = bar.add_task(f"full context: {conv.conv_id} ({tokens:,} tokens)", total=len(todo))
        for q in todo:
            answer, done = model.answer(_answer_prompt(text, q.text))
            out[q.qid] = {"answer": answer, "seconds": done.seconds, "tokens": done.prompt_tokens + done.completion_tokens}
            journal.record_full(journal.full_key(self.config, q), out[q.qid])
            bar.advance(task)
        bar.remove_task(task)
        return out


def answer_question(api: Api, conv: Conversation, q: Question, index: TurnIndex, answerer: Answerer | None,
                    full: dict[str, Any] | None, config: BenchConfig, state: RunState,
                    turn_of: dict[str, str] | None = None) -> dict[str, Any]:
    ws = workspace_of(conv)
    subject = subject_of(conv, q.text)
    row: dict[str, Any] = {"qid": q.qid, "conversation": conv.conv_id, "category": q.category, "code": q.code,
                           "question": q.text, "gold": q.answer, "evidence": q.evidence, "subject": subject,
                           "retrieved": {}, "recall": {}, "answers": {}, "f1": {}, "em": {}, "seconds": {},
                           "tokens": {}}
    recalled, ms = api.timed("POST", f"/v3/workspaces/{ws}/peers/{subject}/recall", expect=(200, 404, 405),
                             json={"query": q.text, "reasoning_level": config.reasoning_level, "limit": 20})
    if "messages" in (recalled or {}):
        state.latencies.setdefault("recall", []).append(ms)
    else:  # a server without honcho-local's recall route (Honcho): the `honcho` arm is left out
        recalled = None
    searched, ms = api.timed("POST", f"/v3/workspaces/{ws}/search", json={"query": q.text, "limit": 20})
    state.latencies.setdefault("search", []).append(ms)
    row["retrieved"] = {"honcho-search": turn_ids(searched),
                        "bm25+dense-w": index.hybrid_weighted(q.text, 20), "bm25+dense": index.hybrid(q.text, 20),
                        "bm25": index.bm25(q.text, 20), "dense": index.dense(q.text, 20)}
    if recalled is not None:
        row["retrieved"] = {"honcho": turn_ids(recalled["messages"]), **row["retrieved"]}
    if turn_of is not None:
        row["retrieved"]["conclusions"] = conclusion_sources(api, conv, subject, q.text, turn_of)
    row["conclusions_used"] = len(recalled["conclusions"]) if recalled is not None else None
    if q.evidence:
        for name, ranked in row["retrieved"].items():
            row["recall"][name] = {str(k): scoring.recall_at_k(ranked, q.evidence, k) for k in (5, 10, 20)}
    if answerer is None:
        return row
    before = api.metrics()
    chat, ms = api.timed("POST", f"/v3/workspaces/{ws}/peers/{subject}/chat",
                         json={"query": q.text, "reasoning_level": config.reasoning_level})
    state.latencies.setdefault("chat", []).append(ms)
    row["answers"]["chat"], row["seconds"]["chat"] = chat["content"], ms / 1000
    after = api.metrics()
    tokens = sum(v - before.get(k, 0.0) for k, v in after.items() if k.startswith("honcho_chat_tokens_total"))
    if tokens:
        row["tokens"]["chat"] = tokens
    ctx, ms = api.timed("GET", f"/v3/workspaces/{ws}/peers/{subject}/context",
                        params={"search_query": q.text, "max_conclusions": 25})
    state.latencies.setdefault("context", []).append(ms)
    memory = fit_text(answerer, _context_text(ctx), _budget(answerer, config, q.text))
    if memory.strip():
        _model_answer(row, "context+model", answerer, memory, q.text)
    else:
        row["answers"]["context+model"] = None  # nothing derived (reasoning off or nothing known)
    if "naive-rag" in config.baselines:
        top = fit_turns(answerer, [index.texts[i] for i in index.dense(q.text, config.top_k)], conv.names,
                         _budget(answerer, config, q.text))
        _model_answer(row, "naive-rag", answerer, _excerpts(sorted(top, key=lambda t: t.created_at), conv.names),
                      q.text)
    if full is not None:
        row["answers"]["full-context"] = full["answer"]
        row["seconds"]["full-context"] = full["seconds"]
        row["tokens"]["full-context"] = full["tokens"]
    for system, text in row["answers"].items():
        if text is None or q.answer is None:
            continue
        row["f1"][system] = scoring.locomo_f1(text, q.answer, q.code)
        row["em"][system] = scoring.exact_match(text, q.answer)
    if config.judge and q.rubric:
        row["judged"] = {s: judge(config, q, t) for s, t in row["answers"].items() if t}
    return row


def _budget(answerer: Answerer, config: BenchConfig, question: str) -> int:
    """Tokens left for the excerpts: the window less the answer, the instructions, the question and the
    chat template (BEAM's long turns overflow a 4k window otherwise)."""
    return max(config.context_tokens - 64 - answerer.count(ANSWER_SYSTEM) - answerer.count(question) - 64, 200)


def fit_turns(answerer: Answerer, ranked: list[Any], names: dict[str, str], budget: int) -> list[Any]:
    """The best-ranked turns whose excerpt lines (cut at MAX_LINE_CHARS by `_excerpts`) fit `budget` tokens."""
    kept, used = [], 0
    for turn in ranked:
        cost = answerer.count(_excerpts([turn], names)) + 1
        if used + cost > budget:
            break
        kept.append(turn)
        used += cost
    return kept


def fit_text(answerer: Answerer, text: str, budget: int) -> str:
    """`text` cut (at a line end where possible) to fit `budget` tokens."""
    while text and answerer.count(text) > budget:
        cut = text[: int(len(text) * 0.9)]
        text = cut.rsplit("\n", 1)[0] if "\n" in cut else cut
    return text


def _context_text(ctx: dict[str, Any]) -> str:
    parts = []
    if ctx.get("representation"):
        parts.append(ctx["representation"])
    if ctx.get("peer_card"):
        parts.append("Peer card:\n" + "\n".join(f"- {e}" for e in ctx["peer_card"]))
    return "\n\n".join(parts)


def _model_answer(row: dict[str, Any], system: str, answerer: Answerer, memory: str, question: str) -> None:
    text, done = answerer.answer(_answer_prompt(memory, question))
    row["answers"][system] = text
    row["seconds"][system] = done.seconds
    row["tokens"][system] = done.prompt_tokens + done.completion_tokens


_judges: dict[str, Any] = {}  # judge models by name, built once per run


def judge(config: BenchConfig, q: Question, answer: str) -> float | None:
    """Share of rubric items the `--judge` model says the answer satisfies (None when it fails)."""
    from honcho_local.config import load_settings
    from honcho_local.llm import ChatRequest, build_llm

    name = config.judge or ""
    if name not in _judges:
        _judges[name] = build_llm(load_settings(config.home or Path("."), reasoning_model=name,
                                                model_context=config.context_tokens))
    llm = _judges[name]
    items = "\n".join(f"{i + 1}. {r}" for i, r in enumerate(q.rubric))
    schema = {"type": "object", "properties": {"scores": {"type": "array", "items": {"type": "integer",
                                                                                      "enum": [0, 1]}}},
              "required": ["scores"]}
    try:
        done = llm.complete(ChatRequest(messages=[
            {"role": "system", "content": JUDGE_SYSTEM},
            {"role": "user", "content": f"Question: {q.text}\nAnswer: {answer}\nRubric:\n{items}"}],
            max_tokens=64 + 8 * len(q.rubric), schema=schema))  # room for whitespace the grammar allows
    except Exception as exc:  # a judge failure is reported as not judged, never as a score
        log.warning("judge failed on %s: %s", q.qid, exc)
        return None
    scores = (done.parsed or {}).get("scores") or []
    return sum(scores[:len(q.rubric)]) / len(q.rubric) if scores else None
