"""One benchmark run: ingest through the HTTP API, let the worker drain, answer, score, report.

Ingestion is resumable: with `--home` pointing at an earlier run's data home, sessions already
holding their turns are skipped and a partly written session gets only its missing turns, so a long
reasoning run (the whole of LoCoMo with the default model takes hours on 2 cores) can be carried over
several invocations: each one lets the worker drain for up to `--drain-timeout` and only answers the
questions once nothing is left to reason.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from honcho_local.bench import goldfacts, scoring
from honcho_local.bench.baselines import BASELINE_DOCUMENTS, TurnIndex
from honcho_local.bench.data import Conversation, Question, datasets_dir, load_beam, load_locomo
from honcho_local.bench.server import Server, start_server
from honcho_local.services.chat_prompt import MAX_LINE_CHARS

log = logging.getLogger(__name__)

# `honcho`: recall as served (search + conclusion sources); `honcho-search`: message search alone;
# `conclusions`: the source turns of the subject's nearest conclusions alone; then the baselines over the
# same document text as the product's indexes (see baselines.py)
RETRIEVERS = ("honcho", "honcho-search", "conclusions", "bm25+dense-w", "bm25+dense", "bm25", "dense")
ANSWER_SYSTEM = ("You answer questions about a conversation using only the excerpts given. Answer with a short "
                 "phrase (a few words, a name, a date) using the exact words of the excerpts where possible; "
                 "give dates as absolute dates. If the excerpts do not contain the answer, say you do not know.")
JUDGE_SYSTEM = ("You grade an answer against rubric items. For each item decide whether the answer satisfies it. "
                "Reply with JSON {\"scores\": [0 or 1 per item, in order]}.")


@dataclass
class BenchConfig:
    dataset: str = "locomo"                 # locomo | beam
    conversations: int | None = None        # the first N (None: all)
    sessions: int | None = None             # only the first N sessions of each (questions about them only)
    questions: int | None = None            # at most N scored questions per conversation (stratified sample)
    model: str = "qwen2.5-coder-1.5b"       # reasoning and answering model
    embedding_model: str | None = None
    baselines: tuple[str, ...] = ("naive-rag", "full-context")
    answers: bool = True                    # answer questions with models (False: retrieval only)
    answer_questions: int | None = None     # answer only a stratified sample of N per conversation (retrieval
                                            # is scored on every question either way)
    reasoning: bool = True                  # let the worker derive conclusions
    reasoning_level: str = "low"
    judge: str | None = None                # BEAM rubric judge model
    out: Path = Path("docs/benchmarks")
    name: str | None = None                 # report name (default: dataset + date)
    home: Path | None = None                # data home (reused across runs: resumable)
    data: Path | None = None
    drain_timeout: float = 6 * 3600.0
    context_tokens: int = 4096
    full_context_tokens: int = 32768        # window of the full-context baseline (capped by the model's)
    top_k: int = 10                         # messages given to the answer model
    seed: int = 7
    server_env: dict[str, str] = field(default_factory=dict)
    server_url: str | None = None           # any Honcho v3 server instead of one this run starts
    api_key: str | None = None              # its API key (never written to the results)


@dataclass
class RunState:
    started: float = field(default_factory=time.time)
    ingest_seconds: float = 0.0
    drain_seconds: float = 0.0
    drain_started: float = 0.0
    messages: int = 0
    truncated: int = 0
    metrics_before: dict[str, float] = field(default_factory=dict)
    metrics_after: dict[str, float] = field(default_factory=dict)
    rows: list[dict[str, Any]] = field(default_factory=list)
    latencies: dict[str, list[float]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    drained: bool = False  # until the worker is seen drained: a run stopped before then records it undrained
    gold_facts: dict[str, Any] | None = None  # LoCoMo: conclusions scored against the gold facts (goldfacts.py)


def _progress() -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())


def load(config: BenchConfig) -> list[Conversation]:
    root = datasets_dir(config.data)
    convs = load_locomo(root) if config.dataset == "locomo" else load_beam(root)
    convs = convs[:config.conversations] if config.conversations else convs
    return [truncate(c, config.sessions) for c in convs] if config.sessions else convs


def truncate(conv: Conversation, sessions: int) -> Conversation:
    """The first `sessions` sessions, with the questions whose evidence lies entirely inside them."""
    kept = conv.sessions[:sessions]
    turn_ids = {t.turn_id for _, turns in kept for t in turns}
    questions = [q for q in conv.questions if q.evidence and set(q.evidence) <= turn_ids]
    return Conversation(conv.conv_id, conv.peers, conv.names, kept, questions, conv.observed)


def scored_questions(conv: Conversation, limit: int | None, seed: int) -> list[Question]:
    """LoCoMo categories 1-4 (adversarial has no gold answer to score); BEAM all. A `limit` takes a
    sample stratified by category (deterministic for a seed)."""
    pool = [q for q in conv.questions if q.code is None or q.code in (1, 2, 3, 4)]
    if limit is None or len(pool) <= limit:
        return pool
    rnd = random.Random(seed)
    by_cat: dict[str, list[Question]] = {}
    for q in pool:
        by_cat.setdefault(q.category, []).append(q)
    picked: list[Question] = []
    cats = sorted(by_cat)
    while len(picked) < limit:
        for cat in cats:
            if by_cat[cat] and len(picked) < limit:
                picked.append(by_cat[cat].pop(rnd.randrange(len(by_cat[cat]))))
    order = {q.qid: i for i, q in enumerate(pool)}
    return sorted(picked, key=lambda q: order[q.qid])


def proportional_sample(pool: list[Question], limit: int | None, seed: int) -> list[Question]:
    """`limit` questions drawn per category in proportion to the category's share of `pool` (largest
    remainders; deterministic for a seed), so a sample's mean F1 estimates the whole pool's."""
    if limit is None or len(pool) <= limit:
        return pool
    by_cat: dict[str, list[Question]] = {}
    for q in pool:
        by_cat.setdefault(q.category, []).append(q)
    quotas = {c: limit * len(qs) / len(pool) for c, qs in by_cat.items()}
    counts = {c: int(v) for c, v in quotas.items()}
    for c in sorted(quotas, key=lambda c: (counts[c] - quotas[c], c))[:limit - sum(counts.values())]:
        counts[c] += 1
    rnd = random.Random(seed)
    picked = {q.qid for c in sorted(by_cat) for q in rnd.sample(by_cat[c], counts[c])}
    return [q for q in pool if q.qid in picked]


# ---- HTTP helpers ----------------------------------------------------------------------------------
class Api:
    def __init__(self, url: str, api_key: str | None = None) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.client = httpx.Client(base_url=url, timeout=600, headers=headers)

    def call(self, method: str, path: str, expect: tuple[int, ...] = (200, 201), **kw: Any) -> Any:
        r = self.client.request(method, path, **kw)
        if r.status_code not in expect:
            raise RuntimeError(f"{method} {path} -> {r.status_code}: {r.text[:500]}")
        return r.json() if r.content else None

    def timed(self, method: str, path: str, **kw: Any) -> tuple[Any, float]:
        started = time.perf_counter()
        out = self.call(method, path, **kw)
        return out, (time.perf_counter() - started) * 1000

    def metrics(self) -> dict[str, float]:
        r = self.client.get("/metrics")
        out: dict[str, float] = {}
        if r.status_code != 200:
            return out
        for family in text_string_to_metric_families(r.text):
            for sample in family.samples:
                key = sample.name + ("{" + ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items())) + "}"
                                     if sample.labels else "")
                out[key] = sample.value
        return out


def workspace_of(conv: Conversation) -> str:
    return f"bench-{conv.conv_id}"


def ingest(api: Api, conv: Conversation, max_chars: int, state: RunState) -> int:
    """Post the conversation's turns in order (speakers as peers, original times as `created_at`);
    resumes a partly ingested conversation. Returns the number of messages posted now."""
    ws = workspace_of(conv)
    api.call("POST", "/v3/workspaces", json={"id": ws})
    for peer in conv.peers:
        body: dict[str, Any] = {"id": peer, "metadata": {"name": conv.names[peer]}}
        if conv.observed is not None and peer not in conv.observed:
            body["configuration"] = {"observe_me": False}
        api.call("POST", f"/v3/workspaces/{ws}/peers", json=body)
    posted = 0
    for session_id, turns in conv.sessions:
        api.call("POST", f"/v3/workspaces/{ws}/sessions",
                 json={"id": session_id, "peers": {p: {} for p in sorted({t.speaker for t in turns})}})
        have = api.call("POST", f"/v3/workspaces/{ws}/sessions/{session_id}/messages/list",
                        params={"size": 1}, json={})["total"]
        rest = turns[have:]
        for start in range(0, len(rest), 100):
            batch = []
            for t in rest[start:start + 100]:
                text = t.text
                if len(text) > max_chars:
                    text = text[:max_chars]
                    state.truncated += 1
                batch.append({"peer_id": t.speaker, "content": text, "created_at": t.created_at.isoformat(),
                              "metadata": {"turn_id": t.turn_id}})
            api.call("POST", f"/v3/workspaces/{ws}/sessions/{session_id}/messages", json={"messages": batch})
            posted += len(batch)
    return posted


def queue_totals(api: Api, workspaces: list[str]) -> tuple[int, int]:
    """(completed, total) work units over the workspaces."""
    done = total = 0
    for ws in workspaces:
        s = api.call("GET", f"/v3/workspaces/{ws}/queue/status")
        done += s["completed_work_units"]
        total += s["total_work_units"]
    return done, total


def wait_drained(api: Api, workspaces: list[str], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    with _progress() as bar:
        task = bar.add_task("worker: work units done", total=None)
        while True:
            try:
                done, total = queue_totals(api, workspaces)
            except httpx.TransportError as exc:  # a busy or paused server: look again (the deadline still holds)
                log.warning("queue status unavailable (%s); retrying", exc)
                if time.monotonic() > deadline:
                    return False
                time.sleep(2.0)
                continue
            bar.update(task, completed=done, total=max(total, 1))
            if done >= total:
                # a unit completes in steps; confirm with a second look after the coalescing delay
                time.sleep(0.5)
                done, total = queue_totals(api, workspaces)
                if done >= total:
                    return True
            if time.monotonic() > deadline:
                return False
            time.sleep(2.0)


def subject_of(conv: Conversation, question: str) -> str:
    """The peer a question is about: the first whose name appears in it (else the first peer)."""
    lowered = question.lower()
    hits = [(lowered.find(conv.names[p].split()[0].lower()), p) for p in conv.peers
            if conv.names[p].split()[0].lower() in lowered]
    return min(hits)[1] if hits else conv.peers[0]


def _turn_ids(messages: list[dict[str, Any]]) -> list[str]:
    return [str((m.get("metadata") or {}).get("turn_id", m["id"])) for m in messages]


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


def _embedder(config: BenchConfig, cache_dir: Path) -> Callable[..., list[list[float]]]:
    """The baselines' embedding function, with an on-disk cache in the bench home (the baselines embed
    every turn of every conversation: minutes on 2 cores, spent once per home and model)."""
    import pickle

    from honcho_local.config import load_settings
    from honcho_local.llm import build_embedder

    overrides: dict[str, Any] = {"embedding_model": config.embedding_model} if config.embedding_model else {}
    settings = load_settings(config.home or Path("."), **overrides)
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


# ---- the run ---------------------------------------------------------------------------------------
def run(config: BenchConfig, echo: Callable[[str], None] = print) -> dict[str, Any]:
    convs = load(config)
    state = RunState()
    env = {"HONCHO_LOCAL_REASONING_MODEL": config.model, "HONCHO_LOCAL_MODEL_CONTEXT": str(config.context_tokens),
           "HONCHO_LOCAL_REASONING_ENABLED": "true" if config.reasoning else "false",
           "HONCHO_LOCAL_SUMMARY_ENABLED": "true" if config.reasoning else "false", **config.server_env}
    if config.embedding_model:
        env["HONCHO_LOCAL_EMBEDDING_MODEL"] = config.embedding_model
    server = serve(config, env)
    echo(f"server {server.url} (home {server.home})")
    results: dict[str, Any] | None = None
    answering_since: float | None = None
    try:
        api = Api(server.url, config.api_key)
        state.metrics_before = api.metrics()
        started = time.perf_counter()
        with _progress() as bar:
            task = bar.add_task("ingest: conversations", total=len(convs))
            for conv in convs:
                state.messages += ingest(api, conv, 25_000, state)
                bar.advance(task)
        state.ingest_seconds = time.perf_counter() - started
        echo(f"ingested {state.messages} new messages in {state.ingest_seconds:.1f} s")
        started = state.drain_started = time.perf_counter()
        state.drained = wait_drained(api, [workspace_of(c) for c in convs], config.drain_timeout)
        state.drain_seconds = time.perf_counter() - started
        state.metrics_after = api.metrics()
        if not state.drained:
            echo(f"the worker has not drained within {config.drain_timeout:.0f} s; run again with the same "
                 f"--home to continue (questions are answered once nothing is left to reason)")
            return {"config": _config_dict(config), "drained": False, "drain_seconds": state.drain_seconds}
        started = answering_since = time.perf_counter()
        embed = _embedder(config, server.home)
        answerer = Answerer(config) if config.answers else None
        full_answerer = FullContext(config) if config.answers and "full-context" in config.baselines else None
        total = sum(len(scored_questions(c, config.questions, config.seed)) for c in convs)
        if config.dataset == "locomo" and config.reasoning:
            state.gold_facts = gold_fact_scores(api, convs, config, embed)
        journal = Journal(server.home / "bench-answers.jsonl")
        with _progress() as bar:
            task = bar.add_task("questions", total=total)
            for conv in convs:
                questions = scored_questions(conv, config.questions, config.seed)
                answered = {q.qid for q in proportional_sample(questions, config.answer_questions, config.seed)
                            } if answerer else set()
                index = TurnIndex(conv.turns, embed)
                turn_of = turn_ids_of(api, conv) if config.reasoning else None
                full = full_answerer.answer_all(conv, [q for q in questions if q.qid in answered], journal, state,
                                                bar) if full_answerer else {}
                for q in questions:
                    key = journal.key(config, q, q.qid in answered)
                    if not journal.replay(key, state):
                        before = {k: len(v) for k, v in state.latencies.items()}
                        state.rows.append(answer_question(api, conv, q, index,
                                                          answerer if q.qid in answered else None,
                                                          full.get(q.qid), config, state, turn_of))
                        journal.record(key, state, before)
                    bar.advance(task)
        if journal.replayed:
            echo(f"{journal.replayed} questions answered by an earlier run on this home were reused "
                 f"({journal.path.name}); their latencies are in the figures, their model costs in the rows")
        results = summarise(config, state, convs)
        results["gold_facts"] = state.gold_facts
        results["rows"] = state.rows
    finally:  # also when stopped (SIGTERM is turned into SystemExit by the CLI) or interrupted
        server.stop()
        phases = PhaseLog(server.home / "bench-runs.jsonl")
        phases.record(state, 0.0 if answering_since is None else time.perf_counter() - answering_since,
                      completed=results is not None)
    if results is not None:
        stored = None if isinstance(server, External) else reasoning_totals(server.home,
                                                                            [workspace_of(c) for c in convs])
        if stored is not None:
            results["reasoning"] = stored
        results["phases"] = phases.totals()
    return results


@dataclass
class External:
    """A server this run did not start (`--server-url`: honcho-local elsewhere, or Honcho): never stopped, its
    store never read (the reasoning cost is then what its /metrics says, if it serves them). `home` keeps
    this run's journal and times."""

    url: str
    home: Path

    def stop(self) -> None:
        return None


