"""The memory-quality harness: scoring units, and an end-to-end smoke run on a tiny LoCoMo slice
with the real SmolLM2 model behind a live server (scores must come from real answers; they are not
expected to be high)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner

from honcho_local.bench import scoring
from honcho_local.bench.data import load_beam, load_locomo
from honcho_local.bench.answering import fit_text, fit_turns
from honcho_local.bench.api import subject_of
from honcho_local.bench.runner import proportional_sample, scored_questions, truncate
from honcho_local.cli import main
from tests.bench_samples import INES, TOMAS, write_samples


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """(datasets folder, raw data): the hand-made LoCoMo and BEAM samples of tests/bench_samples.py."""
    root = tmp_path_factory.mktemp("datasets")
    return root, write_samples(root)


def test_token_f1_and_exact_match() -> None:
    assert scoring.token_f1("7 May 2023", "7 May 2023") == 1.0
    assert scoring.token_f1("On the 7th of May", "7 May 2023") == pytest.approx(2 / 7)  # "the" dropped: P 1/4, R 1/3
    assert scoring.token_f1("", "x") == 0.0
    assert scoring.exact_match("The Beach!", "beach") == 1.0
    assert scoring.locomo_f1("pottery, camping", "pottery, camping, painting", 1) == pytest.approx(2 / 3)
    assert scoring.locomo_f1("sweden", "Sweden; her home country", 3) == 1.0


def test_recall_at_k() -> None:
    assert scoring.recall_at_k(["a", "b", "c"], ["c", "z"], 2) == (0.0, 0.0)
    assert scoring.recall_at_k(["a", "b", "c"], ["c", "a"], 3) == (1.0, 1.0)
    assert scoring.recall_at_k(["a", "b", "c"], ["c", "z"], 3) == (0.5, 0.0)
    with pytest.raises(ValueError):
        scoring.recall_at_k(["a"], [], 1)
    assert scoring.percentile([1, 2, 3, 4], 50) == 2.5 and math.isnan(scoring.percentile([], 50))


def test_datasets_load_in_place(samples) -> None:
    root, raw = samples
    locomo = load_locomo(root)
    assert [c.conv_id for c in locomo] == [s["sample_id"] for s in raw["locomo"]]
    assert [len(c.turns) for c in locomo] == [
        sum(len(v) for k, v in s["conversation"].items() if k.startswith("session_") and not k.endswith("date_time"))
        for s in raw["locomo"]]
    assert [len(c.questions) for c in locomo] == [len(s["qa"]) for s in raw["locomo"]]
    first = locomo[0]
    assert first.peers == ["Ines_Duarte", "Tomas"] and first.names["Ines_Duarte"] == INES
    assert [name for name, _ in first.sessions] == ["session_1", "session_2", "session_3", "session_4"]
    assert first.turns[0].created_at.isoformat() == "2023-03-03T16:10:00+00:00"
    assert first.turns[1].created_at.isoformat() == "2023-03-03T16:10:30+00:00"  # turns 30 s apart
    assert "[shares a photo: a photo of a teal bowl" in first.turns[4].text
    codes = [q.code for q in first.questions]
    assert {c: codes.count(c) for c in set(codes)} == {4: 36, 2: 20, 1: 17, 3: 9, 5: 7}
    assert first.questions[0].answer == "Biscuit" and first.questions[0].category == "single-hop"
    assert first.questions[2].answer == "a lemon" and first.questions[2].category == "adversarial"
    # LoCoMo's malformed evidence ("D2:4; D3:9", "D:2:6") is read as the turn ids it means
    assert first.questions[6].evidence == ["D2:4", "D3:9"] and first.questions[8].evidence == ["D2:6"]
    turn_ids = {t.turn_id for t in first.turns}
    assert all(set(q.evidence) <= turn_ids for q in first.questions)
    sliced = truncate(first, 2)
    assert len(sliced.sessions) == 2 and sliced.questions
    kept = {t.turn_id for t in sliced.turns}
    assert all(set(q.evidence) <= kept for q in sliced.questions)
    # questions with evidence beyond the kept sessions are dropped, the others all stay
    assert len(sliced.questions) == sum(1 for q in first.questions if q.evidence and set(q.evidence) <= kept)
    assert len(sliced.questions) < len(first.questions)
    assert [q.qid for q in truncate(first, 1).questions] == ["ines-tomas-q0", "ines-tomas-q1", "ines-tomas-q2"]
    assert subject_of(first, f"What did {INES.split()[0]} paint?") == "Ines_Duarte"
    assert subject_of(first, f"When did {TOMAS} meet {INES.split()[0]}?") == "Tomas"
    assert subject_of(first, "Who went to the market?") == "Ines_Duarte"  # no name: the first peer

    beam = load_beam(root)
    assert [c.conv_id for c in beam] == ["beam-100k-1", "beam-100k-2"]
    assert all(c.observed == ["user"] and c.peers == ["user", "assistant"] for c in beam)
    assert [len(c.sessions) for c in beam] == [2, 1]  # chat 2 is read from its chat_trunecated.json
    assert sum(len(c.questions) for c in beam) == 12 and all(q.rubric for c in beam for q in c.questions)
    assert beam[0].questions[0].category == "information_extraction"
    assert beam[0].questions[0].answer == "How to organise the recipe app."
    first_turn = beam[0].turns[0]
    assert first_turn.turn_id == "B1:0" and first_turn.speaker == "user" and not first_turn.text.endswith("1,0")
    assert first_turn.created_at.date().isoformat() == "2024-03-15"  # the turn's time anchor
    assert all(a.created_at < b.created_at for a, b in zip(beam[0].turns, beam[0].turns[1:]))


def test_missing_dataset_is_one_line_naming_the_pull_command(tmp_path: Path) -> None:
    """No traceback and no guessing: a missing dataset says which command fetches it."""
    from honcho_local.errors import DatasetUnavailable

    with pytest.raises(DatasetUnavailable, match=r"run `honcho-local bench data pull locomo --data "):
        load_locomo(tmp_path)
    with pytest.raises(DatasetUnavailable, match=r"run `honcho-local bench data pull beam --data "):
        load_beam(tmp_path)
    (tmp_path / "beam" / "100K" / "3").mkdir(parents=True)
    (tmp_path / "beam" / "100K" / "3" / "chat.json").write_text("[]")
    with pytest.raises(DatasetUnavailable, match=r"beam dataset incomplete .*probing_questions.json is missing"):
        load_beam(tmp_path)


def test_answer_sample_is_proportional_to_the_categories(samples) -> None:
    pool = scored_questions(load_locomo(samples[0])[0], None, 7)
    assert len(pool) == 82  # categories 1-4 of the first conversation
    sample = proportional_sample(pool, 40, 7)
    assert len(sample) == 40 and len({q.qid for q in sample}) == 40
    assert sample == [q for q in pool if q in sample]  # pool order kept
    for cat in {q.category for q in pool}:
        share = sum(q.category == cat for q in pool) / len(pool)
        assert abs(sum(q.category == cat for q in sample) - 40 * share) < 1  # largest remainders
    assert proportional_sample(pool, 40, 7) == sample and proportional_sample(pool, 40, 8) != sample
    assert proportional_sample(pool, None, 7) == pool


def test_baselines_index_the_products_document_text(samples) -> None:
    """The baselines see what the product indexes: BM25 the date and speaker before the words ("03 March
    2023 Ines_Duarte: ..."), the embedder "Ines_Duarte: ..."; a question naming a person or a month finds
    turns whose own words name neither."""
    from honcho_local.bench.baselines import TurnIndex, rrf
    from honcho_local.services.summary_step import message_embedding_text
    from honcho_local.store.lexical_tail import document_text

    conv = load_locomo(samples[0])[0]
    session_1 = conv.sessions[0][1]
    embedded: list[str] = []

    def embed(texts: list[str], kind: str = "document") -> list[list[float]]:
        if kind == "document":
            embedded.extend(texts)
        return [[1.0, float(len(t))] for t in texts]

    index = TurnIndex(session_1, embed)
    assert embedded == [message_embedding_text(t.speaker, t.text) for t in session_1]
    assert embedded[0] == f"Ines_Duarte: {session_1[0].text}"
    assert not any("Duarte" in t.text or "March" in t.text for t in session_1)
    ines = {t.turn_id for t in session_1 if t.speaker == "Ines_Duarte"}
    assert set(index.bm25("Duarte", 50)) == ines
    assert set(index.bm25("March", 50)) == {t.turn_id for t in session_1}
    assert document_text(session_1[0].speaker, session_1[0].text, session_1[0].created_at).startswith(
        "03 March 2023 Ines_Duarte: ")
    # plain RRF ranks by summed reciprocal ranks; the product's constants weight the lexical ranking higher
    assert rrf([["a", "b"], ["b", "c"]]) == ["b", "a", "c"]
    assert rrf([["a", "b"], ["c", "a"]], 20, [1.5, 1.0])[0] == "a"


def test_the_weighted_baseline_fuses_with_the_embedding_models_weight() -> None:
    """`bm25+dense-w` weights BM25 as the product does for the bench's embedding model."""
    from honcho_local.bench.answering import lexical_weight_for
    from honcho_local.bench.config import BenchConfig
    from honcho_local.bench.baselines import TurnIndex

    def split(index: TurnIndex) -> TurnIndex:  # BM25 and dense disagree on the first two turns
        index.bm25 = lambda query, k: ["a", "b"]  # type: ignore[method-assign]
        index.dense = lambda query, k: ["b", "a"]  # type: ignore[method-assign]
        return index

    def embed(texts: list[str], kind: str = "document") -> list[list[float]]:
        return [[1.0] for _ in texts]

    assert split(TurnIndex([], embed)).hybrid_weighted("q", 2) == ["a", "b"]  # BM25 × 1.5 by default
    assert split(TurnIndex([], embed, 0.5)).hybrid_weighted("q", 2) == ["b", "a"]
    assert lexical_weight_for(BenchConfig(embedding_model="nomic-embed-text-v1.5")) == 1.0
    assert lexical_weight_for(BenchConfig(embedding_model="all-minilm-l6-v2")) == 1.5


class _WordCounter:
    """An answerer stand-in that counts whitespace-separated words as tokens."""

    def count(self, text: str) -> int:
        return len(text.split())


def test_baseline_prompts_fit_the_window(samples) -> None:
    """BEAM turns run to thousands of tokens: the baselines keep the best-ranked turns that fit."""
    beam = load_beam(samples[0])[0]
    ranked = sorted(beam.turns, key=lambda t: -len(t.text))[:10]  # the longest turns first
    kept = fit_turns(_WordCounter(), ranked, beam.names, 600)
    assert kept == ranked[:len(kept)] and 0 < len(kept) < len(ranked)
    assert sum(_WordCounter().count(t.text[:2000]) for t in kept) <= 600
    text = "\n".join(f"line {i} " + "word " * 20 for i in range(100))
    cut = fit_text(_WordCounter(), text, 300)
    assert _WordCounter().count(cut) <= 300 and text.startswith(cut) and cut.endswith("word ")


@pytest.mark.model
@pytest.mark.timeout(3600)  # a hang guard only: the drain has no deadline a loaded 2-core machine can miss
def test_smoke_run_end_to_end_with_smollm2(tmp_path: Path, samples) -> None:
    """`honcho-local bench locomo` on the first session of the hand-made sample: 18 messages, 2 questions."""
    data = samples[0]
    out = tmp_path / "report"
    result = CliRunner().invoke(main, [
        "bench", "locomo", "--conversations", "1", "--sessions", "1", "--questions", "2",
        "--model", "smollm2-135m", "--context-tokens", "2048", "--out", str(out), "--name", "smoke",
        "--bench-home", str(tmp_path / "home"), "--data", str(data)])
    assert result.exit_code == 0, result.output + repr(result.exception)
    results = json.loads((out / "smoke.json").read_text())
    assert results["messages"] == results["messages_posted"] == 18 and results["questions"] == 2
    assert results["reasoning"]["tokens"] > 0  # the worker really reasoned over the slice
    # counted from the store (every invocation on the home), split by task
    assert results["reasoning"]["messages"] == 18 and results["reasoning"]["by_task"]["deriver"]["calls"] >= 1
    assert results["phases"]["invocations"] == 1
    # the worker's conclusions scored against the sample's 8 gold facts of session 1
    assert results["gold_facts"]["facts"] == 8 and results["gold_facts"]["conclusions"] > 0
    for row in results["rows"]:
        assert set(row["retrieved"]) == {"honcho", "honcho-search", "conclusions", "bm25+dense-w", "bm25+dense",
                                         "bm25", "dense"}
        assert row["recall"]["honcho"]["10"][0] == scoring.recall_at_k(row["retrieved"]["honcho"],
                                                                       row["evidence"], 10)[0]
        for system in ("chat", "naive-rag", "full-context"):
            answer = row["answers"][system]
            assert isinstance(answer, str) and answer.strip()
            assert row["f1"][system] == scoring.locomo_f1(answer, row["gold"], row["code"])
            assert row["tokens"][system] > 0  # chat's from the server's counters, the others' from the answerer
    assert results["answers"]["chat"]["questions"] == 2
    report = (out / "smoke.md").read_text()
    assert "## Evidence recall" in report and "## Answers" in report and "| chat | 2 |" in report
    assert ("honcho-local bench locomo --conversations 1 --sessions 1 --questions 2 --model smollm2-135m "
            "--out " in report)
    for png in ("smoke-recall-at-k.png", "smoke-f1-by-category.png", "smoke-cost-vs-f1.png"):
        assert (out / png).stat().st_size > 1000

    # A second run on the same home resumes: nothing is ingested twice, answered questions are reused.
    again = CliRunner().invoke(main, [
        "bench", "locomo", "--conversations", "1", "--sessions", "1", "--questions", "2",
        "--model", "smollm2-135m", "--context-tokens", "2048", "--out", str(out), "--name", "again",
        "--bench-home", str(tmp_path / "home"), "--data", str(data)])
    assert again.exit_code == 0, again.output
    resumed = json.loads((out / "again.json").read_text())
    assert resumed["messages_posted"] == 0 and "2 questions answered by an earlier run" in again.output
    assert [r["answers"] for r in resumed["rows"]] == [r["answers"] for r in results["rows"]]
    # the reasoning done by the first invocation is still counted; both invocations' times are summed
    assert resumed["reasoning"]["tokens"] >= results["reasoning"]["tokens"] > 0
    assert resumed["phases"]["invocations"] == 2 and "over 2 invocations" in (out / "again.md").read_text()
    # other answering settings are not reused: retrieval only answers nothing, from scratch
    only = CliRunner().invoke(main, [
        "bench", "locomo", "--conversations", "1", "--sessions", "1", "--questions", "1", "--retrieval-only",
        "--model", "smollm2-135m", "--out", str(out), "--name", "only", "--bench-home", str(tmp_path / "home"),
        "--data", str(data)])
    assert only.exit_code == 0 and "earlier run" not in only.output, only.output
    assert json.loads((out / "only.json").read_text())["rows"][0]["answers"] == {}
    # models answer a sample; every question is scored for retrieval; the answered one is reused
    sample = CliRunner().invoke(main, [
        "bench", "locomo", "--conversations", "1", "--sessions", "1", "--questions", "2", "--answer-questions", "1",
        "--model", "smollm2-135m", "--context-tokens", "2048", "--out", str(out), "--name", "sample",
        "--bench-home", str(tmp_path / "home"), "--data", str(data)])
    assert sample.exit_code == 0, sample.output
    rows = json.loads((out / "sample.json").read_text())["rows"]
    assert len(rows) == 2 and all(r["recall"] for r in rows)
    assert sorted(bool(r["answers"]) for r in rows) == [False, True]
    assert "answered by an earlier run" in sample.output
    first = {r["qid"]: r["answers"] for r in results["rows"]}
    assert [r["answers"] for r in rows if r["answers"]] == [first[r["qid"]] for r in rows if r["answers"]]
    assert "models answered a sample of 1 per conversation" in (out / "sample.md").read_text()


def test_a_stopped_run_keeps_its_times_and_stops_its_server(tmp_path: Path, samples) -> None:
    """Long runs are stopped with SIGTERM and resumed: the stopped invocation still records how long
    it ran (the report sums every invocation on the home) and takes its server down with it."""
    import signal
    import subprocess
    import sys
    import time

    home = tmp_path / "home"
    log = (tmp_path / "bench.log").open("w+")
    proc = subprocess.Popen(
        [sys.executable, "-m", "honcho_local.cli", "bench", "locomo", "--conversations", "1", "--sessions", "1",
         "--questions", "2", "--model", "smollm2-135m", "--context-tokens", "2048", "--out", str(tmp_path / "out"),
         "--bench-home", str(home), "--data", str(samples[0]), "--drain-timeout", "300"],
        stdout=log, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 600  # server start and ingest; generous for a loaded machine
        while "ingested" not in (tmp_path / "bench.log").read_text():  # stopped while the worker reasons
            assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "bench.log").read_text()
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 128 + signal.SIGTERM
    finally:
        if proc.poll() is None:
            proc.kill()
    runs = [json.loads(line) for line in (home / "bench-runs.jsonl").read_text().splitlines()]
    assert len(runs) == 1 and runs[0]["completed"] is False and runs[0]["ingest_seconds"] > 0
    assert runs[0]["wall_seconds"] >= runs[0]["ingest_seconds"] + runs[0]["drain_seconds"] > 0
    # the server it started is gone: the store can be opened again at once
    from honcho_local.store import Store

    Store.open(home / "honcho.duckdb").close()


def test_beam_ingest_reasons_about_the_user_only(read_app, samples) -> None:
    """BEAM asks about the user: its assistant peer is created with observe_me false, so the worker
    spends no model time on the assistant's long replies; every turn is still stored and searchable."""
    from honcho_local.bench.api import Api, ingest, workspace_of
    from honcho_local.bench.config import RunState

    services, client = read_app
    conv = truncate(load_beam(samples[0])[0], 1)
    assert conv.observed == ["user"]
    api = Api.__new__(Api)
    api.client = client
    posted = ingest(api, conv, 25_000, RunState())
    ws = workspace_of(conv)
    assert posted == len(conv.turns) > 0
    peers = {p["id"]: p["configuration"] for p in client.post(f"/v3/workspaces/{ws}/peers/list", json={}).json()["items"]}
    assert peers["assistant"] == {"observe_me": False} and peers["user"].get("observe_me") is not False
    assert ingest(api, conv, 25_000, RunState()) == 0  # resumes: nothing posted twice


def test_time_line_names_where_reconstructed_invocations_came_from(tmp_path):
    from honcho_local.bench.report import _time_line
    from honcho_local.bench.journal import CONSOLE_LOG, PhaseLog

    log = tmp_path / "bench-runs.jsonl"
    entries = [
        {"started": "2026-12-05T08:59:51+00:00", "ingest_seconds": 4.0, "drain_seconds": 3600.0,
         "answer_seconds": 0.0, "wall_seconds": 3604.0},
        {"started": "2026-12-05T11:35:51+00:00", "ingest_seconds": 0.0, "drain_seconds": 7200.0,
         "answer_seconds": 0.0, "wall_seconds": 7200.0, "reconstructed": True, "source": "reasoning_runs timestamps"},
        {"started": "2026-12-05T18:06:43+00:00", "ingest_seconds": 0.0, "drain_seconds": 1800.0,
         "answer_seconds": 1800.0, "wall_seconds": 3600.0, "reconstructed": True},
    ]
    log.write_text("".join(json.dumps(e) + "\n" for e in entries))
    totals = PhaseLog(log).totals()
    assert totals["invocations"] == 3 and totals["reconstructed"] == 2
    assert totals["reconstructed_from"] == sorted([CONSOLE_LOG, "reasoning_runs timestamps"])
    assert totals["drain_seconds"] == 12600.0 and totals["wall_seconds"] == 14404.0
    line = _time_line({"phases": totals})
    assert "2 of them recorded nothing and were reconstructed from" in line
    assert "reasoning_runs timestamps" in line and CONSOLE_LOG in line
    assert "worker drain 3.50 h" in line and "in all 4.00 h" in line
