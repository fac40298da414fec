"""The benchmark's side of the HTTP API: ingesting a dataset's conversations, waiting for the worker to drain,
and reading back the ids, conclusions and recall a question is scored on."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from honcho_local.bench import goldfacts
from honcho_local.bench.config import BenchConfig, RunState, progress
from honcho_local.bench.data import Conversation, datasets_dir

log = logging.getLogger(__name__)


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
    with progress() as bar:
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


def turn_ids(messages: list[dict[str, Any]]) -> list[str]:
    return [str((m.get("metadata") or {}).get("turn_id", m["id"])) for m in messages]


def turn_ids_of(api: Api, conv: Conversation) -> dict[str, str]:
    """Message id -> LoCoMo turn id for a conversation's stored messages."""
    ws = workspace_of(conv)
    out: dict[str, str] = {}
    for session_id, _ in conv.sessions:
        page = 1
        while True:
            body = api.call("POST", f"/v3/workspaces/{ws}/sessions/{session_id}/messages/list",
                            params={"page": page, "size": 100}, json={})
            out.update(zip((m["id"] for m in body["items"]), turn_ids(body["items"])))
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
