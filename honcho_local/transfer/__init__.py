"""Moving a workspace between two Honcho v3 servers through their public HTTP API (`honcho-local export` and
`import`; docs/migration.md). Only HTTP on both sides: this package never opens a store.

What is carried, in this order: the workspace (metadata, configuration), its peers (metadata,
configuration), its sessions (metadata, configuration, each member peer's session config), every session's
messages (peer, content, metadata, original `created_at`; batches of at most 100), the conclusions a client
stated (level `explicit` and citing no message: what the target's deriver cannot re-derive), the peer
cards (each peer's own card, and the card of every observer/observed pair that has conclusions), and the
scopes (Honcho 3.1: each scope with its metadata, and every session added to its scopes before that session's
messages are sent, since a Honcho scope sees a session's messages from the moment it joins; a server without
scope routes on either side is skipped with a line in the log).

Resumable and idempotent, without a progress file, by reading what the target already holds:
- workspace, peers, sessions: get-or-create, then an update that sets metadata and configuration;
- messages: a session whose target copy holds `n` messages gets the source's messages from `n + 1` on, once
  the target's `n`-th message matches the source's `n`-th (same peer, content and `created_at`); a target
  copy that does not match, or holds more than the source, is refused (`Diverged`) and nothing is written
  to it. A batch whose answer is lost is not sent again blindly: the target's message count says whether
  it was stored (Honcho takes no `Idempotency-Key`; honcho-local also dedupes by the one each batch carries);
- conclusions: one is created only when the target has none with the same observer, observed, session and
  content;
- cards: written only when the target's differs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any
from urllib.parse import quote

from honcho_local.client.http import Api, HonchoClientError
from honcho_local.errors import Conflict, NotFound

PAGE = 100  # Honcho's largest page, and its largest message and conclusion batch
Log = Callable[[str], None]


class Diverged(Conflict):
    """The target holds a session whose messages are not a prefix of the source's."""


@dataclass
class Counts:
    """What one transfer wrote (`*_kept`: already on the target, left alone)."""

    workspaces: int = 0
    peers: int = 0
    sessions: int = 0
    messages: int = 0
    messages_kept: int = 0
    conclusions: int = 0
    conclusions_kept: int = 0
    cards: int = 0
    cards_kept: int = 0
    scopes: int = 0

    def line(self) -> str:
        return ", ".join(f"{f.name.replace('_', ' ')} {getattr(self, f.name)}" for f in fields(self))


def path(*parts: str) -> str:
    return "/v3/workspaces" + "".join("/" + quote(p, safe="") for p in parts)


def pages(api: Api, route: str, body: Any = None, first: int = 1) -> Iterator[dict[str, Any]]:
    """Every item of a paginated list route, from page `first` (of `PAGE` items) on."""
    page, size = first, PAGE
    while True:
        answer = api.request("POST" if body is not None else "GET", route, body, params={"page": page, "size": size})
        yield from answer["items"]
        if page >= int(answer.get("pages") or 0):
            return
        page += 1


def workspaces(api: Api, only: str | None) -> list[dict[str, Any]]:
    """The workspaces to carry: `only` (which must exist on `api`), else all of them. Listing needs an admin
    key; with a key for `only` alone, its get-or-create answers it instead."""
    try:
        found = [w for w in pages(api, path("list"), {}) if only is None or w["id"] == only]
    except HonchoClientError as exc:
        if only is None or exc.status not in (401, 403):
            raise
        found = [api.request("POST", path(), {"id": only})]
    if only is not None and not found:
        raise NotFound(f"workspace {only!r} does not exist on {api.base_url}")
    return found


def transfer(source: Api, target: Api, workspace: str | None = None, log: Log = lambda _: None) -> Counts:
    """Carry `workspace` (else every workspace) from `source` to `target`; what was written."""
    counts = Counts()
    for ws in workspaces(source, workspace):
        log(f"workspace {ws['id']}")
        copy_workspace(source, target, ws, counts, log)
    return counts


