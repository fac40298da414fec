"""kill -9 right after the 201s loses no acknowledged write, and the log order survives."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import httpx
import pytest

from tests.conftest import start_server, stop_server

pytestmark = pytest.mark.slow
JSON = {"Content-Type": "application/json"}


def _writer(url: str, session: str, n_requests: int, acked: list[list[str]], errors: list[str]) -> None:
    with httpx.Client(base_url=url, timeout=30) as client:
        for i in range(n_requests):
            batch = [{"content": f"{session}-{i}-{j}", "peer_id": f"peer{j % 2}"} for j in range(1 + i % 3)]
            r = client.post(f"/v3/workspaces/dur/sessions/{session}/messages", json={"messages": batch})
            if r.status_code != 201:
                errors.append(r.text)
                return
            acked.append([m["id"] for m in r.json()])


@pytest.mark.parametrize("durability", ["full", "process"])
def test_sigkill_after_acknowledged_writes(tmp_path: Path, durability: str) -> None:
    home = tmp_path / "home"
    env = {"HONCHO_LOCAL_DURABILITY": durability}
    server = start_server(home, env=env)
    acked: dict[str, list[list[str]]] = {f"s{k}": [] for k in range(4)}
    errors: list[str] = []
    threads = [threading.Thread(target=_writer, args=(server.url, s, 60, acked[s], errors)) for s in acked]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert server.kill(signal.SIGKILL) == -signal.SIGKILL
    assert not errors

    restarted = start_server(home, env=env)
    try:
        with httpx.Client(base_url=restarted.url, timeout=30) as client:
            for session, batches in acked.items():
                expected = [mid for batch in batches for mid in batch]
                stored: list[str] = []
                page = 1
                while True:
                    body = client.post(f"/v3/workspaces/dur/sessions/{session}/messages/list?page={page}&size=100",
                                       headers=JSON).json()
                    stored += [m["id"] for m in body["items"]]
                    if page >= body["pages"]:
                        break
                    page += 1
                assert stored == expected, f"{session}: {len(stored)} stored vs {len(expected)} acknowledged"
    finally:
        stop_server(restarted)
