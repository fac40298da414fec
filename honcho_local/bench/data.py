"""Benchmark datasets read in place from the datasets folder: LoCoMo and BEAM turned into one shape.

A `Conversation` has peers, ordered sessions of dated turns, and questions. LoCoMo questions carry
the `dia_id`s of their evidence turns (retrieval is measurable without a model); BEAM questions carry
rubric items (scored by a judge model when one is configured).
"""

from __future__ import annotations

import json
import os
import re
import shlex
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import platformdirs

from honcho_local.errors import DatasetUnavailable

LOCOMO_CATEGORIES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop", 5: "adversarial"}


@dataclass
class Turn:
    turn_id: str
    speaker: str          # peer id
    text: str
    created_at: datetime


@dataclass
class Question:
    qid: str
    text: str
    answer: str | None
    category: str
    evidence: list[str] = field(default_factory=list)   # turn ids (LoCoMo)
    rubric: list[str] = field(default_factory=list)     # rubric items (BEAM)
    code: int | None = None                             # LoCoMo category code


@dataclass
class Conversation:
    conv_id: str
    peers: list[str]                                    # first = the "user" side
    names: dict[str, str]                               # peer id -> display name
    sessions: list[tuple[str, list[Turn]]]
    questions: list[Question]
    observed: list[str] | None = None                   # peers memory reasons about (None: every one)

    @property
    def turns(self) -> list[Turn]:
        return [t for _, turns in self.sessions for t in turns]


DATASETS_ENV = "HONCHO_LOCAL_DATASETS"
INCOMPLETE = ".pull-incomplete"  # in <folder>/<dataset>/ while a `bench data pull` has not finished


def default_datasets_dir() -> Path:
    """The per-user datasets cache that `honcho-local bench data pull` fills (e.g. ~/.cache/honcho-local/datasets)."""
    return Path(platformdirs.user_cache_dir("honcho-local", appauthor=False)) / "datasets"


def datasets_dir(explicit: str | Path | None = None) -> Path:
    """`--data`, else $HONCHO_LOCAL_DATASETS, else the per-user datasets cache."""
    if explicit:
        return Path(explicit).expanduser()
    if os.environ.get(DATASETS_ENV):
        return Path(os.environ[DATASETS_ENV]).expanduser()
    return default_datasets_dir()


def pull_command(dataset: str, root: Path) -> str:
    """The command that fills `root` with `dataset` (`--data` only when `root` is not the default folder)."""
    where = "" if Path(root) == datasets_dir() else f" --data {shlex.quote(str(root))}"
    return f"honcho-local bench data pull {dataset}{where}"


def require(root: Path, dataset: str, needed: list[Path]) -> None:
    """Raise `DatasetUnavailable` (one line naming the pull command) unless `needed` are all in place."""
    if (root / dataset / INCOMPLETE).exists():
        raise DatasetUnavailable(f"{dataset}: the last pull into {root} did not finish; "
                                 f"run `{pull_command(dataset, root)}` to complete it")
    missing = [p for p in needed if not p.is_file()]
    if missing:
        what = "not found" if len(missing) == len(needed) else f"incomplete ({missing[0]} is missing)"
        raise DatasetUnavailable(f"{dataset} dataset {what} in {root}: run `{pull_command(dataset, root)}`")


def peer_id(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "_-" else "_" for ch in name)[:100] or "peer"


def _when(text: str) -> datetime:
    return datetime.strptime(text.strip(), "%I:%M %p on %d %B, %Y").replace(tzinfo=timezone.utc)


def _evidence_ids(raw: list[str], known: set[str]) -> list[str]:
    """LoCoMo evidence is sometimes malformed ("D8:6; D9:17", "D:11:26"): keep ids that exist."""
    out: list[str] = []
    for item in raw:
        for part in re.split(r"[;,\s]+", str(item)):
            part = part.strip().replace("D:", "D")
            if part in known and part not in out:
                out.append(part)
    return out


