"""`honcho-local backup` / `restore` between real servers: data written with the official SDK is backed up
(with and without vectors), restored into new homes, and served again the same: every table equal,
embeddings equal to those the worker made, searches answered alike. Bad cases fail clearly and change nothing."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import httpx
import numpy as np
import pytest

from tests.conftest import REPO_ROOT, start_server, stop_server

pytestmark = [pytest.mark.model, pytest.mark.slow]

WS = "ws-backup"
LINES = [
    ("alice", "I moved to Lisbon last spring for a job at a robotics startup."),
    ("bob", "Nice! Do you still play the cello?"),
    ("alice", "Every Sunday, with a quartet near the river."),
    ("bob", "My sister adopted a greyhound called Pepper."),
    ("alice", "Pepper is a great name. I am allergic to cats, so dogs it is for me."),
    ("bob", "I am training for the Porto marathon in October."),
]


def cli(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HONCHO_LOCAL_REASONING_MODEL": "smollm2-135m", "HONCHO_LOCAL_LOG_LEVEL": "warning"}
    return subprocess.run([sys.executable, "-m", "honcho_local.cli", "--home", str(home), *args],
                          capture_output=True, text=True, env=env, cwd=str(REPO_ROOT), timeout=300)


def drained(url: str) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        s = httpx.get(f"{url}/v3/workspaces/{WS}/queue/status", timeout=10).json()
        if s["total_work_units"] and s["completed_work_units"] >= s["total_work_units"]:
            return
        time.sleep(0.3)
    raise AssertionError(f"the worker did not drain: {s}")


def snapshot(url: str) -> dict:
    """What a client sees: messages (every page), peers, a semantic search, conclusions."""
    from honcho import Honcho

    honcho = Honcho(base_url=url, workspace_id=WS)
    session = honcho.session("s1")
    messages = [(m.id, m.peer_id, m.content, m.created_at, m.metadata) for m in session.messages()]
    peers = sorted((p.id, tuple(sorted(p.get_metadata().items()))) for p in honcho.peers())
    with httpx.Client(base_url=url, timeout=60) as http:
        search = http.post(f"/v3/workspaces/{WS}/search", json={"query": "which city does alice live in?",
                                                                  "limit": 3}).json()
        conclusions = http.post(f"/v3/workspaces/{WS}/conclusions/query",
                                json={"query": "pets", "top_k": 5,
                                      "filters": {"observer_id": "alice", "observed_id": "bob"}}).json()
    assert isinstance(conclusions, list), conclusions
    return {"messages": messages, "peers": peers, "search": [m["id"] for m in search],
            "conclusions": [(c["id"], c["content"]) for c in conclusions]}


def table_rows(db: Path) -> dict[str, list]:
    with duckdb.connect(str(db), read_only=True) as conn:
        names = [r[0] for r in conn.execute("SELECT table_name FROM duckdb_tables() ORDER BY 1").fetchall()]
        out = {}
        for name in names:
            columns = [r[0] for r in conn.execute(f"DESCRIBE {name}").fetchall()]
            keep = [c for c in columns if c != "embedding" and not (name == "message_embeddings" and c == "seq")
                    and not (name == "schema_migrations" and c == "applied_at")]
            out[name] = sorted(conn.execute(f"SELECT {', '.join(keep)} FROM {name}").fetchall(), key=repr)
        return out


def vectors(db: Path) -> dict[str, dict]:
    with duckdb.connect(str(db), read_only=True) as conn:
        messages = dict(conn.execute("SELECT event_pk, embedding FROM message_embeddings").fetchall())
        conclusions = dict(conn.execute("SELECT id, embedding FROM conclusions").fetchall())
    return {"messages": messages, "conclusions": conclusions}


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    home = tmp_path_factory.mktemp("backup-source")
    srv = start_server(home)
    try:
        from honcho import Honcho

        honcho = Honcho(base_url=srv.url, workspace_id=WS)
        alice, bob = honcho.peer("alice", metadata={"city": "Lisbon"}), honcho.peer("bob")
        session = honcho.session("s1", metadata={"topic": "catch-up"})
        session.add_peers([alice, bob])
        session.add_messages([(alice if p == "alice" else bob).message(c) for p, c in LINES])
        r = httpx.post(f"{srv.url}/v3/workspaces/{WS}/conclusions", timeout=60, json={"conclusions": [
            {"content": "Alice is allergic to cats.", "observer_id": "bob", "observed_id": "alice", "session_id": "s1"},
            {"content": "Bob's sister has a greyhound named Pepper.", "observer_id": "alice", "observed_id": "bob"}]})
        assert r.status_code == 201, r.text
        drained(srv.url)
        seen = snapshot(srv.url)
    finally:
        stop_server(srv)
    assert len(seen["messages"]) == len(LINES) and len(seen["conclusions"]) == 1 and seen["search"]
    return home, seen


@pytest.mark.parametrize("with_vectors", [True, False], ids=["vectors", "no-vectors"])
def test_restore_serves_the_same_store(source, tmp_path, with_vectors):
    home, seen = source
    folder = tmp_path / "backup"
    args = ["backup", str(folder)] + ([] if with_vectors else ["--no-vectors"])
    done = cli(home, *args)
    assert done.returncode == 0, done.stderr
    assert "backed up" in done.stdout and (folder / "manifest.json").is_file()
    target = tmp_path / "restored"
    done = cli(target, "restore", str(folder))
    assert done.returncode == 0, done.stderr
    expected = "embedded 0 messages and 0 conclusions" if with_vectors else f"embedded {len(LINES)} messages and 2"
    assert expected in done.stdout

    assert table_rows(target / "honcho.duckdb") == table_rows(home / "honcho.duckdb")
    before, after = vectors(home / "honcho.duckdb"), vectors(target / "honcho.duckdb")
    for kind in ("messages", "conclusions"):
        assert before[kind].keys() == after[kind].keys() and len(before[kind]) > 0
        for key, vector in before[kind].items():
            assert np.allclose(vector, after[kind][key], atol=1e-4), (kind, key)

    srv = start_server(target)
    try:
        assert snapshot(srv.url) == seen
    finally:
        stop_server(srv)


def test_no_vectors_is_smaller(source, tmp_path):
    home, _ = source
    assert cli(home, "backup", str(tmp_path / "full")).returncode == 0
    assert cli(home, "backup", "--no-vectors", str(tmp_path / "lean")).returncode == 0

    def size(folder: Path) -> int:
        return sum(f.stat().st_size for f in folder.iterdir())

    assert size(tmp_path / "lean") < size(tmp_path / "full")


def test_restore_refuses_a_home_with_a_store(source, tmp_path):
    home, _ = source
    folder = tmp_path / "backup"
    assert cli(home, "backup", str(folder)).returncode == 0
    before = (home / "honcho.duckdb").stat().st_mtime_ns
    done = cli(home, "restore", str(folder))
    assert done.returncode == 1 and "already exists" in done.stderr
    assert (home / "honcho.duckdb").stat().st_mtime_ns == before


def test_backup_refuses_a_used_folder_with_or_without_a_server(source, tmp_path):
    home, _ = source
    (tmp_path / "b2").mkdir()
    (tmp_path / "b2" / "notes.txt").write_text("mine")
    srv = start_server(home)
    try:  # the running server holds the store: the backup goes through it (tests/test_admin.py)
        done = cli(home, "backup", str(tmp_path / "b2"))
        assert done.returncode == 1 and "not empty" in done.stderr
    finally:
        stop_server(srv)
    done = cli(home, "backup", str(tmp_path / "b2"))
    assert done.returncode == 1 and "not empty" in done.stderr
    assert [p.name for p in (tmp_path / "b2").iterdir()] == ["notes.txt"]


def test_restore_rejects_what_is_not_a_backup(tmp_path):
    (tmp_path / "junk").mkdir()
    done = cli(tmp_path / "home", "restore", str(tmp_path / "junk"))
    assert done.returncode == 1 and "not a honcho-local backup" in done.stderr
    (tmp_path / "junk" / "manifest.json").write_text('{"format": 1, "migrations": ["m999_future"], "tables": {}}')
    done = cli(tmp_path / "home", "restore", str(tmp_path / "junk"))
    assert done.returncode == 1 and "newer honcho-local" in done.stderr
    assert not (tmp_path / "home" / "honcho.duckdb").exists()
