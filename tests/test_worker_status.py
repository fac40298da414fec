"""The worker made visible: one log line per work-unit run, the running units with their step in queue
status (and `GET /status`), and `honcho-local status` against a live server and against none.
A unit is held mid-run by the scripted model's gate, so "running" is a state the test waits for."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from honcho_local import schemas
from honcho_local.bench.server import free_port
from honcho_local.cli import main
from honcho_local.config import load_settings
from honcho_local.llm.fake import FakeEmbedder
from honcho_local.services.activity import Activity
from honcho_local.wiring import Services, build_services
from tests.conftest import start_server, stop_server
from tests.fake_model import FakeModel

NO_ADDRESS_ENV = {"HONCHO_LOCAL_HOST": None, "HONCHO_LOCAL_PORT": None, "HOST": None, "PORT": None,
                  "HONCHO_LOCAL_HOME": None}


class ArrivalGate(threading.Event):
    """A closed gate for the fake model's requests that says when the first one reaches it."""

    def __init__(self) -> None:
        super().__init__()
        self.arrived = threading.Event()

    def wait(self, timeout: float | None = None) -> bool:
        self.arrived.set()
        return super().wait(timeout)


@pytest.fixture
def svc(tmp_home: Path, model: FakeModel) -> Iterator[Services]:
    settings = load_settings(tmp_home, env={}, reasoning_model="openai:fake", openai_base_url=model.url,
                             reasoning_retries=1, summary_short_every=4, summary_long_every=8, peer_card_every=50)
    services = build_services(settings, with_worker=True, embedder_factory=lambda: FakeEmbedder())
    yield services
    services.close()


def post(svc: Services, session: str, *messages: tuple[str, str]) -> None:
    svc.ingest.add_messages("w", session, schemas.MessageBatch(
        messages=[schemas.MessageCreate(peer_id=p, content=c) for p, c in messages]))


def run_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "honcho_local.worker" and "work unit ran:" in r.getMessage()]


def test_each_unit_run_logs_one_line_with_what_it_did(svc: Services, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="honcho_local")
    post(svc, "s1", ("alice", "I moved to Lisbon."), ("bot", "Nice city."), ("alice", "I have a cat."))
    assert svc.worker.drain()
    lines = {r.getMessage().split(" model_s=")[0]: r for r in run_lines(caplog)}
    assert set(lines) == {
        "work unit ran: workspace=w session=s1 peer=alice messages=2 conclusions=2 cards=1",
        "work unit ran: workspace=w session=s1 peer=bot messages=1 conclusions=1 cards=1",
        "work unit ran: workspace=w session=s1 unit=summary summaries=0 embedded=3"}
    assert len(run_lines(caplog)) == 3  # one line per unit run
    assert all(r.levelno == logging.INFO and r.getMessage().endswith(" ok") for r in lines.values())
    model_s = float(lines["work unit ran: workspace=w session=s1 peer=bot messages=1 conclusions=1 cards=1"]
                    .getMessage().split(" model_s=")[1].split()[0])
    assert model_s > 0  # the deriver call's time
    assert svc.queue_status("w")["running"] == []


def test_a_failed_run_says_so_in_its_line(svc: Services, model: FakeModel, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="honcho_local")
    model.mode = "error"
    post(svc, "s1", ("alice", "I keep bees."))
    svc.worker.drain()
    [line] = [r for r in run_lines(caplog) if "peer=alice" in r.getMessage()]
    assert line.levelno == logging.WARNING
    assert "messages=0 conclusions=0" in line.getMessage()
    assert " failed: deriver: " in line.getMessage()
    from honcho_local.cli.status import render

    lines = render({"honcho_local": "0", **svc.server_status()}, "http://127.0.0.1:8000")
    assert f"  failed: representation:{svc.version}:w:s1:alice (attempt 1): deriver: " in "\n".join(lines)


def test_a_run_that_only_moves_its_cursor_logs_at_debug(svc: Services, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="honcho_local")
    svc.resources.get_or_create_session("w", schemas.SessionCreate(
        id="quiet", configuration=schemas.ResourceConfiguration(reasoning={"enabled": False})))
    post(svc, "quiet", ("alice", "secret plans"))
    assert svc.worker.drain()
    [line] = [r for r in run_lines(caplog) if "peer=alice" in r.getMessage()]
    assert line.levelno == logging.DEBUG and line.getMessage().endswith(" ok")


def test_queue_status_lists_the_running_unit_and_its_step(svc: Services, model: FakeModel) -> None:
    gate = model.gate = ArrivalGate()
    post(svc, "s1", ("alice", "I keep bees on the roof."))
    drainer = threading.Thread(target=svc.worker.drain, name="test-drain")
    drainer.start()
    try:
        assert gate.arrived.wait(120), "the worker never called the model"
        status = svc.queue_status("w")
        [run] = status["running"]
        assert run["work_unit"] == f"representation:{svc.version}:w:s1:alice"
        assert (run["kind"], run["workspace_id"], run["session_id"], run["observed_id"]) == (
            "representation", "w", "s1", "alice")
        assert run["step"] == "deriving (model call)"
        assert run["elapsed_s"] >= run["step_elapsed_s"] >= 0
        assert status["in_progress_work_units"] == 1
        assert svc.queue_status("w", session_id="other")["running"] == []
        assert [r["work_unit"] for r in svc.server_status()["queue"]["running"]] == [run["work_unit"]]
    finally:
        gate.set()
        drainer.join()
    assert svc.queue_status("w")["running"] == []


