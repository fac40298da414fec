"""Small hand-made benchmark samples in the LoCoMo and BEAM file formats, written into a folder laid out
like the datasets folder (`locomo/locomo10.json`, `beam/100K/<n>/…`). Every conversation here is invented
for the tests; nothing is taken from the public datasets.

LoCoMo sample: two conversations.
- "ines-tomas": session 1 is 18 hand-written turns with two scored questions and one adversarial one
  about it (what the smoke run uses); sessions 2-4 are generated diary-style turns with 86 questions
  (categories of uneven sizes, some evidence spanning sessions, some written in LoCoMo's malformed ways).
- "priya-jonas": two short sessions, three questions.
BEAM sample: two chats, one with a `chat_trunecated.json` the loader must prefer; long assistant replies.
"""

from __future__ import annotations

import json
from pathlib import Path

INES, TOMAS = "Ines Duarte", "Tomas"

SESSION_1 = [  # (speaker, text); D1:1 … D1:18
    (INES, "Tomas! It has been ages. How was the move to the new flat?"),
    (TOMAS, "Exhausting but done. The boxes are finally gone. How are you keeping busy?"),
    (INES, "I started a pottery class at the community hall in February. Wednesdays after work."),
    (TOMAS, "Pottery! Have you made anything you like yet?"),
    (INES, "A lopsided teal bowl. I painted a lemon on it, which hides the worst wobble."),
    (TOMAS, "Ha, that's clever. My dog Biscuit would probably try to eat out of it."),
    (INES, "How old is Biscuit now?"),
    (TOMAS, "Four in June. He is a beagle mix and still acts like a puppy at the park."),
    (INES, "Are you still planning the trip to Porto?"),
    (TOMAS, "Yes, we booked it for the second week of April. My sister is coming too."),
    (INES, "Try the custard tarts near the river, they are worth the queue."),
    (TOMAS, "Noted. Any luck with the job applications?"),
    (INES, "I have an interview at a library archive next Monday. I'm nervous about it."),
    (TOMAS, "You'll be great. You reorganised the whole club library last year."),
    (INES, "Thanks. I'm also running again, three mornings a week along the canal."),
    (TOMAS, "I should join you once Biscuit learns not to chase ducks."),
    (INES, "He is welcome, the ducks can look after themselves."),
    (TOMAS, "Let's say Saturday then. I'll bring coffee."),
]
SESSION_1_QA = [
    {"question": "What is the name of Tomas's dog?", "answer": "Biscuit", "evidence": ["D1:6"], "category": 4},
    {"question": "When did Ines start her pottery class?", "answer": "February 2023", "evidence": ["D1:3"],
     "category": 2},
    {"question": "What did Tomas paint on his bowl?", "adversarial_answer": "a lemon", "evidence": ["D1:5"],
     "category": 5},
]

# LoCoMo's `observation`: per session, per speaker, [fact, evidence] (evidence a turn id, a list of them, or
# LoCoMo's comma-joined string); facts keep the speaker's relative time words
SESSION_1_OBSERVATION = {
    INES: [["Ines started a pottery class at the community hall in February.", "D1:3"],
           ["Ines made a lopsided teal bowl and painted a lemon on it.", "D1:5"],
           ["Ines has an interview at a library archive next Monday and is nervous about it.", "D1:13"],
           ["Ines reorganised the whole club library last year.", ["D1:14"]],
           ["Ines runs three mornings a week along the canal.", "D1:15"]],
    TOMAS: [["Tomas has a beagle mix named Biscuit who turns four in June.", "D1:6, D1:8"],
            ["Tomas booked a trip to Porto for the second week of April with his sister.", ["D1:10"]],
            ["Tomas finished moving to a new flat.", "D1:2"]],
}

PLACES = ["the market", "the canal path", "the library", "the climbing gym", "her aunt's farm", "the museum",
          "the old harbour", "a night class", "the allotment", "the bakery", "the hills", "the train station"]
THINGS = ["a blue scarf", "fresh figs", "a poetry book", "new running shoes", "a sourdough loaf", "a small cactus",
          "a map of the coast", "a jar of honey", "a sketchbook", "a kite", "a wooden spoon", "a tide chart"]
DATES = ["4:10 pm on 3 March, 2023", "9:15 am on 18 March, 2023", "7:40 pm on 2 April, 2023",
         "11:05 am on 23 April, 2023"]


def _generated_session(n: int, speakers: tuple[str, str], turns: int) -> list[dict]:
    out = []
    for i in range(turns):
        who = speakers[i % 2]
        place, thing = PLACES[(n * 5 + i) % len(PLACES)], THINGS[(n * 7 + i) % len(THINGS)]
        out.append({"speaker": who, "dia_id": f"D{n}:{i + 1}",
                    "text": f"This week I went to {place} and came back with {thing}."})
    return out


