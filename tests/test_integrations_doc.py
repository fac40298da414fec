"""docs/integrations.md's examples, run as written against a live server whose worker reasons with the
scripted fake model: the official SDK's agent loop, the MCP client, and the seed-style client. Each
marked Python block (`<!-- example: NAME -->`) is executed with the server's address in place of
http://127.0.0.1:8000, and what it printed and what the server then holds are checked."""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from honcho_local.client import summary_text
from tests.conftest import MODEL_DEADLINE_S, REPO_ROOT, LiveServer, start_server, stop_server
from tests.fake_model import FakeModel
from tests.test_mcp import HONCHO_TOOLS
from tests.test_worker_live import reasoning_env, wait_idle

DOC = REPO_ROOT / "docs" / "integrations.md"
PLACEHOLDER = "http://127.0.0.1:8000"
EXAMPLE = re.compile(r"<!-- example: (\S+) -->\n```python\n(.*?)```", re.S)


def examples() -> dict[str, str]:
    text = DOC.read_text()
    found = dict(EXAMPLE.findall(text))
    assert len(found) == text.count("```python"), "every Python block in the doc is a marked, tested example"
    return found


@pytest.fixture(scope="module")
def doc_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    model = FakeModel().start()
    server = start_server(Path(tmp_path_factory.mktemp("integrations-home")), env=reasoning_env(model), timeout=120)
    yield server
    stop_server(server)
    model.stop()


def run(name: str, server: LiveServer) -> list[str]:
    """Execute the doc's example `name` against `server`; the lines it printed."""
    code = examples()[name]
    assert PLACEHOLDER in code
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code.replace(PLACEHOLDER, server.url), f"{DOC}:{name}", "exec"), {"__name__": "__main__"})
    return out.getvalue().splitlines()


def messages(server: LiveServer, workspace: str, session: str) -> list[tuple[str, str]]:
    r = httpx.post(f"{server.url}/v3/workspaces/{workspace}/sessions/{session}/messages/list", json={}, timeout=60)
    assert r.status_code == 200, r.text
    return [(m["peer_id"], m["content"]) for m in r.json()["items"]]


def test_the_sdk_agent_loop_writes_each_turn_and_reads_context_before_each_answer(doc_server: LiveServer) -> None:
    printed = run("sdk-loop", doc_server)
    assert printed == [
        "(answer to \"I'm planning a trip to Japan in April.\", with 0 earlier user turn(s) in context)",
        "(answer to 'What should I pack?', with 1 earlier user turn(s) in context)"]
    assert messages(doc_server, "my-app", "chat-1") == [
        ("alice", "I'm planning a trip to Japan in April."), ("assistant", printed[0]),
        ("alice", "What should I pack?"), ("assistant", printed[1])]


def test_the_mcp_example_lists_honchos_tools_and_writes_through_them(doc_server: LiveServer) -> None:
    printed = run("mcp", doc_server)
    assert printed[0] == f"{len(HONCHO_TOOLS)} tools"
    assert "I prefer tea to coffee." in printed[1]
    assert messages(doc_server, "my-app", "mcp-1") == [("alice", "I prefer tea to coffee.")]


def test_the_seed_client_example_writes_then_reads_the_servers_memory(doc_server: LiveServer) -> None:
    assert run("seed-write", doc_server) == []
    assert messages(doc_server, "invoices", "s1") == [
        ("alice", "I'm automating our invoices in Python."), ("assistant", "Happy to help. Which payment provider?"),
        ("alice", "Stripe, and we bill monthly.")]
    wait_idle(doc_server, "invoices", timeout=MODEL_DEADLINE_S)
    printed = run("seed-context", doc_server)
    raw = httpx.get(f"{doc_server.url}/v3/workspaces/invoices/sessions/s1/context",
                    params={"peer_target": "alice", "summary": "true"}, timeout=60).json()
    assert printed == [summary_text(raw)]
    # the fake model's conclusions state what alice said; the assistant's words are not hers
    assert "alice said: I'm automating our invoices in Python." in printed[0]
    assert "alice said: Stripe, and we bill monthly." in printed[0] and "payment provider" not in printed[0]
