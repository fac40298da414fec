"""A dream's knowledge updates and inductions (issue 35, `services/consolidation.py`): which pairs and groups
are put to the model, what each answer changes in a real DuckDB store, and that a failing model is counted
and reported, never guessed. The model is scripted (`FakeLLM`); vectors are chosen by hand so that
similarity is known."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from honcho_local.config import load_settings
from honcho_local.errors import ModelError
from honcho_local.llm.base import Embeddings as Vectors
from honcho_local.llm.fake import FakeLLM
from honcho_local.services.consolidation import Consolidation, grounded, induction_groups, restates, update_pairs
from honcho_local.services.dreams import DreamBody, Dreams
from honcho_local.services.unit_deps import Embeddings
from honcho_local.services.versions import read_version
from honcho_local.store import Store, peers, utcnow, workspaces
from honcho_local.store import conclusions as conclusions_db
from honcho_local.store.conclusions import Conclusion, NewConclusion, insert_conclusions

T0 = datetime(2024, 1, 1)
LISBON = ("Alice lives in Lisbon.", [1.0, 0.0, 0.0, 0.0])
PORTO = ("Alice moved to Porto.", [0.9, 0.3, 0.0, 0.0])  # cosine 0.95 with LISBON, the same slot
CAT = ("Alice has a cat named Miso.", [0.0, 0.0, 1.0, 0.0])
VET = ("Alice took Miso to the vet.", [0.0, 0.0, 0.95, 0.31])  # similar to CAT, said later, no slot
JAZZ = [("Alice listens to jazz every morning.", [0.0, 1.0, 0.0, 0.6]),  # pairwise cosine 0.77-0.8: similar,
        ("Alice went to a jazz concert.", [0.0, 1.0, 0.5, 0.0]),  # not near duplicates (0.95, not stored twice)
        ("Alice collects jazz records.", [0.5, 1.0, 0.0, 0.0])]


def _c(cid: str, content: str, days: int, level: str = "explicit", sources: Sequence[str] = ()) -> Conclusion:
    at = T0 + timedelta(days=days)
    return Conclusion(cid, "w", "alice", "alice", None, level, content, 1, list(sources), [], {}, "v", at, at, None)


def test_update_pairs_need_a_slot_filled_otherwise_similarity_a_later_saying_and_other_sources() -> None:
    items = [_c("lisbon", LISBON[0], 0), _c("porto", PORTO[0], 30), _c("cat", CAT[0], 1), _c("vet", VET[0], 40)]
    vectors = [LISBON[1], PORTO[1], CAT[1], VET[1]]
    pairs = update_pairs(items, vectors, "Alice")
    assert [(p.older.id, p.newer.id, p.slot) for p in pairs] == [("lisbon", "porto", "residence")]  # VET: no slot
    assert pairs[0].similarity == pytest.approx(0.95, abs=0.01)
    unlike = [LISBON[1], [0.0, 0.0, 0.0, 1.0], CAT[1], VET[1]]  # Porto's fact about something else entirely
    assert update_pairs(items, unlike, "Alice") == []
    assert update_pairs(items, vectors, "Bob") == []  # facts about Alice are not Bob's slots
    backwards = [_c("lisbon", LISBON[0], 30), _c("porto", PORTO[0], 0)]  # the move was said first: Lisbon is news
    assert [(p.older.id, p.newer.id) for p in update_pairs(backwards, vectors[:2], "Alice")] == [("porto", "lisbon")]
    one_message = [_c("lisbon", LISBON[0], 0, sources=["m1"]), _c("porto", PORTO[0], 30, sources=["m1"])]
    assert update_pairs(one_message, vectors[:2], "Alice") == []  # two facts of one message are true together
    derived = [_c("lisbon", LISBON[0], 0, level="deductive"), _c("porto", PORTO[0], 30)]
    assert update_pairs(derived, vectors[:2], "Alice") == []  # only explicit statements are superseded


def test_a_chain_of_updates_is_settled_one_link_a_dream() -> None:
    items = [_c("a", "Alice lives in Lisbon.", 0), _c("b", "Alice moved to Porto.", 10),
             _c("c", "Alice moved to Braga.", 20)]
    vectors = [[1.0, 0.0], [0.95, 0.31], [0.9, 0.44]]
    assert len(update_pairs(items, vectors, "Alice")) == 1


def test_induction_groups_are_mutually_similar_explicit_and_skip_earlier_premises() -> None:
    items = [_c(f"j{i}", text, i) for i, (text, _) in enumerate(JAZZ)] + [_c("cat", CAT[0], 5)]
    vectors = [v for _, v in JAZZ] + [CAT[1]]
    groups = induction_groups(items, vectors, exclude=set())
    assert [sorted(c.id for c in g) for g in groups] == [["j0", "j1", "j2"]]
    assert induction_groups(items, vectors, exclude={"j1"}) == []  # two left: too few


def test_grounded_sentences_use_only_the_premises_words() -> None:
    premises = [_c(f"j{i}", text, i) for i, (text, _) in enumerate(JAZZ)]
    assert grounded("Alice loves jazz and listens to records.", "Alice", premises)
    assert not grounded("Alice is a professional jazz musician.", "Alice", premises)  # "professional", "musician"
    assert not grounded("Alice.", "Alice", premises)  # says nothing
    assert restates("Alice collects jazz records.", "Alice", premises)  # a premise again
    assert restates("Alice listens to jazz, goes to concerts, collects records, and more.", "Alice", premises)  # a list
    assert restates("Alice loves jazz and listens to records", "Alice", premises)  # cut off: no full stop
    assert not restates("Alice loves jazz.", "Alice", premises)


def test_each_answer_changes_what_it_should_and_failures_are_counted() -> None:
    items = [_c("lisbon", LISBON[0], 0), _c("porto", PORTO[0], 30)] + \
        [_c(f"j{i}", text, i) for i, (text, _) in enumerate(JAZZ)]
    vectors = [LISBON[1], PORTO[1]] + [v for _, v in JAZZ]
    llm = FakeLLM([{"answer": "updated"}, {"pattern": "Alice loves jazz."}])
    out = Consolidation(llm, max_decisions=10).run("Alice", items, vectors, inducted=set())
    assert out.superseded == [("lisbon", "porto")] and (out.updated, out.inductions, out.failed) == (1, 1, 0)
    deduction, induction = out.new
    assert deduction.level == "deductive" and deduction.premise_ids == ["lisbon", "porto"]
    assert deduction.content == "As of 2024-01-31, Alice moved to Porto (earlier, 2024-01-01: Alice lives in Lisbon)."
    assert induction.level == "inductive" and sorted(induction.premise_ids) == ["j0", "j1", "j2"]
    assert "jazz" in llm.requests[1].messages[1]["content"]

    for answer in ({"answer": "both"}, {"answer": "same"}):
        out = Consolidation(FakeLLM([answer, {"pattern": "none"}]), 10).run("Alice", items, vectors, set())
        assert (out.superseded, out.new) == ([], [])
    invented = Consolidation(FakeLLM([{"answer": "both"}, {"pattern": "Alice is a jazz pianist."}]), 10)
    out = invented.run("Alice", items, vectors, set())
    assert (out.ungrounded, out.new) == (1, [])

    broken = FakeLLM([ModelError("no JSON after 3 tries"), {"no": "answer"}])
    out = Consolidation(broken, 10).run("Alice", items, vectors, set())
    assert (out.failed, out.new, out.superseded) == (2, [], [])
    assert out.summary()["errors"] == ["no JSON after 3 tries", "no 'pattern' in the model's answer"]
    capped = Consolidation(FakeLLM([{"answer": "updated"}]), max_decisions=1).run("Alice", items, vectors, set())
    assert capped.decisions == 1 and capped.inductions == 0


class TableEmbedder:
    """Vectors by text from the table above (a new text gets a fixed vector)."""
    model = "table"

    def embed(self, texts: Sequence[str], kind: str = "document") -> Vectors:
        table = dict([LISBON, PORTO, CAT, *JAZZ])
        vectors = [table.get(t, [0.5, 0.5, 0.5, 0.5]) for t in texts]
        return Vectors(vectors=vectors, dims=4, prompt_tokens=0, provider="test", model=self.model)


@pytest.fixture
def dreamt(store: Store, tmp_path: Path) -> tuple[Store, Dreams, FakeLLM, str]:
    def setup(ctx: Any) -> None:
        workspaces.ensure_workspace(ctx, "w")
        peers.ensure_peer(ctx, "w", "alice")

    store.write(setup)
    version = store.read(lambda cur: read_version(cur, "w", "alice"))
    texts = [LISBON, PORTO, *JAZZ, CAT]
    store.write(lambda ctx: insert_conclusions(ctx, [
        NewConclusion("w", "alice", "alice", text, embedding=vector, embedding_model="table",
                      observed_at=T0 + timedelta(days=i)) for i, (text, vector) in enumerate(texts)], version))
    llm = FakeLLM([{"answer": "updated"}, {"pattern": "Alice loves jazz."}])
    settings = load_settings(home=tmp_path / "home", env={}, dream_max_decisions=10, dream_inductions=True)
    return store, Dreams(store, settings, lambda: llm, Embeddings(TableEmbedder)), llm, version


def test_a_dream_supersedes_deduces_and_induces_in_the_store(dreamt) -> None:
    store, dreams, llm, version = dreamt
    before = utcnow()
    done = dreams.dream("w", DreamBody("alice", "alice"))
    assert (done["superseded"], done["inductions"], done["failed"]) == (1, 1, 0)

    def live(cur: Any) -> dict[str, Conclusion]:
        rows, _ = conclusions_db.list_conclusions(cur, "w", version, None, 1, 50, False)
        return {c.content: c for c in rows}

    now = store.read(live)
    assert LISBON[0] not in now and PORTO[0] in now and CAT[0] in now
    deduction = next(c for c in now.values() if c.level == "deductive")
    induction = now["Alice loves jazz."]
    assert induction.level == "inductive" and len(induction.premise_ids or []) == 3
    old = store.read(lambda cur: conclusions_db.get_conclusions(cur, "w", deduction.premise_ids or []))
    retired = next(c for c in old if c.content == LISBON[0])
    assert retired.deleted_at is not None and (retired.metadata or {})["superseded_by"] == now[PORTO[0]].id
    then, _ = store.read(lambda cur: conclusions_db.list_conclusions(cur, "w", version, None, 1, 50, False, before))
    assert LISBON[0] in {c.content for c in then}  # a read as of before the dream still sees it

    def decisions() -> int:  # the profile's plain-text call aside
        return sum(r.schema is not None for r in llm.requests)

    asked = decisions()
    again = dreams.dream("w", DreamBody("alice", "alice"))
    assert (again["decisions"], decisions()) == (0, asked)  # nothing left to decide: no model call


def test_a_dream_without_an_embedder_or_turned_off_says_so(store: Store, tmp_path: Path) -> None:
    store.write(lambda ctx: (workspaces.ensure_workspace(ctx, "w"), peers.ensure_peer(ctx, "w", "alice")))
    dreams = Dreams(store, load_settings(home=tmp_path / "h", env={}, dream_max_decisions=10), lambda: FakeLLM(),
                    Embeddings(None))
    assert dreams.dream("w", DreamBody("alice", "alice"))["consolidation"] == "skipped: no embedder"
    assert load_settings(env={}).dream_max_decisions == 10  # on by default, updates only (decisions/008)
    off = Dreams(store, load_settings(home=tmp_path / "h", env={}, dream_max_decisions=0), lambda: FakeLLM(),
                 Embeddings(TableEmbedder))
    assert off.dream("w", DreamBody("alice", "alice"))["consolidation"] == "off"


def test_patterns_are_asked_for_only_when_inductions_are_on() -> None:
    items = [_c("lisbon", LISBON[0], 0), _c("porto", PORTO[0], 30)] + \
        [_c(f"j{i}", text, i) for i, (text, _) in enumerate(JAZZ)]
    vectors = [LISBON[1], PORTO[1]] + [v for _, v in JAZZ]
    assert load_settings(env={}).dream_inductions is False  # the default (decisions/008)
    llm = FakeLLM([{"answer": "updated"}])
    out = Consolidation(llm, max_decisions=10, inductions=False).run("Alice", items, vectors, set())
    assert (out.decisions, out.updated, out.patterns) == (1, 1, []) and len(llm.requests) == 1
