"""The official Python SDK (`honcho-ai` 2.7.0, the version the venv pins) in full against a live honcho-local
with the fake model (issue 35, "both SDKs in full"; the TypeScript twin is tests/ts/sdk_suite.mjs).

What "in full" means here is found by introspection, not listed by hand: every public method and property of
the SDK's network classes (Honcho, Peer, Session, ConclusionsView, WorkspaceConclusions, Scope, and their async
views HonchoAio, PeerAio, SessionAio, ConclusionsViewAio, WorkspaceConclusionsAio, ScopeAio), plus the result
objects whose methods read the network or what came back (SyncPage/AsyncPage, DialecticStreamResponse and its
async twin, SessionContext). `test_every_sdk_method_is_covered_or_excluded` fails, naming them, if any of
those is neither covered by a step below nor in EXCLUDED (each exclusion says why).

Each step drives SDK methods and asserts what they return and, after writes, what reads back (what Honcho
would give, per the Honcho v3 and 3.2 API reference). A step
declares the methods it covers; while the scenario runs, every SDK member is wrapped to record its calls, so a
declared method that was never called fails its step, and a method counts as covered only when its step
passed. The async views mirror the sync classes, so one scenario runs twice, written once against a `Ctx`
that makes each call awaitable: with the sync client (`Sync` wraps the sync objects) and with `.aio` (the
async views; a declared `Peer.chat` is then `PeerAio.chat`).

Reasoning is off, so the only conclusions are the ones the steps write; the model is tests/fake_model.py
`FactEcho`: a chat answers "seen: FACT-..." with the FACT-* markers its prompt held, so an answer shows what
the server recalled. Waits poll the queue status (or a scope's status); nothing sleeps for a fixed time and
nothing asserts on wall-clock time."""

from __future__ import annotations

import asyncio
import functools
import inspect
import io
import json
import traceback
import uuid
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import honcho
import pytest
from honcho import (
    AsyncDialecticStreamResponse,
    AsyncPage,
    ConclusionsView,
    ConclusionsViewAio,
    DialecticStreamResponse,
    Honcho,
    HonchoAio,
    Message,
    Peer,
    PeerAio,
    Scope,
    ScopeAio,
    Session,
    SessionAio,
    SessionContext,
    SyncPage,
    WorkspaceConclusions,
    WorkspaceConclusionsAio,
)
from honcho.api_types import (
    DreamConfiguration,
    PeerConfig,
    PeerContextResponse,
    QueueStatusResponse,
    ReasoningConfiguration,
    SessionConfiguration,
    SessionPeerConfig,
    SummaryConfiguration,
    WorkspaceConfiguration,
)
from honcho.conclusions import Conclusion, ConclusionCreateParams
from honcho.http.exceptions import (
    APIError,
    BadRequestError,
    ConflictError,
    NotFoundError,
    UnprocessableEntityError,
)
from honcho.types import ChatResponse
from pydantic import BaseModel

from tests.conftest import CLIENT_TIMEOUT_S, LiveServer
from tests.fake_model import FakeModel

SDK_VERSION = "2.7.0"

# ---- what "every method" is ------------------------------------------------------------------------
NETWORK_CLASSES: tuple[type, ...] = (
    Honcho, Peer, Session, ConclusionsView, WorkspaceConclusions, Scope,
    HonchoAio, PeerAio, SessionAio, ConclusionsViewAio, WorkspaceConclusionsAio, ScopeAio)
# what the network classes return, whose methods fetch more (pages), read the stream, or shape what came back
RESULT_CLASSES: tuple[type, ...] = (SyncPage, AsyncPage, DialecticStreamResponse, AsyncDialecticStreamResponse,
                                    SessionContext)
ASYNC_TWIN: dict[str, str] = {
    "Honcho": "HonchoAio", "Peer": "PeerAio", "Session": "SessionAio", "ConclusionsView": "ConclusionsViewAio",
    "WorkspaceConclusions": "WorkspaceConclusionsAio", "Scope": "ScopeAio", "SyncPage": "AsyncPage",
    "DialecticStreamResponse": "AsyncDialecticStreamResponse"}

# Members neither driven nor asserted, each with why. Only members that make no request, or that the server
# genuinely does not serve, belong here.
EXCLUDED: dict[str, str] = {
    # `uid` is a cached field (no request) filled from an optional `uid` in the workspace/peer/session
    # response. honcho-local does not send one, nor does the Honcho server the reference describes (3.0.12,
    # honcho-v3.md §2.5/§2.7: "Optional fields the SDK reads, which server 3.0.12 does not emit: uid"); the
    # SDK documents it as None on such servers, so there is nothing to assert but None.
    "Honcho.uid": "no request; the server sends no `uid` (nor does Honcho 3.0.12): always None",
    "Peer.uid": "no request; the server sends no `uid` (nor does Honcho 3.0.12): always None",
    "Session.uid": "no request; the server sends no `uid` (nor does Honcho 3.0.12): always None",
}
MIN_COVERED = 187  # 190 members found in honcho-ai 2.7.0, less the 3 exclusions


PYDANTIC_API = frozenset(dir(BaseModel))


def _members(cls: type) -> dict[str, str]:
    """Public members `cls` defines or inherits from the SDK's own classes: name -> 'method' | 'property'.
    Pydantic's BaseModel API (including the `model_post_init` pydantic writes into a model with private
    attributes), ABC, Generic and object are not the SDK's."""
    found: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not klass.__module__.startswith("honcho"):
            continue
        for name, value in vars(klass).items():
            if name.startswith("_") or name in PYDANTIC_API:
                continue
            if isinstance(value, property):
                found[name] = "property"
            elif inspect.isfunction(value):
                found[name] = "method"
            elif isinstance(value, (classmethod, staticmethod)):
                raise AssertionError(f"{cls.__name__}.{name}: a {type(value).__name__}; this suite wraps "
                                     "functions and properties only")
            else:
                found.pop(name, None)  # a plain class attribute shadowing an inherited member
    return found


def sdk_members() -> dict[str, tuple[type, str, str]]:
    """'Class.member' -> (class, member, kind) for every class in NETWORK_CLASSES + RESULT_CLASSES."""
    return {f"{cls.__name__}.{name}": (cls, name, kind)
            for cls in NETWORK_CLASSES + RESULT_CLASSES for name, kind in _members(cls).items()}


# ---- recording calls -----------------------------------------------------------------------------------
SEEN: set[str] = set()  # members called since the current step began


def _wrap_function(fn: Callable[..., Any], key: str) -> Callable[..., Any]:
    @functools.wraps(fn)
    def recorded(*args: Any, **kwargs: Any) -> Any:  # an async member: records the call, returns its coroutine
        SEEN.add(key)
        return fn(*args, **kwargs)
    return recorded


def _wrap_property(prop: property, key: str) -> property:
    def fget(self: Any) -> Any:
        SEEN.add(key)
        return prop.fget(self)  # type: ignore[misc]
    return property(fget, prop.fset, prop.fdel, prop.__doc__)


