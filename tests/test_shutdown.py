"""SIGTERM and SIGINT both run the clean shutdown: exit 0, the store checkpointed (no WAL left), the
worker settled, `server.json` withdrawn, and every acknowledged write there on the next start (issue 31)."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx
import pytest

from honcho_local.store import Store
from tests.conftest import start_server

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_shuts_down_cleanly(tmp_path: Path, sig: signal.Signals) -> None:
    home = tmp_path / "home"
    server = start_server(home, env={"HONCHO_LOCAL_LOG_LEVEL": "info"})
    posted = 0
    for i in range(5):
        r = httpx.post(f"{server.url}/v3/workspaces/w/sessions/s/messages",
                       json={"messages": [{"peer_id": "alice", "content": f"message {i}.{j}"} for j in range(20)]})
        assert r.status_code == 201, r.text
        posted += 20
    assert (home / "server.json").exists()
    server.process.send_signal(sig)
    assert server.process.wait(timeout=120) == 0, server.log()  # a hang guard, not a speed bound
    assert "clean shutdown" in server.log()
    assert not (home / "server.json").exists()
    wal = home / "honcho.duckdb.wal"
    assert not wal.exists() or wal.stat().st_size == 0  # the final checkpoint ran
    store = Store.open(home / "honcho.duckdb")
    try:
        assert store.read(lambda c: c.execute("SELECT count(*) FROM events WHERE kind = 'message'").fetchone()[0]) == posted
    finally:
        store.close()