def serve(config: BenchConfig, env: dict[str, str]) -> Server | External:
    """The server the run talks to: `config.server_url`, else a honcho-local started on `config.home`."""
    if config.server_url is None:
        return start_server(config.home, env, timeout=120)
    home = config.home or Path(tempfile.mkdtemp(prefix="honcho-bench-"))
    home.mkdir(parents=True, exist_ok=True)
    return External(config.server_url.rstrip("/"), home)


# where an invocation that recorded nothing was rebuilt from, when its entry does not say (the LoCoMo run's)
CONSOLE_LOG = "the run's console log (start/stop times)"


class PhaseLog:
    """Wall time of each invocation on a bench home (ingest, drain, answers), so a run carried over
    several invocations reports how long it took in all."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def record(self, state: RunState, answer_seconds: float, completed: bool = True) -> None:
        """One invocation's wall times (a stopped one's too: `completed` false; the drain time of a
        drain that was cut short is the time it ran)."""
        drain = state.drain_seconds
        if not drain and state.drain_started:
            drain = time.perf_counter() - state.drain_started
        with self.path.open("a") as f:
            f.write(json.dumps({"started": datetime.fromtimestamp(state.started, timezone.utc).isoformat(
                timespec="seconds"), "ingest_seconds": state.ingest_seconds, "drain_seconds": drain,
                "answer_seconds": answer_seconds, "drained": state.drained, "completed": completed,
                "wall_seconds": time.time() - state.started}) + "\n")

    def totals(self) -> dict[str, Any]:
        runs = []
        for line in self.path.read_text().splitlines() if self.path.exists() else []:
            try:
                runs.append(json.loads(line))
            except ValueError:
                continue
        keys = ("ingest_seconds", "drain_seconds", "answer_seconds", "wall_seconds")
        return {"invocations": len(runs), "first_started": runs[0]["started"] if runs else None,
                "reconstructed": sum(1 for r in runs if r.get("reconstructed")),
                "reconstructed_from": sorted({r.get("source") or CONSOLE_LOG for r in runs if r.get("reconstructed")}),
                **{k: sum(r.get(k, 0.0) for r in runs) for k in keys}}


def reasoning_totals(home: Path, workspaces: list[str]) -> dict[str, Any] | None:
    """Reasoning cost from the stopped server's store: every model call the worker made for these
    workspaces in any invocation (the /metrics counters only cover the current process)."""
    from honcho_local.store.units import reasoning_cost

    cost = reasoning_cost(home / "honcho.duckdb", workspaces)
    if cost is None:
        log.warning("reasoning totals unavailable: %s cannot be opened", home / "honcho.duckdb")
        return None
    tasks, messages = cost["by_task"], cost["messages"]
    tokens = sum(t["prompt_tokens"] + t["completion_tokens"] for t in tasks.values())
    seconds = sum(t["seconds"] for t in tasks.values())
    return {"tokens": float(tokens), "model_seconds": float(seconds), "messages": messages,
            "tokens_per_message": tokens / messages if messages else None,
            "model_seconds_per_message": seconds / messages if messages else None,
            "conclusions": float(cost["conclusions"]), "note": None, "by_task": tasks}


class Journal:
    """Answered questions, one JSON line each, in the bench home: a long run (the full LoCoMo with the
    default model answers for hours) resumes where it stopped. A row is reused only for the same
    question under the same answering settings."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.replayed = 0
        self.entries: dict[str, dict[str, Any]] = {}
        if path.exists():
            for line in path.read_text().splitlines():
                try:
                    entry = json.loads(line)
                except ValueError:  # a line cut by a kill: that question is answered again
                    continue
                self.entries[entry["key"]] = entry

    @staticmethod
    def key(config: BenchConfig, q: Question, answered: bool) -> str:
        from honcho_local.services import chat_prompt

        # what chat does at this level (retrieval depth, answer instructions) is part of the settings
        level = chat_prompt.LEVELS.get(config.reasoning_level)
        chat = [asdict(level) if level else None, hashlib.sha1(chat_prompt.SYSTEM.encode()).hexdigest()[:12]]
        return json.dumps([config.dataset, q.qid, config.model, config.embedding_model, config.reasoning_level,
                           sorted(config.baselines), config.judge, config.top_k, config.context_tokens,
                           answered, chat, hashlib.sha1(ANSWER_SYSTEM.encode()).hexdigest()[:12],
                           # the retrieval arms and what the baselines index (rows of an older set are redone)
                           list(RETRIEVERS), BASELINE_DOCUMENTS])

    @staticmethod
    def full_key(config: BenchConfig, q: Question) -> str:
        return json.dumps([config.dataset, q.qid, config.model, "full-context", config.full_context_tokens])

    def record_full(self, key: str, full: dict[str, Any]) -> None:
        self.entries[key] = {"key": key, "full": full}
        with self.path.open("a") as f:
            f.write(json.dumps(self.entries[key]) + "\n")

    def replay(self, key: str, state: RunState) -> bool:
        entry = self.entries.get(key)
        if entry is None:
            return False
        state.rows.append(entry["row"])
        for name, values in entry["latencies"].items():
            state.latencies.setdefault(name, []).extend(values)
        self.replayed += 1
        return True

    def record(self, key: str, state: RunState, before: dict[str, int]) -> None:
        latencies = {k: v[before.get(k, 0):] for k, v in state.latencies.items() if len(v) > before.get(k, 0)}
        with self.path.open("a") as f:
            f.write(json.dumps({"key": key, "row": state.rows[-1], "latencies": latencies}, default=str) + "\n")


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