@dataclass
class Recorder:
    """Every SDK member wrapped to record its calls in SEEN; `restore()` puts the classes back as they were."""
    saved: list[tuple[type, str, Any, bool]] = field(default_factory=list)

    def install(self) -> Recorder:
        for key, (cls, name, kind) in sdk_members().items():
            static = inspect.getattr_static(cls, name)
            self.saved.append((cls, name, vars(cls).get(name), name in vars(cls)))
            setattr(cls, name, _wrap_property(static, key) if kind == "property" else _wrap_function(static, key))
        return self

    def restore(self) -> None:
        for cls, name, original, own in reversed(self.saved):
            if own:
                setattr(cls, name, original)
            else:
                delattr(cls, name)
        self.saved.clear()


# ---- one scenario for both clients --------------------------------------------------------------------
class Sync:
    """A sync SDK object whose methods return awaitables, so the scenario reads the same in both modes."""

    def __init__(self, target: Any) -> None:
        self._target = target

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        if not callable(value):
            return value

        async def call(*args: Any, **kwargs: Any) -> Any:
            return value(*args, **kwargs)
        return call


@dataclass
class Ctx:
    mode: str  # "sync" | "async"
    url: str
    honcho: Honcho
    state: dict[str, Any] = field(default_factory=dict)

    @property
    def is_async(self) -> bool:
        return self.mode == "async"

    @property
    def W(self) -> str:
        return self.honcho.workspace_id

    def v(self, obj: Any) -> Any:
        """The object to call network methods on: its async view, or the object itself made awaitable."""
        return obj.aio if self.is_async else Sync(obj)

    def wc(self) -> Any:
        """The workspace conclusions: `honcho.aio.conclusions` (async) or `honcho.conclusions`."""
        return self.honcho.aio.conclusions if self.is_async else Sync(self.honcho.conclusions)

    def client(self, workspace_id: str) -> Honcho:
        return Honcho(base_url=self.url, workspace_id=workspace_id, max_retries=0, timeout=CLIENT_TIMEOUT_S)

    def translate(self, name: str) -> str:
        """A declared member as this mode calls it: `Peer.chat` is `PeerAio.chat` with the async views."""
        owner, member = name.split(".")
        twin = ASYNC_TWIN.get(owner)
        if self.is_async and twin and member in _members(getattr(honcho, twin)):
            return f"{twin}.{member}"
        return name

    @staticmethod
    async def all(page: SyncPage | AsyncPage) -> list[Any]:
        """Every item of every page (the pages fetched through the page's own iteration)."""
        if isinstance(page, AsyncPage):
            return [item async for item in page]
        return list(page)

    @staticmethod
    async def next_page(page: SyncPage | AsyncPage) -> Any:
        found = page.get_next_page()
        return await found if inspect.isawaitable(found) else found

    @staticmethod
    async def chunks(stream: DialecticStreamResponse | AsyncDialecticStreamResponse) -> list[str]:
        if isinstance(stream, AsyncDialecticStreamResponse):
            return [chunk async for chunk in stream]
        return list(stream)

    async def idle(self) -> QueueStatusResponse:
        """Poll the workspace queue until nothing is pending or in progress (messages embedded)."""
        for _ in range(6000):
            status = await self.v(self.honcho).queue_status()
            if status.pending_work_units == 0 and status.in_progress_work_units == 0:
                return status
            await asyncio.sleep(0.1)
        raise AssertionError(f"queue did not drain: {status}")

    async def settled(self, scope: Scope) -> dict[str, Any]:
        """Poll a scope's status until no backfill is pending."""
        for _ in range(6000):
            status = await self.v(scope).status()
            if all(job.state != "pending" for job in status.values()):
                return status
            await asyncio.sleep(0.1)
        raise AssertionError(f"scope {scope.id} backfill did not settle: {status}")


@dataclass
class Step:
    name: str
    calls: tuple[str, ...]
    fn: Callable[[Ctx], Awaitable[None]]
    modes: tuple[str, ...]


STEPS: list[Step] = []


def step(name: str, calls: list[str], modes: tuple[str, ...] = ("sync", "async")):
    def register(fn: Callable[[Ctx], Awaitable[None]]) -> Callable[[Ctx], Awaitable[None]]:
        STEPS.append(Step(name, tuple(calls), fn, modes))
        return fn
    return register


async def refused(call: Awaitable[Any], status: int, kind: type[Exception] = APIError, detail: str | None = None):
    """`call` fails with HTTP `status` as the SDK's typed error `kind` (and `detail` in its message)."""
    try:
        await call
    except APIError as err:
        assert err.status == status, f"expected {status}, got {err.status}: {err.message}"
        assert isinstance(err, kind), f"expected {kind.__name__}, got {type(err).__name__}"
        if detail:
            assert detail.lower() in err.message.lower(), err.message
        return err
    raise AssertionError(f"expected HTTP {status}, the call succeeded")


def in_honcho_order(rows: list[Any]) -> None:
    """Evidence rows oldest first, ties by id, each once (Honcho's EvidenceAccumulator order)."""
    keys = [(row.created_at, row.id) for row in rows]
    assert keys == sorted(set(keys)), f"evidence out of order: {keys}"


def facts(text: str | None) -> list[str]:
    return sorted({word.strip(".,:;\"'") for word in (text or "").split() if word.startswith("FACT-")})



class Seen(BaseModel):
    seen: list[str]


SEEN_SCHEMA = {"type": "object", "properties": {"seen": {"type": "array", "items": {"type": "string"}}},
               "required": ["seen"]}


# ---- the steps ---------------------------------------------------------------------------------------
@step("workspace: metadata, configuration, refresh, listing",
      ["Honcho.base_url", "Honcho.set_metadata", "Honcho.get_metadata", "Honcho.set_configuration",
       "Honcho.get_configuration", "Honcho.refresh", "Honcho.metadata", "Honcho.configuration", "Honcho.workspaces"])
async def _workspace(c: Ctx) -> None:
    h, W = c.honcho, c.W
    assert h.base_url == c.url
    await c.v(h).set_metadata({"team": "py", "run": W})
    assert await c.v(h).get_metadata() == {"team": "py", "run": W}
    assert h.metadata == {"team": "py", "run": W}
    await c.v(h).set_configuration(WorkspaceConfiguration(reasoning=ReasoningConfiguration(enabled=False)))
    conf = await c.v(h).get_configuration()
    assert isinstance(conf, WorkspaceConfiguration) and conf.reasoning and conf.reasoning.enabled is False
    other = c.client(W)  # a second client: nothing cached until refresh() reads the workspace back
    assert other.metadata is None and other.configuration is None
    await c.v(other).refresh()
    assert other.metadata == {"team": "py", "run": W}
    cached = other.configuration  # the sync refresh() caches a dict (the SDK's mixin), the async view a model
    cached = WorkspaceConfiguration.model_validate(cached) if isinstance(cached, dict) else cached
    assert cached.reasoning and cached.reasoning.enabled is False
    ids = await c.all(await c.v(h).workspaces())
    assert W in ids and all(isinstance(i, str) for i in ids)
    mine = await c.v(h).workspaces(filters={"metadata": {"team": "py", "run": W}})
    assert await c.all(mine) == [W]