def test_server_status_counts_recent_work_and_models(svc: Services) -> None:
    post(svc, "s1", ("alice", "I moved to Lisbon."), ("bot", "Nice city."), ("alice", "I have a cat."))
    assert svc.worker.drain()
    status = svc.server_status(minutes=5)
    assert status["queue"]["total_work_units"] == status["queue"]["completed_work_units"] == 3
    assert status["queue"]["running"] == []
    recent = status["throughput"]
    assert (recent["minutes"], recent["messages_reasoned"], recent["conclusions_derived"]) == (5, 3, 3)
    assert recent["peer_cards_written"] == 2  # the first conclusions about each peer make its card
    assert recent["model_calls"] == 4 and recent["failed_calls"] == 0 and recent["model_seconds"] > 0
    assert status["models"]["chat"] == {"name": "openai:fake", "loaded": True, "off": False, "error": None}
    assert status["models"]["embedding"]["loaded"] is True


def test_activity_reports_steps_and_elapsed_time_on_its_clock() -> None:
    now = [100.0]
    activity = Activity(clock=lambda: now[0])
    activity.begin("summary:v1:w:s")
    now[0] = 102.0
    activity.step("summary:v1:w:s", "summary (model call)")
    activity.add("summary:v1:w:s", model_seconds=1.5, messages=4, summaries=1)
    now[0] = 105.0
    assert activity.running() == [{"work_unit": "summary:v1:w:s", "kind": "summary", "workspace_id": "w",
                                   "session_id": "s", "observed_id": None, "step": "summary (model call)",
                                   "elapsed_s": 5.0, "step_elapsed_s": 3.0}]
    run = activity.end("summary:v1:w:s")
    assert run is not None and activity.running() == []
    assert run.describe() == ("work unit ran: workspace=w session=s unit=summary messages=4 summaries=1 "
                              "model_s=1.50 elapsed_s=5.00 ok")
    activity.add("summary:v1:w:s", messages=1)  # no open run: nothing to count, nothing raised


# ---- the live server and `honcho-local status` ----------------------------------------------------
def test_status_command_and_queue_status_of_a_live_server_mid_run(tmp_path: Path, model: FakeModel) -> None:
    gate = model.gate = ArrivalGate()
    home = tmp_path / "home"
    server = start_server(home, env={**model.env(), "HONCHO_LOCAL_REASONING_ENABLED": "true",
                                     "HONCHO_LOCAL_EMBEDDING_MODEL": "none"})
    try:
        (home / "config.toml").write_text(f"port = {server.port}\n")  # where `status --home` looks
        r = httpx.post(f"{server.url}/v3/workspaces/w/sessions/s1/messages",
                       json={"messages": [{"peer_id": "alice", "content": "I keep bees."}]})
        assert r.status_code == 201, r.text
        assert gate.arrived.wait(120), "the worker never called the model"
        status = httpx.get(f"{server.url}/v3/workspaces/w/queue/status").json()
        [run] = status["running"]
        assert (run["observed_id"], run["step"]) == ("alice", "deriving (model call)")
        from honcho import Honcho

        assert Honcho(base_url=server.url, workspace_id="w").queue_status().in_progress_work_units == 1
        overall = httpx.get(f"{server.url}/status").json()
        assert overall["queue"]["running"][0]["work_unit"] == run["work_unit"]
        assert overall["models"]["chat"]["name"] == "openai:fake"
        assert httpx.get(f"{server.url}/openapi.json").json()["paths"]["/status"]["get"]["tags"] == ["extension"]
        result = CliRunner().invoke(main, ["status", "--home", str(home)], env=NO_ADDRESS_ENV)
        assert result.exit_code == 0, result.output
        out = result.output
        assert f"at http://127.0.0.1:{server.port}" in out
        assert "queue: " in out and "1 in progress" in out
        assert "running: w/s1 peer alice: deriving (model call)" in out
        assert "chat" in out and "openai:fake" in out and "last 15 min:" in out
    finally:
        gate.set()
        stop_server(server)


def test_status_command_without_a_server_says_what_to_run(tmp_home: Path) -> None:
    port = free_port()
    (tmp_home / "config.toml").write_text(f"port = {port}\n")
    result = CliRunner().invoke(main, ["status", "--home", str(tmp_home)], env=NO_ADDRESS_ENV)
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        (f"error: no honcho-local server answers at http://127.0.0.1:{port}: start one with "
         f"`honcho-local serve --home {tmp_home}`")]
    assert result.exception is None or isinstance(result.exception, SystemExit)
