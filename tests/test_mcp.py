"""The MCP door, driven by the official MCP client from the same SDK: over stdio (`honcho-local mcp`
spawned against a live server) and over streamable HTTP (`/mcp` on the live server). An agent lists
Honcho's tool set, writes a conversation, waits for the worker, asks `chat`, reads a card, and lists and
deletes a conclusion; once with the scripted fake model (what must exist does), once with the shipped
tiny model."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from honcho_local.bench.server import free_port
from tests.conftest import (
    MODEL_DEADLINE_S,
    REPO_ROOT,
    LiveServer,
    start_server,
    stop_server,
)
from tests.fake_model import FakeModel
from tests.test_worker_live import reasoning_env

HONCHO_TOOLS = {
    "list_workspaces", "create_workspace", "inspect_workspace", "search", "get_metadata", "set_metadata",
    "create_peer", "list_peers", "chat", "get_peer_card", "set_peer_card", "get_peer_context", "get_representation",
    "create_session", "list_sessions", "delete_session", "clone_session", "add_peers_to_session",
    "remove_peers_from_session", "get_session_peers", "inspect_session", "add_messages_to_session",
    "get_session_messages", "get_session_message", "get_session_context",
    "list_conclusions", "query_conclusions", "create_conclusions", "delete_conclusion", "get_queue_status",
    "schedule_dream",
}
CONVERSATION = [("alice", "I live in Lisbon and I work as a data engineer."), ("bot", "Nice to meet you!"),
                ("alice", "I have a cat named Pixel and I am vegetarian."), ("bot", "Noted.")]


def stdio(home: Path) -> StdioServerParameters:
    return StdioServerParameters(command=sys.executable, args=["-m", "honcho_local.cli", "mcp", "--home", str(home)],
                                 cwd=str(REPO_ROOT))


async def call(client: Client, name: str, **arguments: Any) -> Any:
    """A tool's answer, parsed when it is JSON; a failed call fails the test with its message."""
    result = await client.call_tool(name, arguments)
    body = result.content[0].text if result.content else ""
    assert not result.is_error, f"{name}: {body}"
    try:
        return json.loads(body)
    except ValueError:
        return body


async def drained(client: Client, **where: Any) -> dict[str, Any]:
    """Ask get_queue_status until nothing is pending or in progress (a hang guard bounds it, not a speed)."""
    deadline = time.monotonic() + MODEL_DEADLINE_S
    while True:
        status = await call(client, "get_queue_status", **where)
        if status["pending_work_units"] == 0 and status["in_progress_work_units"] == 0:
            return status
        assert time.monotonic() < deadline, f"queue did not drain: {status}"
        await asyncio.sleep(0.2)


async def converse(client: Client, session_id: str, **where: Any) -> None:
    messages = [{"peer_id": peer, "content": content} for peer, content in CONVERSATION]
    assert await call(client, "add_messages_to_session", session_id=session_id, messages=messages,
                      **where) == "Messages added to session successfully"
    status = await drained(client, **where)
    assert status["failed_work_units"] == 0 and status["completed_work_units"] > 0


@pytest.fixture
def fake_server(tmp_path: Path, model: FakeModel) -> Iterator[LiveServer]:
    server = start_server(tmp_path / "home", env=reasoning_env(model), timeout=120)
    yield server
    stop_server(server)


def test_mcp_without_a_server_says_what_to_run_in_one_line(tmp_path: Path) -> None:
    home = tmp_path / "nobody"
    done = subprocess.run([sys.executable, "-m", "honcho_local.cli", "mcp", "--home", str(home)],
                          check=False, capture_output=True, text=True, cwd=REPO_ROOT,
                          stdin=subprocess.DEVNULL, timeout=120)
    assert done.returncode != 0
    assert done.stdout == ""  # stdout is the protocol stream
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "no honcho-local server is running" in lines[0] and f"honcho-local serve --home {home}" in lines[0]
    assert not (home / "honcho.duckdb").exists()