@step("peers: create, metadata, configuration, refresh, pages, filters, order",
      ["Honcho.peer", "Honcho.peers", "Peer.get_metadata", "Peer.set_metadata", "Peer.get_configuration",
       "Peer.set_configuration", "Peer.refresh", "Peer.metadata", "Peer.configuration", "Peer.created_at",
       "SyncPage.items", "SyncPage.total", "SyncPage.page", "SyncPage.size", "SyncPage.pages",
       "SyncPage.has_next_page", "SyncPage.get_next_page"])
async def _peers(c: Ctx) -> None:
    h = c.honcho
    alice = await c.v(h).peer("alice", metadata={"role": "user"})
    assert isinstance(alice, Peer) and alice.id == "alice" and alice.workspace_id == c.W
    assert alice.metadata == {"role": "user"}
    assert isinstance(alice.created_at, datetime) and alice.created_at.tzinfo is not None
    bob, carol = await c.v(h).peer("bob"), await c.v(h).peer("carol")
    c.state.update(alice=alice, bob=bob, carol=carol)
    assert await c.v(alice).get_metadata() == {"role": "user"}
    assert await c.v(bob).get_metadata() == {}
    await c.v(bob).set_metadata({"role": "assistant", "n": 2})
    assert await c.v(bob).get_metadata() == {"role": "assistant", "n": 2}
    await c.v(carol).set_configuration(PeerConfig(observe_me=False))
    conf = await c.v(carol).get_configuration()
    assert isinstance(conf, PeerConfig) and conf.observe_me is False
    again = await c.v(h).peer("bob")  # get-or-create: the peer as it is
    assert again.metadata == {"role": "assistant", "n": 2}
    await c.v(bob).set_metadata({"role": "assistant", "n": 3})
    assert again.metadata == {"role": "assistant", "n": 2}  # cached until refreshed
    await c.v(again).refresh()
    assert again.metadata == {"role": "assistant", "n": 3}
    assert isinstance(again.configuration, PeerConfig) and again.configuration.observe_me is not False
    stale = await c.v(h).peer("carol")
    await c.v(stale).refresh()
    assert stale.configuration == PeerConfig(observe_me=False)
    page = await c.v(h).peers(size=2)
    assert (page.total, page.page, page.size, page.pages, len(page.items)) == (3, 1, 2, 2, 2)
    assert page.has_next_page()
    assert [p.id for p in page.items] == ["alice", "bob"]  # created_at ascending
    nxt = await c.next_page(page)
    assert [p.id for p in nxt.items] == ["carol"] and nxt.page == 2 and not nxt.has_next_page()
    assert await c.next_page(nxt) is None
    assert [p.id for p in await c.all(page)] == ["alice", "bob", "carol"]
    assert all(isinstance(p, Peer) for p in page.items)
    assert [p.id for p in (await c.v(h).peers(reverse=True)).items] == ["carol", "bob", "alice"]
    assistants = await c.v(h).peers(filters={"metadata": {"role": "assistant"}})
    assert [p.id for p in assistants.items] == ["bob"] and assistants.items[0].metadata["n"] == 3


@step("sessions and their peers",
      ["Honcho.session", "Honcho.sessions", "Session.add_peers", "Session.peers", "Session.get_peer_configuration",
       "Session.set_peer_configuration", "Session.remove_peers", "Session.set_peers", "Session.set_metadata",
       "Session.get_metadata", "Session.set_configuration", "Session.get_configuration", "Session.refresh",
       "Session.metadata", "Session.configuration", "Session.is_active", "Session.created_at", "Peer.sessions"])
async def _sessions(c: Ctx) -> None:
    h, alice, bob, carol = c.honcho, c.state["alice"], c.state["bob"], c.state["carol"]
    s1 = await c.v(h).session("s1", metadata={"topic": "hobbies"})
    assert isinstance(s1, Session) and s1.id == "s1" and s1.metadata == {"topic": "hobbies"}
    assert s1.is_active is True and isinstance(s1.created_at, datetime)
    c.state["s1"] = s1
    await c.v(s1).add_peers([alice, bob, carol])
    members = await c.v(s1).peers()
    assert sorted(p.id for p in members) == ["alice", "bob", "carol"] and all(isinstance(p, Peer) for p in members)
    await c.v(s1).set_peer_configuration(bob, SessionPeerConfig(observe_others=True, observe_me=False))
    conf = await c.v(s1).get_peer_configuration("bob")
    assert isinstance(conf, SessionPeerConfig) and (conf.observe_others, conf.observe_me) == (True, False)
    await c.v(s1).remove_peers("carol")
    assert sorted(p.id for p in await c.v(s1).peers()) == ["alice", "bob"]
    s2 = await c.v(h).session("s2")
    c.state["s2"] = s2
    stale = await c.v(h).session("s2")
    await c.v(s2).set_peers(["alice", "carol"])
    assert sorted(p.id for p in await c.v(s2).peers()) == ["alice", "carol"]
    await c.v(s2).set_peers([alice, bob])
    assert sorted(p.id for p in await c.v(s2).peers()) == ["alice", "bob"]
    assert await c.v(s1).get_metadata() == {"topic": "hobbies"}
    await c.v(s2).set_metadata({"topic": "pets"})
    assert await c.v(s2).get_metadata() == {"topic": "pets"}
    await c.v(s2).set_configuration(SessionConfiguration(summary=SummaryConfiguration(enabled=False)))
    got = await c.v(s2).get_configuration()
    assert isinstance(got, SessionConfiguration) and got.summary and got.summary.enabled is False
    assert stale.metadata == {}
    await c.v(stale).refresh()
    assert stale.metadata == {"topic": "pets"} and stale.is_active is True
    assert isinstance(stale.configuration, SessionConfiguration) and stale.configuration.summary.enabled is False
    listed = await c.v(h).sessions()
    assert [s.id for s in listed.items] == ["s1", "s2"] and all(s.is_active for s in listed.items)
    pets = await c.v(h).sessions(filters={"metadata": {"topic": "pets"}})
    assert [s.id for s in pets.items] == ["s2"]
    # as in Honcho (crud.get_sessions_for_peer): every session the peer joined, sessions it left included
    assert sorted(s.id for s in await c.all(await c.v(carol).sessions())) == ["s1", "s2"]
    assert sorted(s.id for s in await c.all(await c.v(alice).sessions())) == ["s1", "s2"]
    hobbies = await c.v(alice).sessions(filters={"metadata": {"topic": "hobbies"}})
    assert [s.id for s in hobbies.items] == ["s1"]


@step("messages: create, batch, list, pages, filters, get, update",
      ["Peer.message", "Session.add_messages", "Session.messages", "Session.get_message", "Session.update_message"])