def turn_ids_of(api: Api, conv: Conversation) -> dict[str, str]:
    """Message id -> LoCoMo turn id for a conversation's stored messages."""
    ws = workspace_of(conv)
    out: dict[str, str] = {}
    for session_id, _ in conv.sessions:
        page = 1
        while True:
            body = api.call("POST", f"/v3/workspaces/{ws}/sessions/{session_id}/messages/list",
                            params={"page": page, "size": 100}, json={})
            out.update(zip((m["id"] for m in body["items"]), _turn_ids(body["items"])))
            if page >= body["pages"]:
                break
            page += 1
    return out


def derived_of(api: Api, conv: Conversation, turn_of: dict[str, str]) -> list[goldfacts.Derived]:
    """Every conclusion of a conversation's workspace, with the turns it cites."""
    out, page = [], 1
    while True:
        body = api.call("POST", f"/v3/workspaces/{workspace_of(conv)}/conclusions/list",
                        params={"page": page, "size": 100}, json={})
        out += [goldfacts.Derived(conv.conv_id, c["observed_id"], c["content"],
                                  tuple(turn_of[i] for i in (c.get("message_ids") or []) if i in turn_of))
                for c in body["items"]]
        if page >= body["pages"]:
            return out
        page += 1


def gold_fact_scores(api: Api, convs: list[Conversation], config: BenchConfig,
                     embed: Callable[..., list[list[float]]], rule: goldfacts.Rule = goldfacts.RULE) -> dict[str, Any]:
    """The run's conclusions scored against LoCoMo's gold facts of the same conversations and sessions."""
    facts = [f for f in goldfacts.load_gold_facts(datasets_dir(config.data), config.conversations, config.sessions)
             if f.conv_id in {c.conv_id for c in convs}]
    derived = [d for conv in convs for d in derived_of(api, conv, turn_ids_of(api, conv))]
    return goldfacts.score(facts, derived, embed, rule)