def load_locomo(root: Path, corrected: bool = False) -> list[Conversation]:
    """The 10 LoCoMo conversations; `corrected` uses the community-corrected answer key."""
    name = "locomo10.dial481-corrected.json" if corrected else "locomo10.json"
    require(root, "locomo", [root / "locomo" / name])
    out = []
    for sample in json.loads((root / "locomo" / name).read_text()):
        conv = sample["conversation"]
        names = [conv["speaker_a"], conv["speaker_b"]]
        numbers = sorted(int(k.split("_")[1]) for k in conv if re.fullmatch(r"session_\d+", k))
        sessions = []
        for n in numbers:
            start = _when(conv[f"session_{n}_date_time"])
            turns = []
            for i, turn in enumerate(conv[f"session_{n}"]):
                text = turn["text"]
                if turn.get("blip_caption"):
                    text += f" [shares a photo: {turn['blip_caption']}]"
                turns.append(Turn(turn["dia_id"], peer_id(turn["speaker"]), text, start + timedelta(seconds=30 * i)))
            sessions.append((f"session_{n}", turns))
        known = {t.turn_id for _, ts in sessions for t in ts}
        questions = []
        for i, qa in enumerate(sample.get("qa", [])):
            code = int(qa["category"])
            answer = qa.get("answer", qa.get("adversarial_answer"))
            questions.append(Question(f"{sample['sample_id']}-q{i}", qa["question"],
                                      None if answer is None else str(answer), LOCOMO_CATEGORIES.get(code, str(code)),
                                      _evidence_ids(qa.get("evidence", []), known), code=code))
        out.append(Conversation(sample["sample_id"], [peer_id(n) for n in names],
                                {peer_id(n): n for n in names}, sessions, questions))
    return out


def _beam_date(text: str | None) -> datetime | None:
    if not text:
        return None
    for fmt in ("%B-%d-%Y", "%b-%d-%Y", "%Y-%m-%d", "%B %d, %Y"):
        try:
            return datetime.strptime(text.strip(), fmt).replace(tzinfo=timezone.utc)
        except ValueError:
            continue
    return None


def load_beam(root: Path, bucket: str = "100K") -> list[Conversation]:
    """BEAM chats of one bucket: user/assistant turns in batches (one session per batch)."""
    out = []
    base = root / "beam" / bucket
    folders = sorted((p for p in base.iterdir() if p.is_dir()), key=lambda p: int(p.name)) if base.is_dir() else []
    require(root, "beam", [f / name for f in folders for name in ("chat.json", "probing_questions.json")]
            or [base / "1" / "chat.json"])
    for folder in folders:
        chat_file = folder / "chat_trunecated.json" if (folder / "chat_trunecated.json").exists() else folder / "chat.json"
        batches = json.loads(chat_file.read_text())
        clock = datetime(2024, 1, 1, tzinfo=timezone.utc)
        sessions = []
        for batch in batches:
            turns = []
            for group in batch["turns"]:
                for turn in group:
                    anchor = _beam_date(turn.get("time_anchor"))
                    if anchor is not None and anchor > clock:
                        clock = anchor
                    clock += timedelta(seconds=30)
                    speaker = "user" if turn["role"] == "user" else "assistant"
                    text = re.sub(r"\s*->->\s*\d+,\d+\s*$", "", turn["content"]).strip()
                    if text:
                        turns.append(Turn(f"B{batch['batch_number']}:{turn['id']}", speaker, text, clock))
            sessions.append((f"batch_{batch['batch_number']}", turns))
        questions = []
        probing = json.loads((folder / "probing_questions.json").read_text())
        for ability, items in probing.items():
            for i, item in enumerate(items):
                rubric = item.get("rubric") or []
                questions.append(Question(f"beam{folder.name}-{ability}-{i}", item["question"],
                                          item.get("ideal_response") or item.get("answer"), ability,
                                          rubric=[str(r) for r in rubric]))
        out.append(Conversation(f"beam-{bucket.lower()}-{folder.name}", ["user", "assistant"],
                                {"user": "User", "assistant": "Assistant"}, sessions, questions,
                                # BEAM asks about the user; reasoning over the assistant's long replies
                                # as a peer of its own would double the model time for nothing asked
                                # (what Honcho's docs advise: observe_me false for an assistant peer).
                                observed=["user"]))
    return out
