"""Issue 30 item 4: the OpenAPI document describes the server. A bounded, deterministic schemathesis run
against a live server with the server's own /openapi.json: every operation, valid and
invalid generated requests, and these checks on every answer: no 5xx, every status code documented, every
content type documented, every body matching its documented schema, and schema-violating requests
rejected. Fails on the first such mismatch. A larger run by hand: docs/api.md ("The contract").
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

schemathesis = pytest.importorskip("schemathesis")
from schemathesis import engine  # noqa: E402
from schemathesis.engine import Status, events  # noqa: E402

from tests.conftest import LiveServer, start_server, stop_server  # noqa: E402

CHECKS = ["not_a_server_error", "status_code_conformance", "content_type_conformance", "response_schema_conformance",
          "negative_data_rejection"]
MAX_EXAMPLES = 3  # per operation and phase: ~3,000 cases, a minute or two on 2 busy cores
CONFIG = {
    "seed": 30, "workers": 1, "request-timeout": 60,
    "generation": {"mode": "all", "max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none",
                   "no-shrink": True},
    "phases": {"stateful": {"enabled": False}},  # examples, coverage and fuzzing
    "checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS}},
}


def run_schemathesis(base_url: str, config: dict[str, Any]) -> tuple[int, list[str], list[str]]:
    """(cases run, failures, errors) of a schemathesis run (its engine, as its CLI drives it; the pytest
    plugin of schemathesis 4.x does not run under pytest 9) over every operation."""
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json", config=schemathesis.Config.from_dict(config))
    cases, failures, errors = 0, [], []
    for event in engine.from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            cases += len(event.recorder.cases)
            failures += [_describe(event.recorder, case_id, check) for case_id, checks in event.recorder.checks.items()
                         for check in checks if check.status == Status.FAILURE
                         and not _model_gave_up(event.recorder, case_id, check)]
        elif isinstance(event, (events.NonFatalError, events.FatalError)):
            errors.append(repr(event))
    return cases, failures, errors


def _model_gave_up(recorder: Any, case_id: str, check: Any) -> bool:
    """Chat's documented 502: the (fake) model's answer did not fit the `response_format` schemathesis asked
    for. The server's answer is right; `not_a_server_error` counts every 5xx."""
    interaction = recorder.interactions.get(case_id)
    return (check.name == "not_a_server_error" and interaction is not None
            and interaction.response.status_code == 502 and recorder.label.endswith("/chat")
            and b"output unusable" in interaction.response.content)


def _describe(recorder: Any, case_id: str, check: Any) -> str:
    """The operation, the check, what it found, and the request and answer that show it."""
    failure = check.failure_info.failure if check.failure_info else None
    case, interaction = recorder.cases[case_id].value, recorder.interactions.get(case_id)
    answer = f"{interaction.response.status_code} {interaction.response.content[:300]!r}" if interaction else "-"
    return (f"{recorder.label}: {check.name}: {getattr(failure, 'title', '')}: "
            f"{str(getattr(failure, 'message', ''))[:300]} | query={case.query} body={str(case.body)[:300]} -> {answer}")


@pytest.fixture(scope="module")
def contract_server(tmp_path_factory: pytest.TempPathFactory, model) -> Iterator[LiveServer]:
    """A live server whose chat model is the fake one (tests/fake_model.py): chat answers at once."""
    env = model.env()
    server = start_server(Path(tmp_path_factory.mktemp("contract-home")), env=env)
    yield server
    stop_server(server)


@pytest.fixture(scope="module")
def model():
    from tests.fake_model import FakeModel

    fake = FakeModel().start()
    yield fake
    fake.stop()


def test_every_answer_matches_the_document(contract_server: LiveServer) -> None:
    cases, failures, errors = run_schemathesis(contract_server.url, CONFIG)
    print(f"schemathesis: {cases} cases, {len(failures)} failures")  # shown with -s
    assert cases > 1_000 and not errors, errors
    assert not failures, f"{len(failures)} of {cases} cases failed:\n" + "\n".join(sorted(set(failures)))


def test_the_document_states_errors_ids_and_paging(contract_server: LiveServer) -> None:
    doc = httpx.get(f"{contract_server.url}/openapi.json").json()
    assert doc["components"]["schemas"]["Error"]["properties"] == {"detail": {"type": "string"}}
    create = doc["paths"]["/v3/workspaces/{workspace_id}/sessions/{session_id}/messages"]["post"]
    assert {"201", "400", "403", "404", "413", "415", "421", "422", "503", "507"} <= set(create["responses"])
    assert create["responses"]["422"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
    workspace = next(p for p in create["parameters"] if p["name"] == "workspace_id")
    assert workspace["schema"]["pattern"] == "^[a-zA-Z0-9_-]+$" and workspace["schema"]["maxLength"] == 512
    listing = doc["paths"]["/v3/workspaces/list"]["post"]
    page = next(p for p in listing["parameters"] if p["name"] == "page")
    assert page["schema"]["minimum"] == 1 and page["schema"]["maximum"] == 1_000_000_000
    assert listing["requestBody"]["required"] is False
    assert set(doc["paths"]["/v3/workspaces"]["post"]["responses"]) >= {"200", "201"}