def test_mcp_start_starts_a_server_for_the_home_and_serves_through_it(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {**os.environ, "HONCHO_LOCAL_PORT": str(free_port()), "HONCHO_LOCAL_LOG_LEVEL": "warning",
           "HONCHO_LOCAL_REASONING_MODEL": "smollm2-135m", "HONCHO_LOCAL_REASONING_ENABLED": "false",
           "HONCHO_LOCAL_SUMMARY_ENABLED": "false"}
    params = StdioServerParameters(command=sys.executable, cwd=str(REPO_ROOT), env=env,
                                   args=["-m", "honcho_local.cli", "mcp", "--home", str(home), "--start"])

    async def agent() -> None:
        async with Client(params) as client:
            await call(client, "create_peer", peer_id="alice")
            assert await call(client, "list_peers") == [{"id": "alice"}]

    try:
        asyncio.run(agent())
        info = json.loads((home / "server.json").read_text())
        assert httpx.post(f"{info['url']}/v3/workspaces/default/peers/list").json()["items"][0]["id"] == "alice"
    finally:
        info = json.loads((home / "server.json").read_text()) if (home / "server.json").exists() else None
        if info is not None:  # the server --start left running: stop it, as its user would
            os.kill(info["pid"], signal.SIGTERM)
            deadline = time.monotonic() + 120
            while (home / "server.json").exists():
                assert time.monotonic() < deadline, "the started server did not stop"
                time.sleep(0.1)


def test_stdio_agent_writes_reasons_and_forgets_with_the_fake_model(fake_server: LiveServer) -> None:
    async def agent() -> None:
        async with Client(stdio(fake_server.home)) as client:
            assert {tool.name for tool in (await client.list_tools()).tools} == HONCHO_TOOLS
            await converse(client, "s1")
            assert await call(client, "get_session_peers", session_id="s1") == ["alice", "bot"]
            conclusions = await call(client, "list_conclusions", peer_id="alice")
            assert conclusions and all(c["observed_id"] == "alice" for c in conclusions)
            assert any("Lisbon" in c["content"] for c in conclusions)
            answer = await call(client, "chat", peer_id="alice", query="Where does alice live?")
            assert isinstance(answer, str) and answer.strip() and answer != "None"
            await call(client, "set_peer_card", peer_id="alice", peer_card=["Lives in Lisbon", "Has a cat, Pixel"])
            assert await call(client, "get_peer_card", peer_id="alice") == ["Lives in Lisbon", "Has a cat, Pixel"]
            gone = conclusions[0]["id"]
            assert await call(client, "delete_conclusion", peer_id="alice", target_peer_id="alice",
                              conclusion_id=gone) == "Conclusion deleted successfully"
            left = await call(client, "list_conclusions", peer_id="alice")
            assert gone not in {c["id"] for c in left} and len(left) == len(conclusions) - 1
            assert (await call(client, "inspect_workspace"))["workspace_id"] == "default"

    asyncio.run(agent())


def test_http_door_shares_the_tools_and_takes_the_workspace_header(fake_server: LiveServer) -> None:
    async def agent() -> None:
        headers = {"X-Honcho-Workspace-ID": "from-header"}
        async with httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30.0, read=None)) as http, \
                Client(streamable_http_client(f"{fake_server.url}/mcp", http_client=http)) as client:
            assert {tool.name for tool in (await client.list_tools()).tools} == HONCHO_TOOLS
            await converse(client, "h1")
            assert (await call(client, "inspect_workspace"))["workspace_id"] == "from-header"
            conclusions = await call(client, "list_conclusions", peer_id="alice")
            assert any("Pixel" in c["content"] for c in conclusions)
            await call(client, "create_conclusions", peer_id="bot", target_peer_id="alice",
                       conclusions=["alice likes tea"], session_id="h1")
            about = await call(client, "list_conclusions", peer_id="bot", target_peer_id="alice")
            assert [c["content"] for c in about] == ["alice likes tea"]
            await call(client, "delete_conclusion", peer_id="bot", target_peer_id="alice", conclusion_id=about[0]["id"])
            assert await call(client, "list_conclusions", peer_id="bot", target_peer_id="alice") == []
            named = await call(client, "get_session_messages", session_id="h1", workspace_id="from-header")
            assert [m["content"] for m in named] == [content for _, content in CONVERSATION]
            workspaces = {w["id"] for w in await call(client, "list_workspaces")}
            assert "from-header" in workspaces and "default" not in workspaces

    asyncio.run(agent())


def test_http_door_answers_only_behind_the_guard(fake_server: LiveServer) -> None:
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                       "clientInfo": {"name": "page", "version": "0"}}}
    accept = {"Accept": "application/json, text/event-stream"}
    page = httpx2.post(f"{fake_server.url}/mcp", json=init, headers={**accept, "Origin": "https://evil.example"})
    assert page.status_code == 403
    rebound = httpx2.post(f"{fake_server.url}/mcp", json=init, headers={**accept, "Host": "evil.example"})
    assert rebound.status_code == 421
    form = httpx2.post(f"{fake_server.url}/mcp", content=json.dumps(init),
                       headers={**accept, "Content-Type": "text/plain"})
    assert form.status_code == 415


