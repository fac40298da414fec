"""Gold-fact recall (honcho_local/bench/goldfacts.py, factdates.py) on the invented LoCoMo sample of
tests/bench_samples.py: loading the annotated facts, the match rule, recall, attribution, date accuracy,
the report section, and the runner reading a live server's conclusions over HTTP."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from honcho_local.bench import factdates, goldfacts
from honcho_local.bench.data import load_locomo
from honcho_local.bench.goldfacts import Derived, Rule
from honcho_local.bench.report import gold_fact_lines
from honcho_local.bench.api import Api, gold_fact_scores, ingest, workspace_of
from honcho_local.bench.config import BenchConfig, RunState
from tests.bench_samples import write_samples

VOCAB: dict[str, int] = {}


def bag_of_words(texts: list[str], kind: str = "document") -> list[list[float]]:
    """A deterministic stand-in embedder: word counts over a growing vocabulary (cosine = word overlap)."""
    rows = []
    for text in texts:
        vector = np.zeros(512)
        for word in re.findall(r"[a-z]+", text.lower()):
            vector[VOCAB.setdefault(word, len(VOCAB))] += 1.0
        rows.append(vector.tolist())
    return rows


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("datasets")
    write_samples(folder)
    return folder


def test_gold_facts_load_with_their_speakers_evidence_and_dates(root: Path) -> None:
    facts = goldfacts.load_gold_facts(root)
    assert len(facts) == 10
    biscuit = next(f for f in facts if "Biscuit" in f.text)
    # LoCoMo's comma-joined evidence string is split; speakers are peer ids as the bench ingests them
    assert biscuit.evidence == ("D1:6", "D1:8") and biscuit.speaker == "Tomas"
    ines = [f for f in facts if f.speaker == "Ines_Duarte"]
    assert len(ines) == 5 and {f.said_on for f in ines} == {date(2023, 3, 3)}
    jonas = next(f for f in facts if f.speaker == "Jonas")
    assert (jonas.conv_id, jonas.session, jonas.said_on) == ("priya-jonas", "session_2", date(2023, 4, 23))
    # the same slices the bench takes: the first conversations, the first sessions
    assert len(goldfacts.load_gold_facts(root, conversations=1)) == 8
    assert [f.session for f in goldfacts.load_gold_facts(root, sessions=1) if f.conv_id == "priya-jonas"] == [
        "session_1"]


def test_expected_spans_of_relative_words() -> None:
    said = date(2023, 5, 8)
    assert factdates.expected_span("She went yesterday.", said) == (date(2023, 5, 7), date(2023, 5, 7))
    assert factdates.expected_span("Painted a lake last year.", said) == (date(2022, 1, 1), date(2022, 12, 31))
    assert factdates.expected_span("A picture last month.", said) == (date(2023, 4, 1), date(2023, 4, 30))
    assert factdates.expected_span("Camping next month.", date(2023, 12, 5)) == (date(2024, 1, 1), date(2024, 1, 31))
    assert factdates.expected_span("Started two years ago.", said) == (date(2021, 1, 1), date(2021, 12, 31))
    for vague in ("She went recently.", "Got a tattoo a few years ago.", "No time words at all."):
        assert factdates.expected_span(vague, said) is None


def test_conclusion_dates_are_judged_against_the_span() -> None:
    week = factdates.expected_span("Went camping last week.", date(2023, 6, 9))
    assert factdates.judge("Melanie went camping on 2 June 2023.", week) == "correct"
    assert factdates.judge("Melanie went camping the week before 9 June 2023.", week) == "correct"
    assert factdates.judge("Melanie went camping in June 2023.", week) == "coarse"
    assert factdates.judge("Melanie went camping on May 2, 2023.", week) == "wrong"
    assert factdates.judge("Melanie went camping last week.", week) == "relative"
    assert factdates.judge("Melanie likes camping.", week) == "undated"
    year = factdates.expected_span("Painted it last year.", date(2023, 5, 8))
    assert factdates.judge("Melanie painted a sunrise in 2022.", year) == "correct"
    assert factdates.judge("Melanie painted a sunrise on the 3rd of March 2022.", year) == "correct"
    assert factdates.judge("Melanie painted a sunrise in 2021.", year) == "wrong"


def _conclusions() -> list[Derived]:
    return [
        Derived("ines-tomas", "Ines_Duarte", "Ines started a pottery class at the community hall in February.", ("D1:3",)),
        # the right fact filed under the wrong speaker: not recalled for Tomas, a wrong attribution
        Derived("ines-tomas", "Ines_Duarte", "Tomas has a beagle mix named Biscuit.", ("D1:8",)),
        # no cited turn, same words: matched by similarity only
        Derived("ines-tomas", "Tomas", "Tomas booked a trip to Porto for the second week of April with his sister.", ()),
        # a copied first-person line citing the evidence: matched by the cited turn only
        Derived("ines-tomas", "Ines_Duarte", "I'm nervous about it.", ("D1:13",)),
        Derived("ines-tomas", "Ines_Duarte", "Ines reorganised the whole club library in 2022.", ("D1:14",)),
        Derived("ines-tomas", "Tomas", "Tomas likes custard tarts.", ("D1:11",)),
        Derived("priya-jonas", "Jonas", "Jonas went to the train station last week and came back with new running "
                "shoes.", ("D2:2",)),
    ]


def test_recall_attribution_and_dates_under_each_rule(root: Path) -> None:
    facts = goldfacts.load_gold_facts(root)
    either = goldfacts.score(facts, _conclusions(), bag_of_words, Rule(0.6, "or"))
    # pottery, Porto, interview (cited), library; Jonas's train station: 5 of 10
    assert (either["facts"], either["conclusions"], either["recalled"]) == (10, 7, 5) and either["recall"] == 0.5
    # Biscuit's conclusion cites D1:8 but is filed under Ines: cited evidence for Ines's facts only
    assert either["cites_evidence"] == 4
    # matched conclusions: pottery, Biscuit (wrong speaker), Porto, interview, library, train station
    assert (either["attributed"], either["attributed_right"]) == (6, 5)
    assert either["attribution_precision"] == pytest.approx(5 / 6)
    # dated facts: library (last year, 3 March 2023 -> 2022: correct), Jonas (last week: kept relative);
    # the interview's "next Monday" is not a checkable span
    assert either["dated"] == 2 and either["dated_recalled"] == 2 and either["date_accuracy"] == 0.5
    assert either["date_verdicts"]["correct"] == 1 and either["date_verdicts"]["relative"] == 1
    assert either["first_person"] == 1 and either["first_person_share"] == pytest.approx(1 / 7)
    assert either["by_conversation"]["priya-jonas"] == {"facts": 2, "conclusions": 1, "recall": 0.5}
    cited = goldfacts.score(facts, _conclusions(), bag_of_words, Rule(0.6, "cite"))
    assert cited["recalled"] == 4  # Porto cites nothing
    similar = goldfacts.score(facts, _conclusions(), bag_of_words, Rule(0.6, "cosine"))
    assert similar["recalled"] == 4  # the first-person copy is not similar to the fact
    both = goldfacts.score(facts, _conclusions(), bag_of_words, Rule(0.6, "and"))
    assert both["recalled"] == 3
    default = goldfacts.score(facts, _conclusions(), bag_of_words)  # the calibrated rule: similar and cited
    assert default["rule"] == "cosine ≥ 0.70 and cites an evidence turn" and default["recalled"] <= both["recalled"]
    nothing = goldfacts.score(facts, [], bag_of_words)
    assert nothing["recalled"] == 0 and nothing["attribution_precision"] is None and nothing["recall"] == 0.0


def test_report_section_states_the_figures(root: Path) -> None:
    gold = goldfacts.score(goldfacts.load_gold_facts(root), _conclusions(), bag_of_words, Rule(0.6, "or"))
    text = "\n".join(gold_fact_lines(gold))
    assert "## Gold-fact recall" in text and "| 10 | 7 | **0.500** | 0.400 | 0.833 | 2 (2) | 0.500 | 0.143 |" in text
    assert "cosine ≥ 0.60 or cites an evidence turn" in text and "| priya-jonas | 2 | 1 | 0.500 |" in text
    assert gold_fact_lines(None) == [] and gold_fact_lines({**gold, "facts": 0}) == []


def test_runner_scores_a_live_servers_conclusions(root: Path, server) -> None:
    """The bench reads the conclusions and their cited messages over HTTP and maps them to turn ids."""
    conv = load_locomo(root)[1]  # priya-jonas
    api = Api(server.url)
    ingest(api, conv, 25_000, RunState())
    ws = workspace_of(conv)
    api.call("POST", f"/v3/workspaces/{ws}/conclusions", json={"conclusions": [
        {"content": "Priya went to the museum and came back with a jar of honey.", "observer_id": "Priya",
         "observed_id": "Priya"},
        {"content": "Jonas went to the train station last week and came back with new running shoes.",
         "observer_id": "Jonas",
         "observed_id": "Priya"}]})
    config = BenchConfig(conversations=2, data=root)
    # conclusions written through the API cite no message: matched by similarity alone here
    gold = gold_fact_scores(api, [conv], config, bag_of_words, Rule(0.6, "cosine"))
    assert (gold["facts"], gold["conclusions"], gold["recalled"]) == (2, 2, 1)
    # the running-shoes line matches Jonas's fact but is filed under Priya: not recalled, misattributed
    assert (gold["attributed"], gold["attributed_right"]) == (2, 1)
    assert list(gold["by_conversation"]) == ["priya-jonas"]
