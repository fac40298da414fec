"""Honcho's behaviour cases against a server (issue 35): `honcho-local bench unified CASES`.

Honcho keeps step-based behaviour cases as JSON (its `tests/unified/test_cases`): configure, create sessions
and scopes, add messages, wait for the queue, schedule a dream, then query (chat, session context, peer card,
representation) and assert on the answer (`contains`, `not_contains`, `exact_match`, `json_match`,
`llm_judge`). This runs such files, each case in a fresh workspace, over the raw v3 HTTP API, so it checks the
contract the SDKs are generated from. The cases are not shipped: point it at a folder of them (a Honcho
checkout's, or your own in the same format).

`llm_judge` needs a judge model (`judge`: a callable given the assertion's task and the answer, returning
True, False, or None when it could not decide): without one, or when it cannot decide, the assertion is
counted *unjudged*, never passed. A case passes when every assertion passed; it fails at the first step or
assertion that does not hold.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

Judge = Callable[[str, str], bool | None]


class CaseFailed(Exception):
    """A step or an assertion that did not hold."""


@dataclass
class CaseResult:
    name: str
    status: str = "passed"  # passed | failed | unjudged
    detail: str = ""
    assertions: int = 0
    unjudged: int = 0
    seconds: float = 0.0


@dataclass
class Runner:
    base_url: str
    api_key: str | None = None
    judge: Judge | None = None
    queue_timeout: float = 600.0
    workspace_prefix: str = "unified"
    http: httpx.Client = field(init=False)
    w: str = field(init=False, default="")  # the running case's workspace path

    def __post_init__(self) -> None:
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        self.http = httpx.Client(base_url=self.base_url, headers=headers, timeout=self.queue_timeout)

    def close(self) -> None:
        self.http.close()

    # ---- one case ------------------------------------------------------------------------------
    def run(self, name: str, case: dict[str, Any]) -> CaseResult:
        result, started = CaseResult(name), time.monotonic()
        self.w = f"/v3/workspaces/{self.workspace_prefix}-{uuid.uuid4().hex[:8]}"
        try:
            self._call("POST", "/v3/workspaces", json={"id": self.w.rsplit("/", 1)[1],
                                                         **({"configuration": case["workspace_config"]}
                                                            if case.get("workspace_config") else {})})
            for i, step in enumerate(case.get("steps", []), start=1):
                try:
                    self._step(step, result)
                except CaseFailed as exc:
                    raise CaseFailed(f"step {i} ({step.get('step_type')}): {exc}") from None
        except CaseFailed as exc:
            result.status, result.detail = "failed", str(exc)
        else:
            if result.unjudged:
                result.status = "unjudged"
                result.detail = f"{result.unjudged} llm_judge assertion(s) not judged"
        result.seconds = time.monotonic() - started
        return result

    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        r = self.http.request(method, path, **kwargs)
        if not r.is_success:
            raise CaseFailed(f"{method} {path} answered {r.status_code}: {r.text[:300]}")
        return r

    def _step(self, step: dict[str, Any], result: CaseResult) -> None:
        kind, w = step.get("step_type"), self.w
        if kind == "set_workspace_config":
            self._call("PUT", w, json={"configuration": step["config"]})
        elif kind == "set_session_config":
            self._call("PUT", f"{w}/sessions/{step['session_id']}", json={"configuration": step["config"]})
        elif kind == "create_session":
            body: dict[str, Any] = {"id": step["session_id"]}
            if step.get("peer_configs") is not None:
                body["peers"] = step["peer_configs"]
            if step.get("config") is not None:
                body["configuration"] = step["config"]
            self._call("POST", f"{w}/sessions", json=body)
        elif kind in ("add_message", "add_messages"):
            items = step["messages"] if kind == "add_messages" else [step]
            self._call("POST", f"{w}/sessions/{step['session_id']}/messages", json={"messages": [_message(m) for m in items]})
        elif kind == "create_scope":
            self._call("POST", f"{w}/scopes", json={"id": step["scope_id"]})
            if step.get("session_ids"):
                self._call("POST", f"{w}/scopes/{step['scope_id']}/sessions", json={"session_ids": step["session_ids"]})
        elif kind == "wait":
            self._wait(step)
        elif kind == "schedule_dream":
            self._call("POST", f"{w}/schedule_dream", json={
                "observer": step["observer"], "observed": step.get("observed") or step["observer"],
                "session_id": step.get("session_id"), "dream_type": step["dream_type"]})
        elif kind == "query":
            answer = self._query(step)
            for assertion in step.get("assertions", []):
                result.assertions += 1
                self._check(answer, assertion, result)
        else:
            raise CaseFailed(f"unknown step type {kind!r}")

    def _wait(self, step: dict[str, Any]) -> None:
        if step.get("duration") is not None:
            time.sleep(float(step["duration"]))
            return
        deadline = time.monotonic() + float(step.get("timeout") or 60)
        while True:
            status = self._call("GET", f"{self.w}/queue/status").json()
            if status["pending_work_units"] == 0 and status["in_progress_work_units"] == 0:
                return
            if time.monotonic() > deadline:
                raise CaseFailed(f"the queue did not empty within {step.get('timeout') or 60} s: {status}")
            time.sleep(0.2)

    def _query(self, step: dict[str, Any]) -> Any:
        target, w = step["target"], self.w
        observer, observed = step.get("observer_peer_id"), step.get("observed_peer_id")
        if target == "chat":
            body = {"query": step.get("input") or "", "session_id": step.get("session_id"), "target": observed,
                    "reasoning_level": step.get("reasoning_level"), "response_format": step.get("response_format"),
                    "scope": step.get("scope")}
            return self._call("POST", f"{w}/peers/{observer}/chat", json=_present(body)).json()["content"]
        if target == "get_context":
            params = _present({"summary": str(bool(step.get("summary"))).lower(), "tokens": step.get("max_tokens"),
                               "scope": step.get("scope"), "peer_target": observed if step.get("scope") else None})
            return self._call("GET", f"{w}/sessions/{step['session_id']}/context", params=params).json()
        if target == "get_peer_card":
            params = _present({"target": observed if observed and observed != observer else None})
            card = self._call("GET", f"{w}/peers/{observer}/card", params=params).json().get("peer_card")
            return {"peer_card": card or None}
        if target == "get_representation":
            body = _present({"session_id": step.get("session_id"), "target": observed, "search_query": step.get("input"),
                             "scope": step.get("scope")})
            return self._call("POST", f"{w}/peers/{observer}/representation", json=body).json()["representation"]
        raise CaseFailed(f"unknown query target {target!r}")

    def _check(self, answer: Any, assertion: dict[str, Any], result: CaseResult) -> None:
        kind = assertion.get("assertion_type")
        text = answer if isinstance(answer, str) else json.dumps(answer, ensure_ascii=False)
        if kind in ("contains", "not_contains"):
            needle, hay = assertion["text"], text
            if not assertion.get("case_sensitive", False):
                needle, hay = needle.lower(), hay.lower()
            if (needle in hay) != (kind == "contains"):
                raise CaseFailed(f"{kind} {assertion['text']!r} failed on: {text[:300]}")
        elif kind == "exact_match":
            if text != assertion["text"]:
                raise CaseFailed(f"exact_match: expected {assertion['text']!r}, got {text[:300]!r}")
        elif kind == "json_match":
            data = answer if isinstance(answer, dict) else _json_or_none(text)
            if not isinstance(data, dict):
                raise CaseFailed(f"json_match: the answer is not a JSON object: {text[:300]}")
            for key, value in (assertion.get("key_value_pairs") or {}).items():
                if data.get(key) != value:
                    raise CaseFailed(f"json_match: {key!r} is {data.get(key)!r}, expected {value!r}")
        elif kind == "llm_judge":
            verdict = self.judge(assertion["prompt"], text) if self.judge is not None else None
            if verdict is None:
                result.unjudged += 1
            elif verdict != assertion.get("pass_if", True):
                raise CaseFailed(f"llm_judge ({assertion['prompt'][:120]!r}) said {verdict} on: {text[:300]}")
        else:
            raise CaseFailed(f"unknown assertion type {kind!r}")


def _message(m: dict[str, Any]) -> dict[str, Any]:
    return _present({"peer_id": m["peer_id"], "content": m["content"], "created_at": m.get("created_at"),
                     "configuration": m.get("config")})


def _present(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


def _json_or_none(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def load_cases(folder: Path) -> list[tuple[str, dict[str, Any]]]:
    """Every `*.json` case in `folder`, by file name."""
    return [(p.stem, json.loads(p.read_text())) for p in sorted(folder.glob("*.json"))]


def model_judge(llm: Any) -> Judge:
    """A judge on a chat model (`llm.complete`): a yes/no verdict in constrained JSON; None when it fails."""
    from honcho_local.llm import ChatRequest

    schema = {"type": "object", "properties": {"passed": {"type": "boolean"}}, "required": ["passed"]}

    def judge(task: str, answer: str) -> bool | None:
        try:
            done = llm.complete(ChatRequest(messages=[
                {"role": "system", "content": "You check a test result against a requirement. Reply with JSON."},
                {"role": "user", "content": f"Requirement: {task}\n\nActual result:\n{answer[:6000]}\n\n"
                                            "Does the result meet the requirement?"}], max_tokens=24, schema=schema))
        except Exception:  # noqa: BLE001 - a judge that fails leaves the assertion unjudged, never passed
            return None
        verdict = (done.parsed or {}).get("passed")
        return verdict if isinstance(verdict, bool) else None

    return judge


def summary(results: list[CaseResult]) -> str:
    counts = {s: sum(r.status == s for r in results) for s in ("passed", "failed", "unjudged")}
    lines = ["| case | result | assertions | seconds | detail |", "|---|---|---:|---:|---|"]
    lines += [f"| {r.name} | {r.status} | {r.assertions} | {r.seconds:.1f} | {r.detail[:200].replace('|', '/')} |"
              for r in results]
    lines.append(f"\n{len(results)} cases: {counts['passed']} passed, {counts['failed']} failed, "
                 f"{counts['unjudged']} unjudged")
    return "\n".join(lines)
