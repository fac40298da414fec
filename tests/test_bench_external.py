"""`honcho-local bench locomo --server-url URL` (issue 35 item 5): the benchmark ingests into, waits for and asks
a server it did not start (here a live honcho-local standing in for Honcho), and writes its report; the
API key given never reaches the report."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from click.testing import CliRunner

from honcho_local.cli import main
from tests.bench_samples import write_samples
from tests.conftest import LiveServer


def test_bench_against_a_server_it_did_not_start(server: LiveServer, tmp_path: Path) -> None:
    data = tmp_path / "datasets"
    write_samples(data)
    out = tmp_path / "report"
    result = CliRunner().invoke(main, [
        "bench", "locomo", "--server-url", server.url, "--api-key", "not-a-real-key", "--conversations", "1",
        "--sessions", "1", "--questions", "2", "--retrieval-only", "--out", str(out),
        "--name", "external", "--bench-home", str(tmp_path / "home"), "--data", str(data)])
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert f"server {server.url}" in result.output
    results = json.loads((out / "external.json").read_text())
    assert results["messages_posted"] == 18 and results["questions"] == 2
    assert results["gold_facts"]["facts"] == 8  # read through its conclusions list (this server derived none)
    assert results["config"]["server_url"] == server.url and results["config"]["api_key"] == "(given)"
    for row in results["rows"]:  # honcho-local answers its recall extension: every arm is scored
        assert {"honcho", "honcho-search", "conclusions", "bm25"} <= set(row["retrieved"])
    report = (out / "external.md").read_text()
    assert "## Evidence recall" in report and "not-a-real-key" not in report + (out / "external.json").read_text()
    assert f"- Server: {server.url}, given with `--server-url`" in report
    # the messages went to that server, under the benchmark's workspace
    listed = httpx.post(f"{server.url}/v3/workspaces/bench-{results['conversations'][0]}/sessions/list", json={},
                        timeout=60).json()
    assert listed["total"] == 1
    # the server it did not start still runs
    assert httpx.get(f"{server.url}/health", timeout=30).status_code == 200