async def _messages(c: Ctx) -> None:
    alice, bob, s1, s2 = (c.state[k] for k in ("alice", "bob", "s1", "s2"))
    when = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    one = await c.v(s1).add_messages(alice.message("I keep bees on my roof FACT-bees", metadata={"mood": "happy"},
                                                   created_at="2024-01-02T03:04:05Z"))
    assert len(one) == 1 and isinstance(one[0], Message)
    m = one[0]
    assert (m.peer_id, m.session_id, m.workspace_id, m.metadata) == ("alice", "s1", c.W, {"mood": "happy"})
    assert m.created_at == when and m.token_count > 0 and len(m.id) == 21
    batch = await c.v(s1).add_messages([
        bob.message("That sounds like a lot of honey"),
        alice.message("It is, and I play the oboe too FACT-oboe"),
        bob.message("I play the cello every evening FACT-cello", metadata={"mood": "calm"}),
        alice.message("My cat Miso sleeps on the piano FACT-miso"),
    ])
    assert [x.peer_id for x in batch] == ["bob", "alice", "bob", "alice"]
    assert len({x.id for x in one + batch}) == 5 and all(x.metadata == {} for x in batch if x is not batch[2])
    c.state["s1_messages"] = msgs = one + batch
    await c.v(s2).add_messages([alice.message("Today I adopted a parrot FACT-parrot"), bob.message("Congratulations")])
    page = await c.v(s1).messages(size=2)
    assert (page.total, page.pages) == (5, 3)
    assert [x.id for x in page.items] == [x.id for x in msgs[:2]]
    assert [x.content for x in await c.all(page)] == [x.content for x in msgs]
    newest = await c.v(s1).messages(reverse=True, size=1)
    assert newest.items[0].id == msgs[4].id
    bobs = await c.v(s1).messages(filters={"peer_id": "bob"})
    assert [x.id for x in bobs.items] == [batch[0].id, batch[2].id]
    calm = await c.v(s1).messages(filters={"metadata": {"mood": "calm"}})
    assert [x.id for x in calm.items] == [batch[2].id]
    old = await c.v(s1).messages(filters={"created_at": {"lte": "2024-12-31T00:00:00Z"}})
    assert [x.content for x in old.items] == ["I keep bees on my roof FACT-bees"]
    got = await c.v(s1).get_message(batch[1].id)
    assert (got.content, got.peer_id) == ("It is, and I play the oboe too FACT-oboe", "alice")
    updated = await c.v(s1).update_message(got, {"starred": True})
    assert updated.metadata == {"starred": True} and updated.content == got.content and updated.id == got.id
    assert (await c.v(s1).get_message(batch[1].id)).metadata == {"starred": True}
    by_id = await c.v(s1).update_message(batch[3].id, {"a": [1, 2]})
    assert by_id.metadata == {"a": [1, 2]}
    await refused(c.v(s1).get_message("no-such-message"), 404, NotFoundError, "not found")


@step("queue status: workspace and session, filtered",
      ["Honcho.queue_status", "Session.queue_status"])
async def _queue(c: Ctx) -> None:
    s1, alice, bob = c.state["s1"], c.state["alice"], c.state["bob"]
    status = await c.idle()
    assert isinstance(status, QueueStatusResponse)
    assert status.pending_work_units == 0 and status.total_work_units >= status.completed_work_units
    per_session = await c.v(s1).queue_status()
    assert isinstance(per_session, QueueStatusResponse) and per_session.pending_work_units == 0
    assert (await c.v(s1).queue_status(observer="alice", sender=bob)).in_progress_work_units == 0
    assert (await c.v(c.honcho).queue_status(observer=alice, sender=bob, session=s1)).pending_work_units == 0


@step("conclusions: create, get, get_many, list, query, derived, representation, delete; workspace-wide",
      ["Peer.conclusions", "Peer.conclusions_of", "ConclusionsView.create", "ConclusionsView.get",
       "ConclusionsView.get_many", "ConclusionsView.list", "ConclusionsView.query", "ConclusionsView.derived",
       "ConclusionsView.representation", "ConclusionsView.delete", "Honcho.conclusions",
       "WorkspaceConclusions.list", "WorkspaceConclusions.get", "WorkspaceConclusions.get_many"])
async def _conclusions(c: Ctx) -> None:
    alice, bob, s1 = c.state["alice"], c.state["bob"], c.state["s1"]
    mine = alice.conclusions
    assert isinstance(mine, ConclusionsView) and (mine.observer, mine.observed) == ("alice", "alice")
    assert isinstance(c.honcho.conclusions, WorkspaceConclusions)
    made = await c.v(mine).create([
        {"content": "alice keeps bees on her roof FACT-bees", "session_id": s1.id},
        ConclusionCreateParams(content="alice plays the oboe FACT-oboe", session_id="s1"),
        {"content": "alice adopted a parrot FACT-parrot", "session_id": "s2"},
        {"content": "alice dislikes rain FACT-rain"},
    ])
    assert len(made) == 4 and all(isinstance(x, Conclusion) for x in made)
    for x in made:
        assert (x.observer_id, x.observed_id, x.level, x.source_ids, x.times_derived) == (
            "alice", "alice", "explicit", None, 1), vars(x)
        assert isinstance(x.created_at, datetime)
    assert [x.session_id for x in made] == ["s1", "s1", "s2", None]
    c.state["conclusions"] = made
    of_bob = alice.conclusions_of(bob)
    assert (of_bob.observer, of_bob.observed) == ("alice", "bob")
    [about_bob] = await c.v(of_bob).create([{"content": "bob plays the cello FACT-cello", "session_id": "s1"}])
    assert (about_bob.observer_id, about_bob.observed_id, about_bob.session_id) == ("alice", "bob", "s1")
    c.state["about_bob"] = about_bob
    got = await c.v(mine).get(made[1].id)
    assert (got.id, got.content, got.session_id) == (made[1].id, "alice plays the oboe FACT-oboe", "s1")
    await refused(c.v(mine).get(about_bob.id), 404, NotFoundError)  # another pair's conclusion
    many = await c.v(mine).get_many([made[0].id, made[2].id, "no-such-conclusion", about_bob.id])
    assert sorted(x.id for x in many) == sorted([made[0].id, made[2].id])  # missing and other pairs omitted
    assert await c.v(mine).get_many([]) == []
    listed = await c.v(mine).list(size=3)
    assert (listed.total, len(listed.items), listed.pages) == (4, 3, 2)
    everything = await c.all(listed)
    assert sorted(x.id for x in everything) == sorted(x.id for x in made)
    stamps = [x.created_at for x in everything]
    assert stamps == sorted(stamps, reverse=True)  # newest first, as Honcho lists conclusions
    in_s1 = await c.v(mine).list(session=s1)
    assert sorted(x.id for x in in_s1.items) == sorted([made[0].id, made[1].id])
    picked = await c.v(mine).list(filters={"level": "explicit", "id": {"in": [made[2].id]}})
    assert [x.content for x in picked.items] == ["alice adopted a parrot FACT-parrot"]
    assert (await c.v(mine).list(filters={"level": "deductive"})).total == 0
    with pytest.raises(ValueError, match="managed by this conclusions view"):
        await c.v(mine).list(filters={"observer_id": "bob"})
    hits = await c.v(mine).query("bees on the roof", 2)
    assert 1 <= len(hits) <= 2 and hits[0].id == made[0].id
    near = await c.v(mine).query("parrot", 5, 1.0, filters={"session_id": "s2"})
    assert [x.content for x in near] == ["alice adopted a parrot FACT-parrot"]
    derived = await c.v(mine).derived(made[0].id)
    assert derived.total == 0 and derived.items == []  # only explicit conclusions exist: nothing derived
    assert (await c.v(mine).derived("no-such-conclusion")).total == 0
    rep = await c.v(mine).representation()
    assert {"FACT-bees", "FACT-oboe", "FACT-parrot", "FACT-rain"} <= set(facts(rep)) and "FACT-cello" not in rep
    focused = await c.v(mine).representation(search_query="oboe", search_top_k=1, max_conclusions=1)
    assert facts(focused) == ["FACT-oboe"]
    assert facts(await c.v(of_bob).representation()) == ["FACT-cello"]
    ws = c.wc()
    everyone = await ws.list()
    assert everyone.total == 5 and isinstance(everyone.items[0], Conclusion)
    assert [x.content for x in (await ws.list(filters={"observed_id": "bob"})).items] == [
        "bob plays the cello FACT-cello"]
    assert (await ws.list(size=2, reverse=True)).items[0].created_at <= everyone.items[0].created_at
    assert (await ws.get(about_bob.id)).observed_id == "bob"
    assert sorted(x.id for x in await ws.get_many([about_bob.id, made[3].id])) == sorted([about_bob.id, made[3].id])
    assert await c.v(mine).delete(made[3].id) is None
    await refused(c.v(mine).get(made[3].id), 404, NotFoundError)
    await refused(ws.get(made[3].id), 404, NotFoundError)
    assert (await c.v(mine).list()).total == 3 and (await ws.list()).total == 4


