"""LoCoMo data (read in place from ../shared/datasets) turned into honcho-local sessions and messages."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "locomo" / "locomo10.json"


@dataclass
class Turn:
    dia_id: str
    speaker: str
    text: str
    created_at: datetime


@dataclass
class Conversation:
    sample_id: str
    speakers: tuple[str, str]
    sessions: list[tuple[str, list[Turn]]]
    qa: list[dict]


def parse_when(text: str) -> datetime:
    return datetime.strptime(text.strip(), "%I:%M %p on %d %B, %Y")


def load(path: Path = DATA) -> list[Conversation]:
    out = []
    for sample in json.loads(path.read_text()):
        conv = sample["conversation"]
        numbers = sorted(int(k.split("_")[1]) for k in conv if k.startswith("session_") and k.count("_") == 1)
        sessions = []
        for n in numbers:
            start = parse_when(conv[f"session_{n}_date_time"])
            turns = []
            for i, turn in enumerate(conv[f"session_{n}"]):
                text = turn["text"]
                if turn.get("blip_caption"):
                    text += f" [shares a photo: {turn['blip_caption']}]"
                turns.append(Turn(turn["dia_id"], turn["speaker"], text, start + timedelta(seconds=30 * i)))
            sessions.append((f"session_{n}", turns))
        out.append(Conversation(sample["sample_id"], (conv["speaker_a"], conv["speaker_b"]), sessions,
                                sample.get("qa", [])))
    return out


def peer_id(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "_-" else "_" for ch in name)