def _generated_questions(sessions: dict[int, list[dict]]) -> list[dict]:
    """86 questions over sessions 2-4: 35 single-hop, 19 temporal, 17 multi-hop, 9 open-domain, 6 adversarial."""
    codes = [4] * 35 + [2] * 19 + [1] * 17 + [3] * 9 + [5] * 6
    turns = [t for n in sorted(sessions) for t in sessions[n]]
    out = []
    for k, code in enumerate(codes):
        turn = turns[k % len(turns)]
        place = turn["text"].split(" to ")[1].split(" and ")[0]
        item = {"question": f"Where did {turn['speaker'].split()[0]} go in entry {k}?", "answer": place,
                "evidence": [turn["dia_id"]], "category": code}
        if code == 1:  # multi-hop: evidence in two sessions
            other = turns[(k + 12) % len(turns)]
            item["evidence"] = [turn["dia_id"], other["dia_id"]]
        if code == 5:
            item["adversarial_answer"] = item.pop("answer")
        out.append(item)
    out[3]["evidence"] = [f"{out[3]['evidence'][0]}; {turns[20]['dia_id']}"]  # "D2:4; D3:9" as LoCoMo has it
    out[5]["evidence"] = [out[5]["evidence"][0].replace("D", "D:")]            # "D:2:6"
    return out


def locomo_sample() -> list[dict]:
    ines = {"speaker_a": INES, "speaker_b": TOMAS}
    ines["session_1"] = [{"speaker": s, "dia_id": f"D1:{i}", "text": t} for i, (s, t) in enumerate(SESSION_1, 1)]
    ines["session_1"][4]["img_url"] = ["https://example.invalid/bowl.jpg"]
    ines["session_1"][4]["blip_caption"] = "a photo of a teal bowl with a lemon painted on it"
    ines["session_1_date_time"] = DATES[0]
    generated = {n: _generated_session(n, (INES, TOMAS), 12) for n in (2, 3, 4)}
    for n, turns in generated.items():
        ines[f"session_{n}"], ines[f"session_{n}_date_time"] = turns, DATES[n - 1]
    first = {"sample_id": "ines-tomas", "conversation": ines, "qa": SESSION_1_QA + _generated_questions(generated),
             "observation": {"session_1_observation": SESSION_1_OBSERVATION}}

    priya = {"speaker_a": "Priya", "speaker_b": "Jonas", "session_1_date_time": DATES[1],
             "session_2_date_time": DATES[3],
             "session_1": _generated_session(1, ("Priya", "Jonas"), 6),
             "session_2": _generated_session(2, ("Priya", "Jonas"), 6)}
    second = {"sample_id": "priya-jonas", "conversation": priya, "observation": {
        "session_1_observation": {"Priya": [["Priya went to the museum and came back with a jar of honey.", "D1:1"]]},
        "session_2_observation": {"Jonas": [
            ["Jonas went to the train station last week and came back with new running shoes.", "D2:2"]]}}, "qa": [
        {"question": "What did Priya bring back in her first entry?", "answer": THINGS[7], "evidence": ["D1:1"],
         "category": 4},
        {"question": "When did Jonas go to the market?", "answer": "April 2023", "evidence": ["D2:2"], "category": 2},
        {"question": "What did Jonas bake?", "adversarial_answer": "bread", "evidence": [], "category": 5},
    ]}
    return [first, second]


ABILITIES = ["information_extraction", "knowledge_update", "temporal_reasoning"]


def _reply(topic: str, words: int) -> str:
    sentence = f"For the {topic} step, keep the plan small, write the test first, and check it in before moving on."
    return " ".join([sentence] * (words // len(sentence.split()) + 1))


def beam_chat(chat: int, batches: int) -> list[dict]:
    out, turn_id = [], 0
    for b in range(1, batches + 1):
        groups = []
        for g in range(3):
            topic = f"chat {chat} batch {b} part {g}"
            user = {"role": "user", "id": str(turn_id), "index": f"{b},{g}",
                    "content": f"How should I organise the {topic} of my recipe app? ->-> {b},{g}"}
            if b == 1 and g == 0:
                user["time_anchor"] = "March-15-2024"
            groups.append([user, {"role": "assistant", "id": str(turn_id + 1), "index": f"{b},{g}",
                                  "content": _reply(topic, 120 + 40 * g)}])
            turn_id += 2
        out.append({"batch_number": b, "time_anchor": None, "turns": groups})
    return out


def beam_questions(chat: int) -> dict[str, list[dict]]:
    return {ability: [{"question": f"In chat {chat}, what did I ask about {ability.replace('_', ' ')} ({i})?",
                       "ideal_response": "How to organise the recipe app.",
                       "rubric": ["LLM response should mention: the recipe app", f"names part {i}"]}
                      for i in range(2)]
            for ability in ABILITIES}


def write_samples(root: Path) -> dict:
    """Write both samples under `root` (a datasets-layout folder); returns the raw LoCoMo and BEAM data."""
    (root / "locomo").mkdir(parents=True, exist_ok=True)
    locomo = locomo_sample()
    (root / "locomo" / "locomo10.json").write_text(json.dumps(locomo, indent=1))
    beam = {}
    for chat in (1, 2):
        folder = root / "beam" / "100K" / str(chat)
        folder.mkdir(parents=True, exist_ok=True)
        batches = beam_chat(chat, 2)
        (folder / "chat.json").write_text(json.dumps(batches, indent=1))
        if chat == 2:  # the loader must prefer the truncated chat where there is one
            batches = batches[:1]
            (folder / "chat_trunecated.json").write_text(json.dumps(batches, indent=1))
        (folder / "probing_questions.json").write_text(json.dumps(beam_questions(chat), indent=1))
        beam[chat] = batches
    return {"locomo": locomo, "beam": beam}