@step("peer cards: set, get, deprecated card(), per target",
      ["Peer.set_card", "Peer.get_card", "Peer.card"])
async def _cards(c: Ctx) -> None:
    alice, bob, carol = c.state["alice"], c.state["bob"], c.state["carol"]
    card = ["Beekeeper FACT-beekeeper", "Lives in Lisbon"]
    assert await c.v(alice).set_card(card) == card
    assert await c.v(alice).get_card() == card
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert await c.v(alice).card() == card
    assert any(issubclass(w.category, DeprecationWarning) for w in caught)
    assert await c.v(alice).set_card(["Plays cello"], bob) == ["Plays cello"]
    assert await c.v(alice).get_card(bob) == ["Plays cello"]
    assert await c.v(alice).get_card() == card  # the self card is its own
    assert await c.v(carol).get_card() is None


@step("representation and context: peer, session, options, SessionContext conversions, summaries",
      ["Peer.representation", "Session.representation", "Peer.context", "Session.context", "Session.summaries",
       "SessionContext.to_openai", "SessionContext.to_anthropic"])
async def _context(c: Ctx) -> None:
    alice, bob, s1, s2 = (c.state[k] for k in ("alice", "bob", "s1", "s2"))
    msgs = c.state["s1_messages"]
    rep = await c.v(alice).representation()
    assert facts(rep) == ["FACT-bees", "FACT-oboe", "FACT-parrot"]  # FACT-rain deleted; about bob: not here
    assert facts(await c.v(alice).representation(session=s2)) == ["FACT-parrot"]
    assert facts(await c.v(alice).representation(sessions=[s2, "s1"])) == ["FACT-bees", "FACT-oboe", "FACT-parrot"]
    assert facts(await c.v(alice).representation(sessions=["s2"])) == ["FACT-parrot"]
    searched = await c.v(alice).representation(search_query="oboe", search_top_k=1, max_conclusions=1)
    assert facts(searched) == ["FACT-oboe"]
    assert facts(await c.v(alice).representation(target=bob)) == ["FACT-cello"]
    few = await c.v(alice).representation(include_most_frequent=True, max_conclusions=1)
    assert len(facts(few)) == 1, few
    near = await c.v(alice).representation(search_query="parrot", search_max_distance=1.0, search_top_k=1,
                                           max_conclusions=1)
    assert facts(near) == ["FACT-parrot"]
    in_s1 = await c.v(s1).representation(alice)
    assert facts(in_s1) == ["FACT-bees", "FACT-oboe"]
    assert facts(await c.v(s1).representation("alice", target=bob)) == ["FACT-cello"]
    assert facts(await c.v(s1).representation(alice, search_query="oboe", search_top_k=1, max_conclusions=1)) == [
        "FACT-oboe"]
    ctx = await c.v(alice).context()
    assert isinstance(ctx, PeerContextResponse) and (ctx.peer_id, ctx.target_id) == ("alice", "alice")
    assert "FACT-oboe" in ctx.representation and ctx.peer_card == ["Beekeeper FACT-beekeeper", "Lives in Lisbon"]
    of_bob = await c.v(alice).context(target=bob, search_query="cello", search_top_k=3, max_conclusions=5)
    assert of_bob.target_id == "bob" and facts(of_bob.representation) == ["FACT-cello"]
    assert of_bob.peer_card == ["Plays cello"]
    sctx = await c.v(s1).context(tokens=2000, peer_target="alice", summary=True)
    assert isinstance(sctx, SessionContext) and sctx.session_id == "s1" and sctx.summary is None
    assert [m.id for m in sctx.messages] == [m.id for m in msgs]
    assert facts(sctx.peer_representation) == ["FACT-bees", "FACT-oboe", "FACT-parrot"]
    assert sctx.peer_card == ["Beekeeper FACT-beekeeper", "Lives in Lisbon"]
    openai = sctx.to_openai(assistant=bob)  # the representation and card as system messages, then the turns
    assert [m["role"] for m in openai] == ["system", "system", "user", "assistant", "user", "assistant", "user"]
    assert openai[0]["content"].startswith("<peer_representation>") and "FACT-bees" in openai[0]["content"]
    assert openai[6] == {"role": "user", "name": "alice", "content": msgs[4].content}
    anthropic = sctx.to_anthropic(assistant="bob")
    assert [m["role"] for m in anthropic].count("assistant") == 2
    assert anthropic[-1] == {"role": "user", "content": f"alice: {msgs[4].content}"}
    small = await c.v(s1).context(tokens=20)
    assert 1 <= len(small.messages) < 5 and small.messages[-1].id == msgs[4].id  # the newest kept
    assert small.peer_representation is None and small.peer_card is None
    limited = await c.v(s1).context(peer_target="alice", limit_to_session=True)
    assert facts(limited.peer_representation) == ["FACT-bees", "FACT-oboe"]
    allow = await c.v(s1).context(peer_target="alice", sessions=[s1, s2])
    assert "FACT-parrot" in allow.peer_representation
    assert allow.peer_card is None  # a session allowlist leaves the card out, as in Honcho
    perspective = await c.v(s1).context(peer_target="bob", peer_perspective="alice", search_query="cello",
                                        search_top_k=3, search_max_distance=1.0, include_most_frequent=True,
                                        max_conclusions=5)
    assert facts(perspective.peer_representation) == ["FACT-cello"] and perspective.peer_card == ["Plays cello"]
    from_message = await c.v(s1).context(peer_target="alice", search_query=msgs[2], search_top_k=1,
                                         max_conclusions=1, summary=False)
    assert facts(from_message.peer_representation) == ["FACT-oboe"]  # a Message searches by its content
    # the allowlist must include the session itself (the server's 422; the SDK sends it as is)
    await refused(c.v(s1).context(peer_target="alice", sessions=[s2]), 422, UnprocessableEntityError)
    summaries = await c.v(s1).summaries()
    assert (summaries.id, summaries.short_summary, summaries.long_summary) == ("s1", None, None)  # summaries off