@pytest.mark.model
@pytest.mark.slow
@pytest.mark.timeout(MODEL_DEADLINE_S)  # a hang guard only: the model's pace on a loaded machine is not tested
@pytest.mark.parametrize("transport", ["http", "stdio"])
def test_agent_with_the_shipped_tiny_model(tmp_path: Path, transport: str) -> None:
    server = start_server(tmp_path / "home", env={
        "HONCHO_LOCAL_REASONING_ENABLED": "true", "HONCHO_LOCAL_PEER_CARD_EVERY": "1",
        "HONCHO_LOCAL_REASONING_MAX_FACTS": "3", "HONCHO_LOCAL_REASONING_DEDUCTIONS": "false",
        "HONCHO_LOCAL_MODEL_TIMEOUT": str(MODEL_DEADLINE_S)}, timeout=120)

    async def agent() -> None:
        door = f"{server.url}/mcp" if transport == "http" else stdio(server.home)
        async with Client(door) as client:
            assert {tool.name for tool in (await client.list_tools()).tools} == HONCHO_TOOLS
            await converse(client, "tiny")
            answer = await call(client, "chat", peer_id="alice", query="What do you know about alice?")
            assert isinstance(answer, str) and answer.strip()
            card = await call(client, "get_peer_card", peer_id="alice")
            conclusions = await call(client, "list_conclusions", peer_id="alice")
            # the card is refreshed before the queue reports itself done; its entries are the conclusions
            # that pass the card's checks, which the tiny model's may not (quality is not judged here)
            assert isinstance(card, list) and all(isinstance(fact, str) for fact in card), card
            # the tiny model may also find nothing worth keeping (its runs are then recorded as empty)
            if not conclusions:
                await call(client, "create_conclusions", peer_id="alice", target_peer_id="alice",
                           conclusions=["alice lives in Lisbon"], session_id="tiny")
                conclusions = await call(client, "list_conclusions", peer_id="alice")
            await call(client, "delete_conclusion", peer_id="alice", target_peer_id="alice",
                       conclusion_id=conclusions[0]["id"])
            left = await call(client, "list_conclusions", peer_id="alice")
            assert conclusions[0]["id"] not in {c["id"] for c in left}

    try:
        asyncio.run(agent())
    finally:
        stop_server(server)


TEAM = {"workspace_id": "team"}


async def resources_and_metadata(client: Client) -> None:
    team = TEAM
    assert (await call(client, "create_workspace", workspace_id="team", metadata={"k": 1}))["id"] == "team"
    assert await call(client, "create_peer", peer_id="alice", configuration={"observe_me": True}, **team)
    assert await call(client, "create_session", session_id="s", metadata={"topic": "pets"}, **team) == \
        {"session_id": "s"}
    await call(client, "add_peers_to_session", session_id="s",
               peers=["alice", {"peer_id": "bot", "observe_me": False}], **team)
    await converse(client, "s", **team)
    assert await call(client, "list_sessions", **team) == [{"id": "s"}]
    assert {p["id"] for p in await call(client, "list_peers", **team)} == {"alice", "bot"}
    assert await call(client, "get_metadata", session_id="s", **team) == {"topic": "pets"}
    await call(client, "set_metadata", metadata={"team": True}, peer_id="alice", **team)
    assert await call(client, "get_metadata", peer_id="alice", **team) == {"team": True}
    await call(client, "set_metadata", metadata={"k": 2}, **team)
    assert await call(client, "get_metadata", **team) == {"k": 2}


async def reads_and_session_changes(client: Client) -> None:
    team = TEAM
    found = await call(client, "search", query="Pixel", **team)
    assert any("Pixel" in m["content"] for m in found)
    assert all(m["peer_id"] == "bot" for m in await call(client, "search", query="Pixel", peer_id="bot", **team))
    messages = await call(client, "get_session_messages", session_id="s", filters={"peer_id": "bot"}, **team)
    assert [m["content"] for m in messages] == ["Nice to meet you!", "Noted."]
    one = await call(client, "get_session_message", session_id="s", message_id=messages[0]["id"], **team)
    assert one["content"] == "Nice to meet you!"
    context = await call(client, "get_session_context", session_id="s", tokens=2000, **team)
    assert [m["content"] for m in context["messages"]] == [c for _, c in CONVERSATION]
    inspected = await call(client, "inspect_session", session_id="s", **team)
    assert inspected["message_count"] == 4 and {p["id"] for p in inspected["peers"]} == {"alice", "bot"}
    assert "Lisbon" in await call(client, "get_representation", peer_id="alice", **team)
    peer_context = await call(client, "get_peer_context", peer_id="alice", search_query="cat", **team)
    assert peer_context["peer_id"] == "alice" and "representation" in peer_context
    hits = await call(client, "query_conclusions", peer_id="alice", query="where does alice live", top_k=5,
                      **team)
    assert hits and all(h["observed_id"] == "alice" for h in hits)
    assert await call(client, "schedule_dream", peer_id="alice", **team) == "Dream scheduled successfully"
    assert "Lisbon" in " ".join(await call(client, "get_peer_card", peer_id="alice", **team))
    dreamless = await client.call_tool("schedule_dream", {"peer_id": "nobody", **team})
    assert dreamless.is_error and "404" in dreamless.content[0].text
    clone = await call(client, "clone_session", session_id="s", message_id=messages[0]["id"], **team)
    assert len(await call(client, "get_session_messages", session_id=clone["session_id"], **team)) == 2
    await call(client, "remove_peers_from_session", session_id="s", peer_ids=["bot"], **team)
    assert await call(client, "get_session_peers", session_id="s", **team) == ["alice"]
    await call(client, "delete_session", session_id=clone["session_id"], **team)
    assert await call(client, "list_sessions", **team) == [{"id": "s"}]
    missing = await client.call_tool("get_session_message", {"session_id": "s", "message_id": "nope", **team})
    assert missing.is_error and "404" in missing.content[0].text


def test_every_tool_answers_with_honchos_arguments(fake_server: LiveServer) -> None:
    async def agent() -> None:
        async with Client(f"{fake_server.url}/mcp") as client:
            await resources_and_metadata(client)
            await reads_and_session_changes(client)

    asyncio.run(agent())