def conclusion_sources(api: Api, conv: Conversation, subject: str, query: str, turn_of: dict[str, str],
                       k: int = 20) -> list[str]:
    """The `conclusions` arm: source turns of the subject's 30 nearest conclusions, in their order."""
    route = f"/v3/workspaces/{workspace_of(conv)}/conclusions/query"
    found = api.call("POST", route, expect=(200, 422), json={"query": query, "top_k": 30,
                                                             "filters": {"observed_id": subject}})
    if not isinstance(found, list):  # Honcho's query needs the observer too: the subject's own conclusions
        found = api.call("POST", route, json={"query": query, "top_k": 30,
                                              "filters": {"observer_id": subject, "observed_id": subject}})
    ranked = [turn_of[i] for c in found for i in (c.get("message_ids") or []) if i in turn_of]
    return list(dict.fromkeys(ranked))[:k]


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
    row["retrieved"] = {"honcho-search": _turn_ids(searched),
                        "bm25+dense-w": index.hybrid_weighted(q.text, 20), "bm25+dense": index.hybrid(q.text, 20),
                        "bm25": index.bm25(q.text, 20), "dense": index.dense(q.text, 20)}
    if recalled is not None:
        row["retrieved"] = {"honcho": _turn_ids(recalled["messages"]), **row["retrieved"]}
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
    memory = _fit_text(answerer, _context_text(ctx), _budget(answerer, config, q.text))
    if memory.strip():
        _model_answer(row, "context+model", answerer, memory, q.text)
    else:
        row["answers"]["context+model"] = None  # nothing derived (reasoning off or nothing known)
    if "naive-rag" in config.baselines:
        top = _fit_turns(answerer, [index.texts[i] for i in index.dense(q.text, config.top_k)], conv.names,
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


def _fit_turns(answerer: Answerer, ranked: list[Any], names: dict[str, str], budget: int) -> list[Any]:
    """The best-ranked turns whose excerpt lines (cut at MAX_LINE_CHARS by `_excerpts`) fit `budget` tokens."""
    kept, used = [], 0
    for turn in ranked:
        cost = answerer.count(_excerpts([turn], names)) + 1
        if used + cost > budget:
            break
        kept.append(turn)
        used += cost
    return kept


def _fit_text(answerer: Answerer, text: str, budget: int) -> str:
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


_judges: dict[str, Any] = {}


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


# ---- summary -----------------------------------------------------------------------------------------
def _metric_delta(state: RunState, prefix: str) -> float:
    return sum(v - state.metrics_before.get(k, 0.0) for k, v in state.metrics_after.items() if k.startswith(prefix))


def summarise(config: BenchConfig, state: RunState, convs: list[Conversation]) -> dict[str, Any]:
    rows = state.rows
    cats = sorted({r["category"] for r in rows}, key=lambda c: (min((r["code"] or 0) for r in rows
                                                                    if r["category"] == c), c))
    recall: dict[str, dict[str, Any]] = {}
    for name in RETRIEVERS:
        with_ev = [r for r in rows if name in r["recall"]]
        if not with_ev:
            continue
        recall[name] = {"questions": len(with_ev)}
        for k in ("5", "10", "20"):
            recall[name][f"share@{k}"] = scoring.mean(r["recall"][name][k][0] for r in with_ev)
            recall[name][f"all@{k}"] = scoring.mean(r["recall"][name][k][1] for r in with_ev)
        recall[name]["by_category"] = {c: scoring.mean(r["recall"][name]["10"][0] for r in with_ev
                                                       if r["category"] == c) for c in cats}
    systems = sorted({s for r in rows for s in r["f1"]})
    answers = {s: {"questions": sum(1 for r in rows if s in r["f1"]),
                   "f1": scoring.mean(r["f1"][s] for r in rows if s in r["f1"]),
                   "em": scoring.mean(r["em"][s] for r in rows if s in r["em"]),
                   "by_category": {c: scoring.mean(r["f1"][s] for r in rows if s in r["f1"] and r["category"] == c)
                                   for c in cats},
                   "seconds_per_question": scoring.mean(r["seconds"][s] for r in rows if s in r["seconds"]),
                   "tokens_per_question": scoring.mean(r["tokens"][s] for r in rows if s in r["tokens"])}
               for s in systems}
    judged = {}
    if any("judged" in r for r in rows):
        for s in systems or sorted({s for r in rows for s in r.get("judged", {})}):
            vals = [r["judged"][s] for r in rows if r.get("judged", {}).get(s) is not None]
            judged[s] = {"questions": len(vals), "score": scoring.mean(vals)}
    messages = sum(len(c.turns) for c in convs)
    tokens = _metric_delta(state, "honcho_reasoning_tokens_total")
    model_seconds = _metric_delta(state, "honcho_reasoning_duration_seconds_sum")
    return {
        "config": _config_dict(config), "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "conversations": [c.conv_id for c in convs], "messages": messages, "messages_posted": state.messages,
        "truncated": state.truncated, "questions": len(rows),
        "counts": {c: sum(1 for r in rows if r["category"] == c) for c in cats},
        "ingest_seconds": state.ingest_seconds, "drain_seconds": state.drain_seconds,
        "wall_seconds": time.time() - state.started,
        "reasoning": {"tokens": tokens, "model_seconds": model_seconds,
                      "tokens_per_message": tokens / state.messages if state.messages else None,
                      "model_seconds_per_message": model_seconds / state.messages if state.messages else None,
                      "conclusions": _metric_delta(state, "honcho_conclusions_derived_total"),
                      "note": None if state.messages else "ingested in an earlier run: reasoning cost not measured"},
        "recall": recall, "answers": answers, "judged": judged,
        "latency_ms": {k: {"p50": scoring.percentile(v, 50), "p95": scoring.percentile(v, 95), "n": len(v)}
                       for k, v in state.latencies.items()},
        "skipped": state.skipped,
    }


def _config_dict(config: BenchConfig) -> dict[str, Any]:
    out = asdict(config)
    out["out"] = str(config.out)
    out["home"] = str(config.home) if config.home else None
    out["data"] = str(config.data) if config.data else None
    out["api_key"] = "(given)" if config.api_key else None
    return out


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-").lower()


def write_json(results: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=1, default=str))