@step("search: workspace, peer, session, with filters and limits",
      ["Honcho.search", "Peer.search", "Session.search"])
async def _search(c: Ctx) -> None:
    alice, bob, s1, s2 = (c.state[k] for k in ("alice", "bob", "s1", "s2"))
    await c.idle()
    ws = await c.v(c.honcho).search("cello every evening", limit=3)
    assert 1 <= len(ws) <= 3 and isinstance(ws[0], Message) and "FACT-cello" in ws[0].content
    calm = await c.v(c.honcho).search("cello", filters={"metadata": {"mood": "calm"}})
    assert [m.content for m in calm] == ["I play the cello every evening FACT-cello"]
    only_s1 = await c.v(c.honcho).search("piano cat", filters={"session_id": "s1"})
    assert only_s1 and all(m.session_id == "s1" for m in only_s1)
    by_bob = await c.v(bob).search("cello")
    assert by_bob and all(m.peer_id == "bob" for m in by_bob)
    by_alice = await c.v(alice).search("bees roof", limit=5)
    assert 1 <= len(by_alice) <= 5 and all(m.peer_id == "alice" for m in by_alice)
    assert "FACT-bees" in by_alice[0].content
    in_s2 = await c.v(s2).search("parrot")
    assert in_s2 and all(m.session_id == "s2" for m in in_s2) and "FACT-parrot" in in_s2[0].content
    alice_in_s1 = await c.v(s1).search("honey", filters={"peer_id": "alice"}, limit=2)
    assert len(alice_in_s1) <= 2 and all(m.peer_id == "alice" and m.session_id == "s1" for m in alice_in_s1)


@step("peer chat: plain, evidence, sessions, target, level, response formats, streamed",
      ["Peer.chat", "Peer.chat_stream", "DialecticStreamResponse.get_final_response",
       "DialecticStreamResponse.evidence", "DialecticStreamResponse.is_complete"])
async def _peer_chat(c: Ctx) -> None:
    alice, bob, s2 = c.state["alice"], c.state["bob"], c.state["s2"]
    made = c.state["conclusions"]
    plain = await c.v(alice).chat("What are my hobbies?")
    assert isinstance(plain, str) and plain.startswith("seen: ")
    assert {"FACT-bees", "FACT-oboe", "FACT-parrot", "FACT-beekeeper"} <= set(facts(plain))
    assert "FACT-rain" not in plain
    answer = await c.v(alice).chat("What are my hobbies?", include_evidence=True)
    assert isinstance(answer, ChatResponse) and answer.content == plain
    ev = answer.evidence
    assert made[0].id in {x.id for x in ev.conclusions} and len(ev.conclusions) >= 3
    for x in ev.conclusions:
        assert (x.level, x.source_ids, x.observer_id) == ("explicit", [], "alice")  # no premises: explicit
        assert "FACT-" in x.content
    in_honcho_order(ev.conclusions)
    assert ev.messages and all(m.peer_id in ("alice", "bob") for m in ev.messages)
    in_honcho_order(ev.messages)
    assert ev.tool_calls == [] and ev.reasoning_trace_id is None
    confined = await c.v(alice).chat("What happened?", sessions=[s2])
    assert "FACT-parrot" in confined and "FACT-bees" not in confined and "FACT-beekeeper" not in confined
    here = await c.v(alice).chat("What happened here?", session=s2)
    assert here.startswith("seen: ") and "FACT-parrot" in here
    assert "FACT-cello" in await c.v(alice).chat("What does bob play?", target=bob)
    assert "FACT-oboe" in await c.v(alice).chat("What are my hobbies?", reasoning_level="max", timeout=600)
    typed = await c.v(alice).chat("Which facts?", response_format=Seen)
    assert isinstance(typed, Seen) and "FACT-bees" in typed.seen
    typed_ev = await c.v(alice).chat("Which facts?", response_format=Seen, include_evidence=True)
    assert isinstance(typed_ev.content, Seen) and "FACT-oboe" in typed_ev.content.seen
    assert any(x.content == "alice plays the oboe FACT-oboe" for x in typed_ev.evidence.conclusions)
    raw = await c.v(alice).chat("Which facts?", response_format=SEEN_SCHEMA)
    assert isinstance(raw, str) and "FACT-parrot" in json.loads(raw)["seen"]
    stream = await c.v(alice).chat_stream("What are my hobbies?", include_evidence=True)
    assert not stream.is_complete and stream.evidence is None  # evidence comes on the final event
    chunks = await c.chunks(stream)
    assert chunks and "".join(chunks) == plain and stream.is_complete
    assert stream.get_final_response() == {"content": plain}
    assert made[0].id in {x.id for x in stream.evidence.conclusions}
    in_honcho_order(stream.evidence.conclusions)
    again = await c.v(alice).chat_stream("What are my hobbies?")
    await c.chunks(again)
    assert again.get_final_response()["content"] == plain and again.evidence is None
    typed_stream = await c.v(alice).chat_stream("Which facts?", response_format=Seen, session="s2")
    assert "FACT-parrot" in Seen.model_validate_json("".join(await c.chunks(typed_stream))).seen
    await refused(c.v(alice).chat("x", session="no-such-session"), 404, NotFoundError)


@step("workspace chat: plain, evidence, session, response formats, streamed",
      ["Honcho.chat", "Honcho.chat_stream"])
async def _workspace_chat(c: Ctx) -> None:
    h, s1 = c.honcho, c.state["s1"]
    plain = await c.v(h).chat("Who does what?")
    assert {"FACT-bees", "FACT-cello", "FACT-oboe"} <= set(facts(plain))
    answer = await c.v(h).chat("Who plays the cello?", include_evidence=True, session=s1)
    assert isinstance(answer, ChatResponse) and answer.content.startswith("seen: ")
    assert {x.observed_id for x in answer.evidence.conclusions} >= {"alice", "bob"}
    assert answer.evidence.messages and all(m.session_id == "s1" for m in answer.evidence.messages)
    in_honcho_order(answer.evidence.conclusions)
    in_honcho_order(answer.evidence.messages)
    assert "FACT-oboe" in await c.v(h).chat("Who does what?", reasoning_level="minimal")
    typed = await c.v(h).chat("Which facts?", response_format=Seen)
    assert isinstance(typed, Seen) and "FACT-cello" in typed.seen
    raw = await c.v(h).chat("Which facts?", response_format=SEEN_SCHEMA)
    assert "FACT-cello" in json.loads(raw)["seen"]
    stream = await c.v(h).chat_stream("Who does what?")
    assert "".join(await c.chunks(stream)) == plain and stream.get_final_response() == {"content": plain}
    with_ev = await c.v(h).chat_stream("Who plays the cello?", include_evidence=True)
    assert "FACT-cello" in "".join(await c.chunks(with_ev))
    assert any(x.observed_id == "bob" for x in with_ev.evidence.conclusions)
    await refused(c.v(h).chat("x", session="no-such-session"), 404, NotFoundError)


