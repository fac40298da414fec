"""`honcho-local bench unified` (issue 35): Honcho's behaviour-case format run against a live server whose worker
reasons with the fake model. The cases are honcho-local's own (tests/data/unified), written in Honcho's format:
every step type the runner knows is used, a judged assertion counts only with a judge, and a case whose
assertion does not hold fails with the step and the answer named."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from honcho_local.bench import unified
from tests.conftest import REPO_ROOT, LiveServer, start_server, stop_server
from tests.fake_model import FactEcho
from tests.test_worker_live import reasoning_env

CASES = Path(__file__).parent / "data" / "unified"


@pytest.fixture(scope="module")
def fact_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    fake = FactEcho().start()
    server = start_server(tmp_path_factory.mktemp("unified"), env={**reasoning_env(fake),
                                                                  "HONCHO_LOCAL_PEER_CARD_EVERY": "1"})
    yield server
    stop_server(server)
    fake.stop()


def test_cases_run_step_by_step_and_judging_needs_a_judge(fact_server: LiveServer) -> None:
    cases = dict(unified.load_cases(CASES))
    runner = unified.Runner(fact_server.url)
    try:
        unjudged = runner.run("memory_and_scope", cases["memory_and_scope"])
        judged = unified.Runner(fact_server.url, judge=lambda task, answer: "FACT-python" in answer)
        passed = judged.run("memory_and_scope", cases["memory_and_scope"])
        refused = unified.Runner(fact_server.url, judge=lambda task, answer: False).run(
            "memory_and_scope", cases["memory_and_scope"])
        failing = runner.run("a_failing_assertion", cases["a_failing_assertion"])
    finally:
        runner.close()
    assert (unjudged.status, unjudged.unjudged, unjudged.assertions) == ("unjudged", 1, 8), unjudged
    assert passed.status == "passed" and passed.unjudged == 0, passed
    assert refused.status == "failed" and "step 9 (query): llm_judge" in refused.detail, refused
    assert failing.status == "failed" and "step 3 (query): not_contains 'FACT-bees'" in failing.detail, failing
    table = unified.summary([unjudged, passed, failing])
    assert "3 cases: 1 passed, 1 failed, 1 unjudged" in table


def test_the_cli_runs_a_folder_and_exits_1_on_a_failure(fact_server: LiveServer) -> None:
    done = subprocess.run([sys.executable, "-m", "honcho_local.cli", "bench", "unified", str(CASES),
                           "--server-url", fact_server.url], capture_output=True, text=True, cwd=REPO_ROOT,
                          timeout=900, check=False)
    assert done.returncode == 1, done.stderr
    assert "| a_failing_assertion | failed |" in done.stdout and "| memory_and_scope | unjudged |" in done.stdout
    assert "2 cases: 0 passed, 1 failed, 1 unjudged" in done.stdout


def test_a_model_judge_reads_a_constrained_verdict() -> None:
    class Done:
        def __init__(self, parsed: dict | None) -> None:
            self.parsed = parsed

    class Model:
        def __init__(self, parsed: dict | None, fail: bool = False) -> None:
            self.parsed, self.fail, self.requests = parsed, fail, []

        def complete(self, request):
            self.requests.append(request)
            if self.fail:
                raise RuntimeError("no model")
            return Done(self.parsed)

    yes = Model({"passed": True})
    assert unified.model_judge(yes)("names the fact", "seen: FACT-python") is True
    assert "names the fact" in json.dumps(yes.requests[0].messages) and yes.requests[0].schema
    assert unified.model_judge(Model({"passed": False}))("t", "a") is False
    assert unified.model_judge(Model({}))("t", "a") is None  # no verdict: unjudged, never passed
    assert unified.model_judge(Model(None, fail=True))("t", "a") is None
