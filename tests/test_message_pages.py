"""Message list pages stay exact while writes land (issue 36), through the official SDK's `session.messages()`.

Unfiltered message lists come from the in-memory copy of the log (services/message_list.py); lists with
filters read DuckDB. Every page must be exactly the slice its own `total` describes: right items, right
order, forwards and `reverse`, while one client keeps appending to the same session.
"""

from __future__ import annotations

import threading

import httpx
from honcho import Honcho

SEEDED = 30


class Appender:
    """Appends `m{n}` (n = 0, 1, ...) to one session from one thread: alice sends even n, bot odd n,
    each with metadata {"n": n}; so a message's place in the session is its n."""

    def __init__(self, url: str, workspace_id: str, session_id: str) -> None:
        self.path = f"{url}/v3/workspaces/{workspace_id}/sessions/{session_id}/messages"
        self.sent = 0
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def post(self, client: httpx.Client) -> None:
        n = self.sent
        r = client.post(self.path, json={"messages": [
            {"peer_id": "bot" if n % 2 else "alice", "content": f"m{n}", "metadata": {"n": n}}]})
        assert r.status_code == 201, r.text
        self.sent += 1

    def _run(self) -> None:
        try:
            with httpx.Client(timeout=60) as client:
                while not self.stop.is_set():
                    self.post(client)
        except BaseException as exc:  # noqa: BLE001 - the test thread reports it
            self.error = exc


def expected(total: int, page: int, size: int, reverse: bool, step: int = 1, first: int = 0) -> list[str]:
    """The contents a page must hold when the (filtered) session holds `total` messages m{first + step*i}."""
    order = range(total - 1, -1, -1) if reverse else range(total)
    return [f"m{first + step * i}" for i in list(order)[(page - 1) * size:page * size]]


def check_page(session, page: int, size: int, reverse: bool, filters: dict | None = None, step: int = 1,
               first: int = 0) -> int:
    got = session.messages(page=page, size=size, reverse=reverse, filters=filters)
    assert got.total is not None and got.page == page and got.size == size
    assert [m.content for m in got.items] == expected(got.total, page, size, reverse, step, first), (
        page, size, reverse, filters, got.total)
    assert all(m.metadata == {"n": int(m.content[1:])} for m in got.items)
    return got.total


def one_round(session) -> tuple[int, int]:
    """Pages of every shape, each checked against its own total; then a full forward walk."""
    total = check_page(session, 1, 7, False)
    for page in (2, total // 7 + 1, total // 7 + 2):
        check_page(session, page, 7, False)
        check_page(session, page, 5, True)
    bots = check_page(session, 1, 4, False, {"peer_id": "bot"}, step=2, first=1)
    check_page(session, 2, 4, True, {"peer_id": "bot"}, step=2, first=1)
    check_page(session, 3, 6, False, {"peer_id": "*"})  # DuckDB without a condition: same pages as memory
    check_page(session, 1, 6, True, {"peer_id": "*"})
    walked = [m.content for m in session.messages(size=9)]
    assert walked == [f"m{i}" for i in range(len(walked))] and len(walked) >= total
    assert [m.content for m in session.messages(size=50, filters={"peer_id": "bot"})][:bots] == \
        [f"m{2 * i + 1}" for i in range(bots)]
    return total, len(walked)


def test_pages_stay_exact_while_writes_land(server, honcho: Honcho, workspace_id: str) -> None:
    appender = Appender(server.url, workspace_id, "busy")
    with httpx.Client(timeout=60) as client:
        for _ in range(SEEDED):
            appender.post(client)
    session = honcho.session("busy")
    check_page(session, 1, 50, False)  # the copy is loaded before the writes start
    appender.thread.start()
    try:
        rounds, started_at, totals = 0, appender.sent, []
        # until writes demonstrably landed between this test's reads (a bound, not a timing)
        while rounds < 3 or appender.sent < started_at + 40:
            assert appender.error is None and rounds < 500, appender.error
            totals.append(one_round(session)[0])
            rounds += 1
    finally:
        appender.stop.set()
        appender.thread.join(timeout=60)
    assert appender.error is None, appender.error
    assert totals == sorted(totals) and totals[-1] > totals[0]  # the pages saw the session grow
    final = session.messages(size=100, reverse=True)
    assert final.total == appender.sent and final.items[0].content == f"m{appender.sent - 1}"


def test_pages_follow_updates_and_deletes(http: httpx.Client, honcho: Honcho, workspace_id: str) -> None:
    session = honcho.session("edits")
    sent = session.add_messages([honcho.peer("bot" if n % 2 else "alice").message(f"m{n}", metadata={"n": n})
                                 for n in range(10)])
    assert [m.content for m in session.messages(size=4, reverse=True).items] == ["m9", "m8", "m7", "m6"]
    base = f"/v3/workspaces/{workspace_id}/sessions/edits/messages"
    assert http.put(f"{base}/{sent[3].id}", json={"metadata": {"n": 3, "tag": "x"}}).status_code == 200
    page = session.messages(size=5)
    assert page.items[3].metadata == {"n": 3, "tag": "x"}
    assert [m.content for m in session.messages(filters={"metadata": {"tag": "x"}})] == ["m3"]
    assert http.delete(f"{base}/{sent[5].id}").status_code == 204
    page = session.messages(size=100)
    assert page.total == 9 and [m.content for m in page.items] == [f"m{n}" for n in range(10) if n != 5]
    assert [m.content for m in session.messages(size=3, page=2, reverse=True).items] == ["m6", "m4", "m3"]
    assert http.delete(f"/v3/workspaces/{workspace_id}/sessions/edits").status_code in (200, 202, 204)
    gone = http.post(f"{base}/list", json={})
    assert gone.status_code == 404 and "edits" in gone.json()["detail"]
    missing = http.post(f"/v3/workspaces/{workspace_id}/sessions/never/messages/list", json={})
    assert missing.status_code == 404 and "never" in missing.json()["detail"]
