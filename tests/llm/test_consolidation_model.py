"""A dream's decisions with the real shipped models (issue 35): MiniLM embeds the facts, so the pairs and
groups put to the model are the ones a server would find, and SmolLM2-135M answers through the router.
The tiny model's choices are not judged (docs/decisions/008 measures the 1.5B's); what is checked is that
every decision comes back as one of the allowed answers, none fails, and the outcome is consistent."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from honcho_local.llm.router import Router
from honcho_local.services.consolidation import Consolidation, induction_groups, update_pairs
from honcho_local.store.conclusions import Conclusion

pytestmark = pytest.mark.model

FACTS = ["Alice lives in Lisbon.", "Alice listens to jazz every morning.", "Alice went to a jazz concert.",
         "Alice collects jazz records.", "Alice moved from Lisbon to Porto."]


def test_every_decision_of_the_real_model_is_an_allowed_answer(smol_chat, minilm) -> None:
    t0 = datetime(2024, 1, 1)
    items = [Conclusion(f"c{i}", "w", "alice", "alice", None, "explicit", text, 1, [f"m{i}"], [], {}, "v",
                        t0 + timedelta(days=10 * i), t0, None) for i, text in enumerate(FACTS)]
    vectors = minilm.embed(FACTS).vectors
    pairs, groups = update_pairs(items, vectors, "Alice"), induction_groups(items, vectors, set())
    assert [(p.older.id, p.newer.id) for p in pairs] == [("c0", "c4")]  # the move, found by MiniLM's similarity
    assert [sorted(c.id for c in g) for g in groups] == [["c1", "c2", "c3"]]  # the jazz facts
    out = Consolidation(Router(smol_chat), max_decisions=10, inductions=True).run("Alice", items, vectors, set())
    assert (out.decisions, out.failed) == (2, 0), out.errors
    assert out.updated + out.same + out.kept == 1  # the one pair got one of the three answers
    assert len(out.superseded) == out.updated and out.inductions + out.ungrounded <= 1
    assert all(c.premise_ids for c in out.new)
