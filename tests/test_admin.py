"""`backup` and `versions list|activate|rollback` while `honcho-local serve` holds the store: the CLI finds
the server through `<home>/server.json` and goes through its admin routes, which refuse requests without
the admin token or without a JSON body. Commands that need the store to themselves say exactly what to run.
A live server and the CLI as a subprocess, as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from honcho_local import serverinfo
from honcho_local.bench.server import free_port
from honcho_local.store import Store
from tests.conftest import REPO_ROOT, LiveServer, start_server, stop_server
from tests.fake_model import FakeModel
from tests.test_versions import conclusions, env, seed

pytestmark = pytest.mark.slow


def cli(home: Path, *args: str, model: FakeModel | None = None) -> subprocess.CompletedProcess[str]:
    environment = env(model) if model else {**os.environ, "HONCHO_LOCAL_REASONING_MODEL": "smollm2-135m"}
    return subprocess.run([sys.executable, "-m", "honcho_local.cli", "--home", str(home), *args],
                          capture_output=True, text=True, env=environment, cwd=str(REPO_ROOT), timeout=300)


def one_line(text: str) -> str:
    assert text.count("\n") == 1 and "Traceback" not in text, text
    return text.strip()


def store_rows(home: Path, sql: str) -> list[tuple]:
    store = Store.open(home / "honcho.duckdb")
    try:
        return store.read(lambda cur: cur.execute(sql).fetchall())
    finally:
        store.close()


def token_of(srv: LiveServer) -> str:
    return json.loads((srv.home / "server.json").read_text())["token"]


def read_ids(url: str) -> set[str]:
    r = httpx.post(f"{url}/v3/workspaces/w/conclusions/list", json={}, timeout=60)
    assert r.status_code == 200, r.text
    return {c["id"] for c in r.json()["items"]}


def test_versions_through_the_running_server(tmp_home: Path, model: FakeModel) -> None:
    seed(tmp_home, model)
    assert cli(tmp_home, "reprocess", "--version", "v2", model=model).returncode == 0  # needs the store to itself
    ids = {v: {i for i, version, _, _ in conclusions(tmp_home) if version == v} for v in ("v1", "v2")}
    assert len(ids["v1"]) == len(ids["v2"]) == 2
    srv = start_server(tmp_home)
    try:
        listed = cli(tmp_home, "versions", "list")
        assert listed.returncode == 0, listed.stderr
        assert "* v1" in listed.stdout and "  v2" in listed.stdout
        assert read_ids(srv.url) == ids["v1"]
        done = cli(tmp_home, "versions", "activate", "v2")
        assert done.returncode == 0 and "v2 is now the default" in done.stdout, done.stderr
        assert read_ids(srv.url) == ids["v2"]  # the same server, no restart: reads use v2 at once
        assert "* v2" in cli(tmp_home, "versions", "list").stdout
        done = cli(tmp_home, "versions", "rollback")
        assert done.returncode == 0 and "v1 is the default" in done.stdout, done.stderr
        assert read_ids(srv.url) == ids["v1"]
        again = cli(tmp_home, "versions", "rollback")
        assert again.returncode == 1 and "nothing to roll back" in one_line(again.stderr)
        missing = cli(tmp_home, "versions", "activate", "v9")
        assert missing.returncode == 1 and "no representation version 'v9'" in one_line(missing.stderr)
        for args in (["recheck", "--dry-run"], ["reprocess", "--version", "v3"], ["worker"]):
            refused = cli(tmp_home, *args)
            assert refused.returncode == 3
            assert one_line(refused.stderr).endswith(
                f"stop the server (Ctrl-C in the terminal running `honcho-local serve --home {tmp_home}`), "
                f"then run `honcho-local --home {tmp_home} {' '.join(args)}`")
    finally:
        stop_server(srv)
    assert not (tmp_home / "server.json").exists()
    assert "* v1" in cli(tmp_home, "versions", "list").stdout  # directly on the file again


def test_backup_while_the_server_takes_writes(tmp_path: Path) -> None:
    home, folder, target = tmp_path / "home", tmp_path / "backup", tmp_path / "restored"
    srv = start_server(home)
    statuses: list[int] = []
    try:
        with httpx.Client(base_url=f"{srv.url}/v3/workspaces/w/sessions/s", timeout=60) as http:
            def write(n: int) -> None:
                r = http.post("/messages", json={"messages": [{"peer_id": "alice", "content": f"message {n}"}]})
                statuses.append(r.status_code)

            for n in range(20):
                write(n)
            backup = subprocess.Popen([sys.executable, "-m", "honcho_local.cli", "backup", str(folder), "--home",
                                       str(home)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                      cwd=str(REPO_ROOT))
            write(len(statuses))
            while backup.poll() is None:  # the server keeps taking writes while it backs up
                write(len(statuses))
            out, err = backup.communicate()
            write(len(statuses))
        assert backup.returncode == 0, err
        assert out.startswith(f"backed up {home / 'honcho.duckdb'} to {folder}"), out
        assert set(statuses) == {201}
    finally:
        stop_server(srv)
    manifest = json.loads((folder / "manifest.json").read_text())
    done = cli(target, "restore", str(folder))
    assert done.returncode == 0, done.stderr
    restored = [c for (c,) in store_rows(target, "SELECT content FROM events WHERE kind = 'message' ORDER BY pk")]
    source = [c for (c,) in store_rows(home, "SELECT content FROM events WHERE kind = 'message' ORDER BY pk")]
    assert len(source) == len(statuses)
    assert 20 <= len(restored) <= len(source) and restored == source[:len(restored)]  # one consistent snapshot
    assert store_rows(target, "SELECT count(*) FROM events")[0][0] == manifest["tables"]["events"]


def test_admin_routes_refuse_without_token_or_json(server: LiveServer, tmp_path: Path) -> None:
    token = token_of(server)
    good = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=server.url, timeout=60) as http:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": token}):
            r = http.get("/admin/versions", headers=headers)
            assert r.status_code == 401 and "Bearer" in r.json()["detail"]
            r = http.post("/admin/backup", headers=headers, json={"directory": str(tmp_path / "b1")})
            assert r.status_code == 401 and "Bearer" in r.json()["detail"]
            assert http.post("/admin/versions/v1/activate", headers=headers, json={}).status_code == 401
        r = http.post("/admin/backup", headers={**good, "Content-Type": "text/plain"},
                      content=json.dumps({"directory": str(tmp_path / "b1")}))
        assert r.status_code == 415 and "application/json" in r.json()["detail"]
        r = http.post("/admin/versions/v1/activate", headers={**good, "Content-Type": "text/plain"}, content="{}")
        assert r.status_code == 415
        assert not (tmp_path / "b1").exists()
        r = http.post("/admin/backup", headers=good, json={"directory": "relative/folder"})
        assert r.status_code == 422 and "absolute" in r.json()["detail"]
        listed = http.get("/admin/versions", headers=good)
        assert listed.status_code == 200 and [(v["name"], v["default"]) for v in listed.json()] == [("v1", True)]
        r = http.post("/admin/versions/rollback", headers=good, json={})  # no refused activation went through
        assert r.status_code == 409 and "nothing to roll back" in r.json()["detail"]
        spec = http.get("/openapi.json").json()
        assert {"admin", "extension"} <= set(spec["paths"]["/admin/backup"]["post"]["tags"])


def test_server_file_is_private_and_removed_at_a_clean_stop(tmp_path: Path) -> None:
    srv = start_server(tmp_path / "home")
    path = srv.home / "server.json"
    info = json.loads(path.read_text())
    assert path.stat().st_mode & 0o777 == 0o600
    assert info["url"] == srv.url and info["pid"] == srv.process.pid and len(info["token"]) >= 32
    stop_server(srv)
    assert not path.exists()


def test_a_stale_server_file_is_ignored_with_a_reason(tmp_home: Path) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    serverinfo.publish(tmp_home, "http://127.0.0.1:9", gone.pid)
    listed = cli(tmp_home, "versions", "list")  # nothing holds the store: the file is not even read
    assert listed.returncode == 0 and listed.stderr == "", listed.stderr
    holder = Store.open(tmp_home / "honcho.duckdb")  # the store held by a process that is no server
    try:
        refused = cli(tmp_home, "backup", str(tmp_home / "b"))
        assert refused.returncode == 3
        line = one_line(refused.stderr)
        assert f"ignoring stale {tmp_home / 'server.json'}: its server (pid {gone.pid}) is gone" in line
        assert line.endswith(f"then run `honcho-local --home {tmp_home} backup {tmp_home / 'b'}`")
        serverinfo.publish(tmp_home, f"http://127.0.0.1:{free_port()}", os.getpid())  # a live pid, no server
        refused = cli(tmp_home, "versions", "activate", "v1")
        assert refused.returncode == 3 and "nothing answers at http://127.0.0.1:" in one_line(refused.stderr)
    finally:
        holder.close()
    assert not (tmp_home / "b").exists()
