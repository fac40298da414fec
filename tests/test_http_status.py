"""Status codes and envelopes checked with raw HTTP, as the reference documents them."""

from __future__ import annotations

import httpx

JSON = {"Content-Type": "application/json"}


def test_get_or_create_status_codes(http: httpx.Client, workspace_id: str) -> None:
    assert http.post("/v3/workspaces", json={"id": workspace_id}).status_code == 201
    assert http.post("/v3/workspaces", json={"id": workspace_id}).status_code == 200
    w = f"/v3/workspaces/{workspace_id}"
    assert http.post(f"{w}/peers", json={"id": "p"}).status_code == 201
    assert http.post(f"{w}/peers", json={"id": "p"}).status_code == 200
    assert http.post(f"{w}/sessions", json={"id": "s"}).status_code == 201
    assert http.post(f"{w}/sessions", json={"id": "s"}).status_code == 200


def test_messages_created_201_and_trailing_slash(http: httpx.Client, workspace_id: str) -> None:
    w = f"/v3/workspaces/{workspace_id}"
    r = http.post(f"{w}/sessions/s/messages/", json={"messages": [{"content": "hi", "peer_id": "a"}]})
    assert r.status_code == 201
    [msg] = r.json()
    assert set(msg) == {"id", "content", "peer_id", "session_id", "metadata", "created_at", "workspace_id",
                        "token_count"}
    assert msg["token_count"] >= 1
    assert http.get(f"{w}/sessions/s/messages/{msg['id']}", headers=JSON).status_code == 200
    assert http.get(f"{w}/sessions/s/messages/nope", headers=JSON).status_code == 404


def test_list_envelope_and_empty_body_post(http: httpx.Client, workspace_id: str) -> None:
    w = f"/v3/workspaces/{workspace_id}"
    for i in range(5):
        http.post(f"{w}/peers", json={"id": f"p{i}"})
    r = http.post(f"{w}/peers/list?page=2&size=2", headers=JSON, content=b"")
    assert r.status_code == 200
    body = r.json()
    assert (body["total"], body["page"], body["size"], body["pages"]) == (5, 2, 2, 3)
    assert [p["id"] for p in body["items"]] == ["p2", "p3"]
    rev = http.post(f"{w}/peers/list?reverse=true&size=1", headers=JSON).json()
    assert rev["items"][0]["id"] == "p4"


def test_delete_codes(http: httpx.Client, workspace_id: str) -> None:
    w = f"/v3/workspaces/{workspace_id}"
    http.post(f"{w}/sessions", json={"id": "s"})
    r = http.delete(w)
    assert r.status_code == 409 and "active session" in r.json()["detail"]
    r = http.delete(f"{w}/sessions/s")
    assert r.status_code == 202 and r.json() == {"message": "Session deleted successfully"}
    assert http.delete(f"{w}/sessions/s").status_code == 404
    r = http.delete(w)
    assert r.status_code == 202 and r.json() == {"message": "Workspace deletion accepted"}
    assert http.post("/v3/workspaces/list", json={"filters": {"id": workspace_id}}).json()["total"] == 0


def test_peer_config_put_is_204_and_observer_limit_is_400(http: httpx.Client, workspace_id: str) -> None:
    w = f"/v3/workspaces/{workspace_id}"
    peers = {f"o{i}": {"observe_others": True} for i in range(10)}
    assert http.post(f"{w}/sessions", json={"id": "s", "peers": peers}).status_code == 201
    r = http.put(f"{w}/sessions/s/peers/o0/config", json={"observe_me": False})
    assert r.status_code == 204
    assert http.get(f"{w}/sessions/s/peers/o0/config", headers=JSON).json() == {
        "observe_me": False, "observe_others": True}
    r = http.post(f"{w}/sessions/s/peers", json={"extra": {"observe_others": True}})
    assert r.status_code == 400 and "at most 10" in r.json()["detail"]
    members = http.get(f"{w}/sessions/s/peers", headers=JSON).json()
    assert members["total"] == 10  # the refused change stored nothing


def test_session_configuration_is_deep_merged(http: httpx.Client, workspace_id: str) -> None:
    w = f"/v3/workspaces/{workspace_id}"
    http.post(f"{w}/sessions", json={"id": "s", "configuration": {"reasoning": {"enabled": False}}})
    r = http.put(f"{w}/sessions/s", json={"configuration": {"reasoning": {"custom_instructions": "be brief"}}})
    assert r.json()["configuration"] == {"reasoning": {"enabled": False, "custom_instructions": "be brief"}}


def test_events_extension(http: httpx.Client, workspace_id: str) -> None:
    w = f"/v3/workspaces/{workspace_id}/sessions/s"
    http.post(f"{w}/messages", json={"messages": [{"content": "run it", "peer_id": "user"}]})
    r = http.post(f"{w}/events", json={"events": [
        {"kind": "tool_call", "peer_id": "agent", "content": '{"tool": "search"}'},
        {"kind": "custom", "peer_id": "agent", "content": "deployed"}]})
    assert r.status_code == 201
    events = http.post(f"{w}/events/list", headers=JSON).json()["items"]
    assert [(e["kind"], e["seq"]) for e in events] == [("message", 1), ("tool_call", 2), ("custom", 3)]
    assert http.post(f"{w}/messages/list", headers=JSON).json()["total"] == 1


def test_health_and_openapi(http: httpx.Client) -> None:
    assert http.get("/health").json() == {"status": "ok"}
    schema = http.get("/openapi.json").json()
    assert "/v3/workspaces/{workspace_id}/sessions/{session_id}/messages" in schema["paths"]


def test_metrics_count_written_events(http: httpx.Client, workspace_id: str) -> None:
    def written() -> float:
        for line in http.get("/metrics").text.splitlines():
            if line.startswith('honcho_events_written_total{kind="message"}'):
                return float(line.split()[-1])
        return 0.0

    before = written()
    http.post(f"/v3/workspaces/{workspace_id}/sessions/s/messages",
              json={"messages": [{"content": f"m{i}", "peer_id": "a"} for i in range(3)]})
    assert written() == before + 3
    assert "honcho_write_group_seconds_bucket" in http.get("/metrics").text


def test_log_level_applies_to_every_logger(server, http: httpx.Client, workspace_id: str) -> None:
    """The server runs at `log_level = "warning"` here: the worker's task runs (Huey logs two INFO lines
    per task) and the requests leave nothing in its log."""
    import time

    w = f"/v3/workspaces/{workspace_id}"
    for i in range(3):  # one task per message: each waits for the queue to finish the one before
        assert http.post(f"{w}/sessions/logged/messages", json={"messages": [{"content": f"m{i}", "peer_id": "a"}]},
                         headers=JSON).status_code == 201
        deadline = time.monotonic() + 20
        status = {}
        while time.monotonic() < deadline:
            status = http.get(f"{w}/queue/status", headers=JSON).json()
            if status["total_work_units"] and status["completed_work_units"] == status["total_work_units"]:
                break
            time.sleep(0.05)
        assert status["total_work_units"] and status["completed_work_units"] == status["total_work_units"]
    assert [line for line in server.log().splitlines() if " INFO " in line or line.startswith("INFO")] == []