@step("file upload: bytes, file object, metadata, configuration, created_at, refusals",
      ["Session.upload_file"])
async def _upload(c: Ctx) -> None:
    s2, alice = c.state["s2"], c.state["alice"]
    before = (await c.v(s2).messages()).total
    md = b"# Notes\n\nalice grows tomatoes FACT-tomato\n\nand basil.\n"
    made = await c.v(s2).upload_file(("notes.md", md, "text/markdown"), alice, metadata={"source": "upload"})
    assert len(made) == 1 and isinstance(made[0], Message)
    assert (made[0].peer_id, made[0].session_id, made[0].metadata) == ("alice", "s2", {"source": "upload"})
    assert "FACT-tomato" in made[0].content
    data = await c.v(s2).upload_file(("data.json", b'{"a":[1,  2]}', "application/json"), "bob")
    assert data[0].content == '{"a": [1, 2]}' and data[0].peer_id == "bob"  # parsed and dumped, as Honcho
    note = io.BytesIO(b"an old note FACT-note")
    note.name = "old.txt"  # a file object: the SDK guesses text/plain from the name
    [dated] = await c.v(s2).upload_file(note, alice, created_at="2023-05-06T07:08:09Z",
                                        configuration={"reasoning": {"enabled": False}})
    assert dated.created_at == datetime(2023, 5, 6, 7, 8, 9, tzinfo=UTC) and dated.content == "an old note FACT-note"
    assert (await c.v(s2).get_message(dated.id)).created_at == dated.created_at
    assert (await c.v(s2).messages()).total == before + 3
    await refused(c.v(s2).upload_file(("x.bin", b"\x00\x01", "image/png"), alice), 415)
    assert (await c.v(s2).messages()).total == before + 3


@step("dreams: scheduled, cards rebuilt, refusals",
      ["Honcho.schedule_dream", "Honcho.delete_workspace"])
async def _dreams(c: Ctx) -> None:
    h, alice, s1 = c.honcho, c.state["alice"], c.state["s1"]
    assert await c.v(h).schedule_dream(alice) is None
    assert await c.v(h).schedule_dream("alice", session=s1, observed="bob") is None
    await c.idle()
    # each dream rebuilt that pair's card from its live conclusions, keeping the entries a user set
    of_bob = await c.v(alice).get_card("bob")
    assert any("FACT-cello" in e for e in of_bob) and any("Plays cello" in e for e in of_bob), of_bob
    card = await c.v(alice).get_card()
    assert any(f in e for e in card for f in ("FACT-bees", "FACT-oboe", "FACT-parrot")), card
    assert any("Lives in Lisbon" in e for e in card) and not any("FACT-rain" in e for e in card), card
    await refused(c.v(h).schedule_dream("nobody"), 404, NotFoundError)
    other = c.client(f"{c.W}-nodream")
    await c.v(other).peer("zed")
    await c.v(other).set_configuration(WorkspaceConfiguration(dream=DreamConfiguration(enabled=False)))
    await refused(c.v(other).schedule_dream("zed"), 400, BadRequestError)  # dreams disabled: Honcho's 400
    assert await c.v(h).delete_workspace(f"{c.W}-nodream") is None
    assert f"{c.W}-nodream" not in await c.all(await c.v(h).workspaces())


@step("scopes: routes, membership, backfill status, and every read naming a scope",
      ["Honcho.scope", "Honcho.get_scope", "Honcho.scopes", "Scope.add_sessions", "Scope.remove_session",
       "Scope.sessions", "Scope.status", "Scope.metadata", "Scope.created_at"])
async def _scopes(c: Ctx) -> None:
    h, alice, s1, s2 = (c.honcho, *(c.state[k] for k in ("alice", "s1", "s2")))
    pets = await c.v(h).scope("pets", metadata={"kind": "animals"})
    assert isinstance(pets, Scope) and pets.id == "pets" and pets.metadata == {"kind": "animals"}
    assert isinstance(pets.created_at, datetime)
    looked_up = await c.v(h).get_scope("pets")
    assert looked_up.metadata == {"kind": "animals"} and looked_up.created_at == pets.created_at
    assert (await c.v(h).scope("pets", metadata={"kind": "other"})).metadata == {"kind": "animals"}  # get
    await c.v(h).scope("empty")
    listed = await c.v(h).scopes()
    assert [x.id for x in await c.all(listed)] == ["pets", "empty"] and listed.total == 2
    assert [x.id for x in (await c.v(h).scopes(reverse=True, size=1)).items] == ["empty"]
    assert await c.v(pets).add_sessions([s2]) is None
    members = await c.v(pets).sessions()
    assert [x.id for x in await c.all(members)] == ["s2"] and isinstance(members.items[0], Session)
    status = await c.settled(pets)
    assert list(status) == ["s2"] and status["s2"].state == "completed"
    assert status["s2"].docs_copied == 1  # alice's FACT-parrot, the one conclusion stated in s2
    await c.idle()
    rep = await c.v(alice).representation(scope="pets")
    assert facts(rep) == ["FACT-parrot"]
    assert facts(await c.v(alice).representation(scope="empty")) == []
    answer = await c.v(alice).chat("What happened?", scope="pets")
    assert "FACT-parrot" in answer and not {"FACT-bees", "FACT-oboe", "FACT-beekeeper"} & set(facts(answer))
    union = await c.v(alice).chat("What happened?", scope=["pets", "empty"])
    assert "FACT-parrot" in union and "FACT-bees" not in union
    everyone = await c.v(h).chat("Who did what?", scope="pets")
    assert "FACT-parrot" in everyone and not {"FACT-bees", "FACT-cello"} & set(facts(everyone))
    hits = await c.v(h).search("parrot bees cello", scope="pets")
    assert hits and all(m.session_id == "s2" for m in hits)
    assert await c.v(h).search("parrot bees cello", scope="empty") == []
    ctx = await c.v(s1).context(scope="pets", peer_target="alice")
    assert facts(ctx.peer_representation) == ["FACT-parrot"]
    scoped = await c.v(h).session("scoped", scopes=["fresh"])  # the scope made if missing, the session a member
    fresh = await c.v(h).get_scope("fresh")
    assert [x.id for x in await c.all(await c.v(fresh).sessions())] == [scoped.id]
    assert await c.v(pets).remove_session("s2") is None
    assert [x.id for x in await c.all(await c.v(pets).sessions())] == []
    await c.idle()
    assert facts(await c.v(alice).representation(scope="pets")) == []
    await refused(c.v(h).get_scope("nowhere"), 404, NotFoundError)
    await refused(c.v(alice).representation(scope="nowhere"), 404, NotFoundError)
    await refused(c.v(pets).add_sessions(["no-such-session"]), 404, NotFoundError)
    await refused(c.v(Scope("gone", h)).status(), 404, NotFoundError)
    with pytest.raises(ValueError, match="mutually exclusive"):  # the SDK refuses a scope beside a session
        await c.v(alice).chat("x", scope="pets", session=s1)