def copy_workspace(source: Api, target: Api, ws: dict[str, Any], counts: Counts, log: Log) -> None:
    wid = ws["id"]
    upsert(target, path(), path(wid), ws)
    counts.workspaces += 1
    peers = list(pages(source, path(wid, "peers", "list"), {}))
    for peer in peers:
        upsert(target, path(wid, "peers"), path(wid, "peers", peer["id"]), peer)
        counts.peers += 1
    scopes = copy_scopes(source, target, wid, counts, log)
    for session in pages(source, path(wid, "sessions", "list"), {}):
        sent, kept = counts.messages, counts.messages_kept
        copy_session(source, target, wid, session, counts,
                     tuple(s for s, members in scopes.items() if session["id"] in members))
        log(f"  session {session['id']}: {counts.messages - sent} messages sent, "
            f"{counts.messages_kept - kept} already there")
    pairs = copy_conclusions(source, target, wid, counts)
    copy_cards(source, target, wid, sorted({(p["id"], p["id"]) for p in peers} | pairs), counts)


def upsert(target: Api, create: str, update: str, item: dict[str, Any]) -> None:
    """Get-or-create `item` on the target, then set its metadata and configuration (an existing one keeps
    its own otherwise: Honcho's get-or-create does not update)."""
    state = {"metadata": item.get("metadata") or {}, "configuration": item.get("configuration") or {}}
    target.request("POST", create, {"id": item["id"], **state})
    target.request("PUT", update, state)


def copy_session(source: Api, target: Api, wid: str, session: dict[str, Any], counts: Counts,
                 scopes: tuple[str, ...] = ()) -> None:
    sid = session["id"]
    upsert(target, path(wid, "sessions"), path(wid, "sessions", sid), session)
    counts.sessions += 1
    members = {p["id"]: source.request("GET", path(wid, "sessions", sid, "peers", p["id"], "config"))
               for p in pages(source, path(wid, "sessions", sid, "peers"))}
    if members:
        target.request("POST", path(wid, "sessions", sid, "peers"), {pid: config_of(c) for pid, c in members.items()})
    for scope in scopes:  # before the messages: a Honcho scope sees a session's messages from when it joins
        target.request("POST", path(wid, "scopes", scope, "sessions"), {"session_ids": [sid]})
    copy_messages(source, target, wid, sid, counts)


def copy_scopes(source: Api, target: Api, wid: str, counts: Counts, log: Log) -> dict[str, set[str]]:
    """Create the source's scopes on the target (get-or-create with their metadata); their member sessions by
    scope, for `copy_session`. Empty when either server has no scope routes (a Honcho before 3.1)."""
    try:
        found = {s["id"]: s for s in pages(source, path(wid, "scopes", "list"), {})}
    except HonchoClientError as exc:
        if exc.status not in (404, 405, 501):
            raise
        return {}
    scopes: dict[str, set[str]] = {}
    for scope_id, scope in found.items():
        try:
            target.request("POST", path(wid, "scopes"), {"id": scope_id, "metadata": scope.get("metadata") or {}})
        except HonchoClientError as exc:
            if exc.status not in (404, 405, 501):
                raise
            log(f"  the target has no scopes: {len(found)} left behind")
            return {}
        scopes[scope_id] = {s["id"] for s in pages(source, path(wid, "scopes", scope_id, "sessions", "list"), {})}
        counts.scopes += 1
    return scopes


def config_of(config: dict[str, Any] | None) -> dict[str, Any]:
    return {k: v for k, v in (config or {}).items() if k in ("observe_me", "observe_others") and v is not None}


def fingerprint(message: dict[str, Any]) -> tuple[Any, ...]:
    """What makes two copies of a message the same message: speaker, words and time."""
    return message["peer_id"], message["content"], instant(message.get("created_at"))


