"""`embedding_model = "none"`: a live server with no embedding model searches lexically, refuses
semantic conclusion queries with a 503 that names the setting, and embeds nothing in the background."""

from __future__ import annotations

import time

import httpx

from honcho_local.config import load_settings
from honcho_local.llm.manage import resolve_configured
from honcho_local.store import Store
from tests.conftest import start_server, stop_server


def test_resolve_configured_skips_the_embedding_model_when_off(tmp_path) -> None:
    settings = load_settings(home=tmp_path, env={"HONCHO_LOCAL_EMBEDDING_MODEL": "none",
                                                 "HONCHO_LOCAL_REASONING_MODEL": "openai:gpt-4o-mini",
                                                 "HONCHO_LOCAL_OFFLINE": "true"})
    assert resolve_configured(settings) == {}  # nothing fetched, nothing refused for being offline


def test_server_without_embeddings(tmp_path) -> None:
    server = start_server(tmp_path, env={"HONCHO_LOCAL_EMBEDDING_MODEL": "none"})
    try:
        with httpx.Client(base_url=f"{server.url}/v3/workspaces/w", timeout=30) as c:
            r = c.post("/sessions/s/messages", json={"messages": [
                {"peer_id": "alice", "content": "I adopted a greyhound called Pixel"},
                {"peer_id": "bob", "content": "Lisbon was sunny all week"}]})
            assert r.status_code == 201, r.text
            hits = c.post("/search", json={"query": "greyhound"})
            assert hits.status_code == 200, hits.text
            # lexical only: the match first (the next message follows it through its boosted `context` field)
            assert hits.json()[0]["content"] == "I adopted a greyhound called Pixel"
            r = c.post("/conclusions/query", json={"query": "dogs",
                                                   "filters": {"observer_id": "alice", "observed_id": "alice"}})
            assert r.status_code == 503 and "embedding_model" in r.json()["detail"], r.text
            deadline = time.monotonic() + 20  # the per-session unit still runs (cursor reaches the log's end)
            while time.monotonic() < deadline:
                status = c.get("/queue/status").json()
                if status["pending_work_units"] == 0 and status["in_progress_work_units"] == 0:
                    break
                time.sleep(0.2)
            assert status["pending_work_units"] == 0, status
    finally:
        stop_server(server)
    store = Store.open(tmp_path / "honcho.duckdb")
    try:
        assert store.read(lambda cur: cur.execute("SELECT count(*) FROM message_embeddings").fetchone()[0]) == 0
    finally:
        store.close()
