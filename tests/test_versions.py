"""Versioned representations: reprocess into a new version without touching the old one, resume
after a failure, activate and roll back, and a stable per-peer A/B split."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


from honcho_local import schemas
from honcho_local.config import load_settings
from honcho_local.llm.fake import FakeEmbedder
from honcho_local.services import versions
from honcho_local.store import Store
from honcho_local.wiring import build_services
from tests.fake_model import FakeModel


def env(model: FakeModel) -> dict[str, str]:
    return {**os.environ, **model.env(),
            "HONCHO_LOCAL_SUMMARY_ENABLED": "false", "HONCHO_LOCAL_REASONING_RETRY_BACKOFF": "0.01",
            "HONCHO_LOCAL_REASONING_RETRIES": "1", "HONCHO_LOCAL_EMBEDDING_MODEL": "/nonexistent/embedder.gguf"}


def cli(home: Path, model: FakeModel, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "honcho_local.cli", "--home", str(home), *args],
                          capture_output=True, text=True, env=env(model), timeout=300)


def seed(home: Path, model: FakeModel) -> None:
    settings = load_settings(home, env={}, reasoning_model="openai:fake", openai_base_url=model.url,
                             summary_enabled=False)
    svc = build_services(settings, with_worker=True, embedder_factory=lambda: FakeEmbedder())
    try:
        for session, peer, text in (("a", "alice", "I sail on weekends."), ("b", "bob", "I brew beer at home.")):
            svc.ingest.add_messages("w", session, schemas.MessageBatch(
                messages=[schemas.MessageCreate(peer_id=peer, content=text)]))
        assert svc.worker.drain(30)
    finally:
        svc.close()


def conclusions(home: Path) -> list[tuple]:
    store = Store.open(home / "honcho.duckdb")
    try:
        return store.read(lambda c: c.execute(
            "SELECT id, version, content, times_derived FROM conclusions ORDER BY version, content").fetchall())
    finally:
        store.close()


def test_reprocess_with_another_prompt_leaves_old_version_alone(tmp_home: Path, model: FakeModel, tmp_path: Path) -> None:
    seed(tmp_home, model)
    before = conclusions(tmp_home)
    assert [v for _, v, _, _ in before] == ["v1", "v1"]
    prompt = tmp_path / "prompt.txt"
    prompt.write_text("Prefer hobbies over everything else.")
    model.prompts.clear()
    r = cli(tmp_home, model, "reprocess", "--version", "v2", "--prompt-file", str(prompt))
    assert r.returncode == 0, r.stderr + r.stdout
    assert any("Prefer hobbies over everything else." in p for p in model.prompts)
    after = conclusions(tmp_home)
    assert [row for row in after if row[1] == "v1"] == before  # the old version is untouched
    assert sorted(c for _, v, c, _ in after if v == "v2") == ["alice said: I sail on weekends.",
                                                              "bob said: I brew beer at home."]
    listed = cli(tmp_home, model, "versions", "list").stdout
    assert "* v1" in listed and "  v2" in listed
    assert listed.splitlines()[0].split()[:3] == ["name", "status", "chat"]  # a header row
    assert cli(tmp_home, model, "versions", "activate", "v2").returncode == 0
    store = Store.open(tmp_home / "honcho.duckdb")
    try:
        assert store.read(lambda c: versions.read_version(c, "w", "alice")) == "v2"
    finally:
        store.close()
    r = cli(tmp_home, model, "versions", "rollback")
    assert r.returncode == 0 and "v1" in r.stdout
    store = Store.open(tmp_home / "honcho.duckdb")
    try:
        assert store.read(lambda c: versions.read_version(c, "w", "alice")) == "v1"
    finally:
        store.close()
    assert "nothing to roll back" in cli(tmp_home, model, "versions", "rollback").stderr


def test_reprocess_resumes_after_a_failure(tmp_home: Path, model: FakeModel) -> None:
    seed(tmp_home, model)
    model.poison = "brew beer"
    first = cli(tmp_home, model, "reprocess", "--version", "v2")
    assert first.returncode == 1 and "failed" in first.stdout
    assert [c for _, v, c, _ in conclusions(tmp_home) if v == "v2"] == ["alice said: I sail on weekends."]
    model.poison = None
    model.calls.clear()
    again = cli(tmp_home, model, "reprocess", "--version", "v2")
    assert again.returncode == 0 and "resuming" in again.stdout
    assert model.calls.count("deriver") == 1  # only the unit that had failed ran again
    assert sorted(c for _, v, c, _ in conclusions(tmp_home) if v == "v2") == [
        "alice said: I sail on weekends.", "bob said: I brew beer at home."]
    other = cli(tmp_home, model, "reprocess", "--version", "v2", "--since", "1d")
    assert other.returncode != 0 and "other settings" in other.stderr


def test_ab_split_is_stable_per_peer(store: Store) -> None:
    config = '{"representation": {"ab": {"version": "v2", "percent": 30}}}'
    store.write(lambda ctx: ctx.conn.execute(
        "INSERT INTO workspaces VALUES ('w', '{}', ?, '{}', now()::TIMESTAMP)", [config]))
    peers = [f"peer{i}" for i in range(400)]
    first = store.read(lambda c: [versions.read_version(c, "w", p) for p in peers])
    again = store.read(lambda c: [versions.read_version(c, "w", p) for p in peers])
    assert first == again
    share = first.count("v2") / len(peers)
    assert 0.22 < share < 0.38, share
    assert set(first) == {"v1", "v2"}
    assert store.read(lambda c: versions.read_version(c, "w", "peer1", requested="v9")) == "v9"
    store.write(lambda ctx: ctx.conn.execute(
        "UPDATE workspaces SET configuration = ? WHERE id = 'w'", ['{"representation": {"version": "v3"}}']))
    assert store.read(lambda c: {versions.read_version(c, "w", p) for p in peers[:50]}) == {"v3"}


def test_worker_command_drains_without_a_server(tmp_home: Path, model: FakeModel) -> None:
    settings = load_settings(tmp_home, env={})
    svc = build_services(settings)  # no worker: messages are logged, nothing reasons yet
    try:
        svc.ingest.add_messages("w", "s", schemas.MessageBatch(
            messages=[schemas.MessageCreate(peer_id="alice", content="I collect stamps.")]))
    finally:
        svc.close()
    r = cli(tmp_home, model, "worker", "--timeout", "60")
    assert r.returncode == 0 and "caught up" in r.stdout, r.stderr
    assert [c for _, _, c, _ in conclusions(tmp_home)] == ["alice said: I collect stamps."]