@step("async views: each class's .aio shares its parent's state",
      ["Honcho.aio", "Peer.aio", "Session.aio", "ConclusionsView.aio", "WorkspaceConclusions.aio", "Scope.aio",
       "Honcho.conclusions"], modes=("async",))
async def _aio_views(c: Ctx) -> None:
    h, alice, s1 = c.honcho, c.state["alice"], c.state["s1"]
    assert isinstance(h.aio, HonchoAio) and isinstance(alice.aio, PeerAio) and isinstance(s1.aio, SessionAio)
    assert isinstance(alice.conclusions.aio, ConclusionsViewAio)
    assert isinstance(h.conclusions.aio, WorkspaceConclusionsAio) and isinstance(h.aio.conclusions,
                                                                                 WorkspaceConclusionsAio)
    pets = await h.aio.get_scope("pets")
    assert isinstance(pets.aio, ScopeAio)
    await alice.aio.set_metadata({"role": "user", "via": "aio"})
    assert alice.metadata == {"role": "user", "via": "aio"}  # the view writes the parent's cache
    assert h.peer("alice").get_metadata() == {"role": "user", "via": "aio"}  # and the sync client reads it back
    await s1.aio.refresh()
    assert s1.metadata == {"topic": "hobbies"} and s1.is_active is True
    about_bob = c.state["about_bob"]
    assert (await h.aio.conclusions.get(about_bob.id)).content == about_bob.content


@step("clone and delete: sessions, workspaces, refusals",
      ["Session.clone", "Session.delete", "Honcho.delete_workspace"])
async def _clone_and_delete(c: Ctx) -> None:
    h, s1 = c.honcho, c.state["s1"]
    msgs = c.state["s1_messages"]
    whole = await c.v(s1).clone()
    assert isinstance(whole, Session) and whole.id != "s1" and whole.is_active is True
    assert [m.content for m in await c.all(await c.v(whole).messages())] == [m.content for m in msgs]
    up_to = await c.v(s1).clone(message_id=msgs[1].id)
    assert [m.content for m in await c.all(await c.v(up_to).messages())] == [m.content for m in msgs[:2]]
    assert await c.v(up_to).delete() is None
    left = [x.id for x in await c.all(await c.v(h).sessions())]
    assert up_to.id not in left and whole.id in left and "s1" in left
    # Honcho deactivates a deleted session at once and hard-deletes it through the queue; once the queue has
    # drained the id is free, and get-or-create makes a new, empty session under it
    await c.idle()
    await c.v(up_to).refresh()
    assert up_to.is_active is True and up_to.metadata == {}
    assert (await c.v(up_to).messages()).total == 0 and await c.v(up_to).peers() == []
    other = c.client(f"{c.W}-gone")
    await c.v(other).peer("temp")
    assert f"{c.W}-gone" in await c.all(await c.v(h).workspaces())
    assert await c.v(h).delete_workspace(f"{c.W}-gone") is None
    assert f"{c.W}-gone" not in await c.all(await c.v(h).workspaces())
    # as in Honcho: a workspace that still has active sessions is not deleted (409)
    await refused(c.v(h).delete_workspace(c.W), 409, ConflictError, "active session")
    assert c.W in await c.all(await c.v(h).workspaces())


# ---- running it ----------------------------------------------------------------------------------------
@dataclass
class Run:
    mode: str
    covered: set[str] = field(default_factory=set)
    failures: list[str] = field(default_factory=list)
    log: list[str] = field(default_factory=list)
    steps: int = 0


async def run_scenario(mode: str, url: str) -> Run:
    client = Honcho(base_url=url, workspace_id=f"py-{mode}-{uuid.uuid4().hex[:8]}", max_retries=0,
                    timeout=CLIENT_TIMEOUT_S)
    ctx, run = Ctx(mode, url, client), Run(mode)
    for s in STEPS:
        if mode not in s.modes:
            continue
        run.steps += 1
        expected = {ctx.translate(name) for name in s.calls}
        SEEN.clear()
        try:
            await s.fn(ctx)
            never = sorted(expected - SEEN)
            assert not never, f"declared but never called: {never}"
        except Exception:  # noqa: BLE001 - every step runs; the failures are reported together
            run.failures.append(f"{mode}: {s.name}\n{traceback.format_exc(limit=-4)}")
            run.log.append(f"FAIL  {s.name}")
        else:
            run.covered |= expected
            run.log.append(f"pass  {s.name} ({len(expected)} members)")
    return run


@pytest.fixture(scope="module")
def runs(fact_echo_server: LiveServer, fact_echo: FakeModel) -> dict[str, Run]:
    """The scenario with the sync client, then with the async views, the SDK's members recorded meanwhile."""
    before = fact_echo.answered
    recorder = Recorder().install()
    try:
        done = {mode: asyncio.run(run_scenario(mode, fact_echo_server.url)) for mode in ("sync", "async")}
    finally:
        recorder.restore()
    for run in done.values():
        print(f"-- {run.mode} --", *run.log, sep="\n")
    done["sync"].log.append(f"model calls: {fact_echo.answered - before}")
    return done


def _report(run: Run, server: LiveServer) -> str:
    return "\n\n".join(run.failures) + f"\n\nserver log tail:\n{server.log()[-3000:]}"


def test_sdk_members_found_by_introspection() -> None:
    """The pinned SDK, and an exclusion list that names only real members (a stale entry fails here)."""
    assert honcho.__version__ == SDK_VERSION
    members = sdk_members()
    for cls in NETWORK_CLASSES + RESULT_CLASSES:
        assert any(key.startswith(f"{cls.__name__}.") for key in members), cls
    assert not set(EXCLUDED) - set(members), f"exclusions that are not SDK members: {set(EXCLUDED) - set(members)}"
    assert len(members) - len(EXCLUDED) >= MIN_COVERED
    declared = {name for s in STEPS for name in s.calls}
    assert not declared - set(members), f"steps declare members the SDK lacks: {declared - set(members)}"
    assert not declared & set(EXCLUDED), f"excluded yet declared: {declared & set(EXCLUDED)}"


@pytest.mark.live
@pytest.mark.timeout(1200)  # a hang guard for both runs (the module fixture), not a speed bound
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_client_steps_pass(runs: dict[str, Run], fact_echo_server: LiveServer, mode: str) -> None:
    run = runs[mode]
    assert not run.failures, _report(run, fact_echo_server)
    assert run.steps == sum(mode in s.modes for s in STEPS)


@pytest.mark.live
@pytest.mark.timeout(1200)
def test_every_sdk_method_is_covered_or_excluded(runs: dict[str, Run]) -> None:
    members = sdk_members()
    covered = runs["sync"].covered | runs["async"].covered
    missing = sorted(set(members) - covered - set(EXCLUDED))
    assert not missing, f"{len(missing)} SDK members neither covered by a passing step nor excluded: {missing}"
    assert not covered & set(EXCLUDED)
    assert len(covered) >= MIN_COVERED, len(covered)
    print(f"ok: {len(members)} SDK members, {len(covered)} covered, {len(EXCLUDED)} excluded")