def instant(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def message_at(api: Api, route: str, position: int) -> tuple[int, dict[str, Any] | None]:
    """The list's length, and its `position`-th message (1-based; None when position is 0 or past the end)."""
    answer = api.request("POST", route, {}, params={"page": max(position, 1), "size": 1})
    items = answer["items"] if position else []
    return int(answer["total"]), (items[0] if items else None)


def already_there(source: Api, target: Api, wid: str, sid: str) -> int:
    """How many of the source's messages the target's copy of the session holds; `Diverged` if it holds others."""
    route = path(wid, "sessions", sid, "messages", "list")
    held, _ = message_at(target, route, 0)
    if held == 0:
        return 0
    _, last = message_at(target, route, held)
    total, same = message_at(source, route, held)
    if held > total or last is None or same is None or fingerprint(last) != fingerprint(same):
        raise Diverged(f"session {sid!r} of workspace {wid!r} on {target.base_url} holds {held} messages that are "
                       f"not the first {held} of the {total} on {source.base_url}: no message was written to it; delete "
                       f"that session on the target (or carry the workspace into another server) and run again")
    return held


def copy_messages(source: Api, target: Api, wid: str, sid: str, counts: Counts) -> None:
    held = already_there(source, target, wid, sid)
    counts.messages_kept += held
    route = path(wid, "sessions", sid, "messages")
    batch: list[dict[str, Any]] = []
    first_id = ""
    for i, message in enumerate(pages(source, route + "/list", {}, first=held // PAGE + 1)):
        if i < held % PAGE:
            continue
        batch.append(carried_message(message))
        first_id = first_id or message["id"]
        if len(batch) == PAGE:
            send_batch(target, route, batch, first_id, counts)
            batch, first_id = [], ""
    if batch:
        send_batch(target, route, batch, first_id, counts)


def carried_message(message: dict[str, Any]) -> dict[str, Any]:
    return {"peer_id": message["peer_id"], "content": message["content"],
            "metadata": message.get("metadata") or {}, "created_at": message.get("created_at")}


def send_batch(target: Api, route: str, batch: list[dict[str, Any]], first_id: str, counts: Counts) -> None:
    """One write of at most 100 messages. It is never sent again blindly (Honcho takes no `Idempotency-Key`):
    after a failed try the target's message count says whether the write was stored (its answer lost) or not
    (send it again). The key, from the source's first message id, still makes honcho-local store it once."""
    digest = hashlib.sha256(f"{route}\n{first_id}\n{len(batch)}".encode()).hexdigest()
    headers = {"Idempotency-Key": f"honcho-local-transfer-{digest}"}
    before = message_at(target, route + "/list", 0)[0]
    for attempt in range(target.backoff.retries + 1):
        try:
            target.request("POST", route, {"messages": batch}, headers=headers, retries=0)
            break
        except HonchoClientError as exc:
            if not exc.retryable or attempt == target.backoff.retries:
                raise
            target.sleep(target.backoff.delay(attempt, None))
            held = message_at(target, route + "/list", 0)[0]
            if held == before + len(batch):
                break
            if held != before:
                raise Diverged(f"{target.base_url}{route} went from {before} to {held} messages while a batch of "
                               f"{len(batch)} was written: another writer is adding to it; run again once it stops") from exc
    counts.messages += len(batch)


def stated(conclusion: dict[str, Any]) -> bool:
    """A conclusion a client stated (created through the API): explicit, drawn from no message."""
    return conclusion.get("level", "explicit") == "explicit" and not conclusion.get("message_ids")


def conclusion_key(c: dict[str, Any]) -> tuple[Any, ...]:
    return c["observer_id"], c["observed_id"], c.get("session_id"), c["content"]


def copy_conclusions(source: Api, target: Api, wid: str, counts: Counts) -> set[tuple[str, str]]:
    """Carry the stated conclusions the target lacks; every observer/observed pair the source has conclusions on."""
    route = path(wid, "conclusions")
    every = list(pages(source, route + "/list", {}))
    held = {conclusion_key(c) for c in pages(target, route + "/list", {})}
    missing = []
    for c in filter(stated, every):
        if conclusion_key(c) in held:
            counts.conclusions_kept += 1
            continue
        held.add(conclusion_key(c))
        missing.append({k: c[k] for k in ("content", "observer_id", "observed_id", "session_id") if c.get(k)})
    for start in range(0, len(missing), PAGE):
        target.request("POST", route, {"conclusions": missing[start:start + PAGE]})
        counts.conclusions += len(missing[start:start + PAGE])
    return {(c["observer_id"], c["observed_id"]) for c in every}


def copy_cards(source: Api, target: Api, wid: str, pairs: list[tuple[str, str]], counts: Counts) -> None:
    """Each pair's card (observer's card of observed), written where the source has one and the target's differs."""
    for observer, observed in pairs:
        params = {"target": observed} if observed != observer else None
        route = path(wid, "peers", observer, "card")
        card = source.request("GET", route, params=params).get("peer_card")
        if not card:
            continue
        if target.request("GET", route, params=params).get("peer_card") == card:
            counts.cards_kept += 1
            continue
        target.request("PUT", route, {"peer_card": card}, params=params)
        counts.cards += 1
