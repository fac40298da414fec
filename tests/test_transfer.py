"""`honcho-local export` / `import` (issue 35 item 4) between live servers: a seeded workspace carried A -> B
reads back the same on B, a second run writes nothing, a run cut off mid-way (an answer lost after the
target stored the write) resumes to the same state with no duplicates, and B -> C by `import` likewise."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import jwt
import pytest
from click.testing import CliRunner

from honcho_local import transfer as moves
from honcho_local.cli import main
from honcho_local.client.http import Api, Backoff, HonchoClientError
from tests.conftest import LiveServer, start_server, stop_server
from tests.fake_model import FakeModel
from tests.test_auth_matrix import AUTH_ENV, SECRET
from tests.test_worker_live import FACTS, reasoning_env, wait_idle

WS = "carried"
START = datetime(2024, 3, 1, 9, 30, tzinfo=timezone.utc)
SESSIONS = {"trip": 18, "work": 12}
CONCLUSIONS = [("alice", "alice", "trip", "Alice is allergic to peanuts."),
               ("alice", "alice", "work", "Alice writes Rust at work."),
               ("bob", "alice", "trip", "Alice prefers window seats."),
               ("bob", "bob", None, "Bob lives in Lisbon.")]
CARDS = {("alice", "alice"): ["Name: Alice", "Allergy: peanuts"], ("bob", "alice"): ["Travel companion of Bob"]}


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, LiveServer]]:
    started: dict[str, LiveServer] = {}
    try:
        for name in "ABCDE":
            started[name] = start_server(tmp_path_factory.mktemp(f"transfer-{name}"))
        yield started
    finally:
        for srv in started.values():
            stop_server(srv)


KEYS: dict[str, str] = {}  # server URL -> the API key to read it with (servers with auth on)


def call(url: str, method: str, route: str, body: Any = None, **params: Any) -> Any:
    headers = {"Authorization": f"Bearer {KEYS[url]}"} if url in KEYS else {}
    answer = httpx.request(method, url + route, json=body, params=params, headers=headers, timeout=120)
    assert answer.is_success, answer.text
    return answer.json() if answer.content else None


def seed(url: str) -> None:
    call(url, "POST", "/v3/workspaces", {"id": WS, "metadata": {"team": "travel"}, "configuration": {"x": {"y": 1}}})
    call(url, "POST", f"/v3/workspaces/{WS}/peers", {"id": "alice", "metadata": {"tz": "CET"},
                                                     "configuration": {"observe_me": True}})
    call(url, "POST", f"/v3/workspaces/{WS}/peers", {"id": "bob", "metadata": {"role": "agent"}})
    for n, (sid, count) in enumerate(SESSIONS.items()):
        peers = {"alice": {"observe_me": True, "observe_others": False}, "bob": {"observe_me": n == 0,
                                                                                  "observe_others": True}}
        call(url, "POST", f"/v3/workspaces/{WS}/sessions", {"id": sid, "metadata": {"topic": sid}, "peers": peers})
        messages = [{"peer_id": "alice" if i % 2 == 0 else "bob", "content": f"{sid} line {i}: 🍑 ünïcode",
                     "metadata": {"i": i, "tags": ["x", sid], "deep": {"n": i}},
                     "created_at": (START + timedelta(days=n, minutes=i, microseconds=123456 * (i % 3))).isoformat()}
                    for i in range(count)]
        call(url, "POST", f"/v3/workspaces/{WS}/sessions/{sid}/messages", {"messages": messages})
    call(url, "POST", f"/v3/workspaces/{WS}/conclusions", {"conclusions": [
        {"observer_id": o, "observed_id": d, "content": c, **({"session_id": s} if s else {})}
        for o, d, s, c in CONCLUSIONS]})
    for (observer, observed), card in CARDS.items():
        params = {"target": observed} if observed != observer else {}
        call(url, "PUT", f"/v3/workspaces/{WS}/peers/{observer}/card", {"peer_card": card}, **params)
    first = next(iter(SESSIONS))
    call(url, "POST", f"/v3/workspaces/{WS}/scopes", {"id": "trip", "metadata": {"kind": "travel"}})
    call(url, "POST", f"/v3/workspaces/{WS}/scopes/trip/sessions", {"session_ids": [first]})
    call(url, "POST", f"/v3/workspaces/{WS}/scopes", {"id": "empty"})


def items(url: str, route: str, body: Any = None) -> list[dict[str, Any]]:
    got, page = [], 1
    while True:
        answer = call(url, "POST" if body is not None else "GET", route, body, page=page, size=100)
        got += answer["items"]
        if page >= answer["pages"]:
            return got
        page += 1


def at(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def snapshot(url: str) -> dict[str, Any]:
    """What a workspace reads back as, read with plain HTTP (nothing of the transfer module)."""
    base = f"/v3/workspaces/{WS}"
    ws = call(url, "POST", "/v3/workspaces", {"id": WS})  # get-or-create: a workspace key may read it
    sessions = {}
    for s in items(url, f"{base}/sessions/list", {}):
        peers = {p["id"]: call(url, "GET", f"{base}/sessions/{s['id']}/peers/{p['id']}/config")
                 for p in items(url, f"{base}/sessions/{s['id']}/peers")}
        messages = [(m["peer_id"], m["content"], m["metadata"], at(m["created_at"]))
                    for m in items(url, f"{base}/sessions/{s['id']}/messages/list", {})]
        sessions[s["id"]] = (s["metadata"], s["configuration"], peers, messages)
    cards = {(o, d): call(url, "GET", f"{base}/peers/{o}/card", **({"target": d} if d != o else {}))["peer_card"]
             for o in ("alice", "bob") for d in ("alice", "bob")}
    scopes = {sc["id"]: (sc["metadata"], sorted(m["id"] for m in items(url, f"{base}/scopes/{sc['id']}/sessions/list", {})))
              for sc in items(url, f"{base}/scopes/list", {})}
    return {"workspace": (ws["metadata"], ws["configuration"]), "scopes": scopes,
            "peers": {p["id"]: (p["metadata"], p["configuration"]) for p in items(url, f"{base}/peers/list", {})},
            "sessions": sessions, "cards": cards,
            "conclusions": sorted((c["observer_id"], c["observed_id"], c["session_id"], c["content"], c["level"])
                                  for c in items(url, f"{base}/conclusions/list", {}))}


def cli(server: LiveServer, *args: str) -> str:
    result = CliRunner().invoke(main, ["--home", str(server.home), *args])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def original(servers: dict[str, LiveServer]) -> dict[str, Any]:
    seed(servers["A"].url)
    snap = snapshot(servers["A"].url)
    assert [len(s[3]) for s in snap["sessions"].values()] == list(SESSIONS.values())
    assert len(snap["conclusions"]) == len(CONCLUSIONS) and snap["cards"][("alice", "alice")] == CARDS[("alice", "alice")]
    assert snap["scopes"] == {"trip": ({"kind": "travel"}, [next(iter(SESSIONS))]), "empty": ({}, [])}
    return snap


def test_export_then_export_again_reads_back_the_same(servers: dict[str, LiveServer], original: dict[str, Any]) -> None:
    a, b = servers["A"], servers["B"]
    out = cli(a, "export", "--to", b.url, "--workspace", WS)
    assert "messages 30, messages kept 0, conclusions 4, conclusions kept 0, cards 2, cards kept 0, scopes 2" in out
    assert snapshot(b.url) == original
    again = cli(a, "export", "--to", b.url, "--workspace", WS)
    assert "messages 0, messages kept 30, conclusions 0, conclusions kept 4, cards 0, cards kept 2" in again
    assert snapshot(b.url) == original


def test_import_carries_b_into_c(servers: dict[str, LiveServer], original: dict[str, Any]) -> None:
    b, c = servers["B"], servers["C"]
    if not snapshot_has_workspace(b.url):
        cli(servers["A"], "export", "--to", b.url)
    out = cli(c, "import", "--from", b.url)
    assert "messages 30, messages kept 0, conclusions 4" in out
    assert snapshot(c.url) == original
    assert "messages 0, messages kept 30, conclusions 0, conclusions kept 4" in cli(c, "import", "--from", b.url)
    assert snapshot(c.url) == original


def snapshot_has_workspace(url: str) -> bool:
    return any(w["id"] == WS for w in items(url, "/v3/workspaces/list", {}))


class CutOff(httpx.BaseTransport):
    """Real HTTP that, on request number `budget` (counted across source and target), sends the request
    and then loses the answer, as a dropped connection after the server stored the write does."""

    def __init__(self, budget: list[int], cut: list[str]) -> None:
        self.inner, self.budget, self.cut = httpx.HTTPTransport(), budget, cut

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        self.budget[0] -= 1
        if self.budget[0] == 0:
            response.close()
            self.cut.append(f"{request.method} {request.url.path}")
            raise httpx.ReadError("answer lost (test cut-off)", request=request)
        return response


def test_a_run_cut_off_anywhere_resumes_without_duplicates(servers: dict[str, LiveServer], original: dict[str, Any],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(moves, "PAGE", 5)  # several message and conclusion batches per session
    a, d = servers["A"], servers["D"]
    cut: list[str] = []
    budget = 10
    while True:
        left = [budget]
        source = Api(a.url, backoff=Backoff(retries=0), transport=CutOff(left, cut))
        target = Api(d.url, backoff=Backoff(retries=0), transport=CutOff(left, cut))
        try:
            moves.transfer(source, target, WS)
            break
        except HonchoClientError:
            budget += 3  # each run gets 3 requests further than the last before it is cut off
        assert len(cut) < 100, "no progress"
    # cut off at reads and writes alike, twice right after the target stored a batch of messages
    assert len(cut) >= 8 and sum(c.startswith("POST") and c.endswith("/messages") for c in cut) >= 2, cut
    assert snapshot(d.url) == original
    final = moves.transfer(Api(a.url), Api(d.url), WS)
    assert (final.messages, final.messages_kept, final.conclusions, final.conclusions_kept) == (0, 30, 0, 4)
    assert snapshot(d.url) == original


class LoseWrites(httpx.BaseTransport):
    """Real HTTP that loses the answer of every other message write after the server stored it, and strips
    `Idempotency-Key` as a target that ignores it (Honcho) would."""

    def __init__(self) -> None:
        self.inner, self.writes, self.lost = httpx.HTTPTransport(), 0, 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.headers.pop("Idempotency-Key", None)
        response = self.inner.handle_request(request)
        if request.method == "POST" and request.url.path.endswith("/messages"):
            self.writes += 1
            if self.writes % 2 == 1:
                response.close()
                self.lost += 1
                raise httpx.ReadError("answer lost (test)", request=request)
        return response


def test_lost_answers_are_retried_without_storing_a_batch_twice(servers: dict[str, LiveServer],
                                                                original: dict[str, Any],
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """A message write whose answer is lost is checked against the target's count before any retry: a target
    that ignores `Idempotency-Key` (Honcho) would otherwise store the batch twice, so the key is stripped."""
    monkeypatch.setattr(moves, "PAGE", 4)
    lossy, quick = LoseWrites(), Backoff(retries=4, base=0.0, cap=0.0)
    a, e = servers["A"], servers["E"]
    counts = moves.transfer(Api(a.url), Api(e.url, backoff=quick, transport=lossy, sleep=lambda _: None), WS)
    # 5 + 3 batches of at most 4, each written once (a lost answer is never followed by a second write)
    assert (lossy.writes, lossy.lost) == (8, 4) and (counts.messages, counts.messages_kept) == (30, 0)
    assert snapshot(e.url) == original


def test_a_target_session_that_diverged_is_refused_and_left_alone(servers: dict[str, LiveServer],
                                                                   original: dict[str, Any]) -> None:
    a, b = servers["A"], servers["B"]
    if not snapshot_has_workspace(b.url):
        cli(a, "export", "--to", b.url)
    extra = {"peer_id": "bob", "content": f"written on B only {uuid.uuid4().hex}"}
    call(b.url, "POST", f"/v3/workspaces/{WS}/sessions/work/messages", {"messages": [extra]})
    result = CliRunner().invoke(main, ["--home", str(a.home), "export", "--to", b.url, "--workspace", WS])
    assert result.exit_code == 1
    assert "session 'work'" in result.output and "holds 13 messages" in result.output
    assert len(items(b.url, f"/v3/workspaces/{WS}/sessions/work/messages/list", {})) == 13
    missing = CliRunner().invoke(main, ["--home", str(a.home), "export", "--to", b.url, "--workspace", "nope"])
    assert missing.exit_code == 1 and "workspace 'nope' does not exist" in missing.output


def test_servers_with_api_keys_on(servers: dict[str, LiveServer], original: dict[str, Any],
                                  tmp_path_factory: pytest.TempPathFactory) -> None:
    """A target with auth on: refused without a key (one line, nothing written), carried with a key for the
    workspace alone (Honcho's JWT); imported back from it with that key (it cannot list workspaces)."""
    a, d = servers["A"], servers["D"]
    f = start_server(tmp_path_factory.mktemp("transfer-auth"), env=AUTH_ENV)
    try:
        refused = CliRunner().invoke(main, ["--home", str(a.home), "export", "--to", f.url, "--workspace", WS])
        assert refused.exit_code == 1 and "answered HTTP 401" in refused.output, refused.output
        assert "run the same command again" not in refused.output  # refused, not cut off: resuming would not help
        key = jwt.encode({"w": WS}, SECRET.encode(), algorithm="HS256")
        assert "messages 30, messages kept 0" in cli(a, "export", "--to", f.url, "--api-key", key, "--workspace", WS)
        KEYS[f.url] = key
        assert snapshot(f.url) == original
        cli(d, "import", "--from", f.url, "--api-key", key, "--workspace", WS)
        assert snapshot(d.url) == original
        no_list = CliRunner().invoke(main, ["--home", str(d.home), "import", "--from", f.url, "--api-key", key])
        assert no_list.exit_code == 1 and "/v3/workspaces/list" in no_list.output
    finally:
        stop_server(f)


def test_derived_conclusions_stay_behind_for_the_targets_deriver(tmp_path_factory: pytest.TempPathFactory,
                                                                 model: FakeModel) -> None:
    """A source whose worker derived conclusions (the fake model): only the one a client stated is carried;
    the derived ones (they cite messages) are left for the target's deriver, which re-derives them from the
    carried messages. The card the worker built is carried as it is."""
    g = start_server(tmp_path_factory.mktemp("transfer-derived"), env=reasoning_env(model))
    h = start_server(tmp_path_factory.mktemp("transfer-derived-target"))
    try:
        said = [{"peer_id": "alice", "content": f"I {fact}."} for fact in FACTS[:4]]
        call(g.url, "POST", "/v3/workspaces/w/sessions", {"id": "s", "peers": {"alice": {}}})
        call(g.url, "POST", "/v3/workspaces/w/sessions/s/messages", {"messages": said})
        call(g.url, "POST", "/v3/workspaces/w/conclusions", {"conclusions": [
            {"observer_id": "alice", "observed_id": "alice", "content": "Alice asked to be called Al."}]})
        wait_idle(g, "w")
        held = items(g.url, "/v3/workspaces/w/conclusions/list", {})
        derived = [c for c in held if c["message_ids"]]
        assert derived and len(held) == len(derived) + 1
        counts = moves.transfer(Api(g.url), Api(h.url), "w")
        assert (counts.messages, counts.conclusions) == (4, 1)
        carried = items(h.url, "/v3/workspaces/w/conclusions/list", {})
        assert [c["content"] for c in carried] == ["Alice asked to be called Al."]
        card = call(g.url, "GET", "/v3/workspaces/w/peers/alice/card")["peer_card"]
        assert card and call(h.url, "GET", "/v3/workspaces/w/peers/alice/card")["peer_card"] == card
    finally:
        stop_server(g)
        stop_server(h)
