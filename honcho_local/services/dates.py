"""Relative time words in derived facts, made absolute from when the message was said.

A small model keeps "yesterday" and "last week" in the facts it writes, although the prompt asks for
absolute dates; read months later, such a fact dates nothing. The words are rewritten here from the
source message's timestamp, in the style of LoCoMo's gold answers ("the week before 9 June 2023"):
"Jon lost his job yesterday" said on 20 January 2023 becomes "Jon lost his job on 19 January 2023".
Words with no safe reading ("on Friday", "recently") are left alone. Date arithmetic clamps at the
calendar's edges (1 January 1, 31 December 9999): a message dated 0001-01-01 saying "yesterday" reads
"on 1 January 1" rather than raising `OverflowError` inside the deriver.
"""

from __future__ import annotations

import re
from datetime import MAXYEAR, MINYEAR, datetime, timedelta

_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_NUMBERS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
            "eight": 8, "nine": 9, "ten": 10, "a couple of": 2, "a few": 3}
_PREPOSITIONS = ("since", "until", "till", "from", "by", "before", "after", "of", "as of")


def day(d: datetime) -> str:
    return f"{d.day} {_MONTHS[d.month - 1]} {d.year}"


def _shift(d: datetime, days: int) -> datetime:
    """`d` moved by `days`, held at datetime.min / datetime.max instead of overflowing."""
    try:
        return d + timedelta(days=days)
    except OverflowError:
        return (datetime.max if days > 0 else datetime.min).replace(tzinfo=d.tzinfo)


def _year(year: int) -> int:
    return min(max(year, MINYEAR), MAXYEAR)


def _month(d: datetime, delta: int) -> str:
    index = min(max(d.year * 12 + d.month - 1 + delta, MINYEAR * 12), MAXYEAR * 12 + 11)
    return f"{_MONTHS[index % 12]} {index // 12}"


def _on(text: str, start: int, date: str) -> str:
    """`date` with "on" unless a preposition already leads into it ("since yesterday")."""
    before = text[:start].rstrip().lower()
    return date if before.endswith(_PREPOSITIONS) or before.endswith(" on") else f"on {date}"


def absolute_dates(text: str, said_at: datetime | None) -> str:
    """`text` with its relative time words rewritten from `said_at` (unchanged when None)."""
    if said_at is None:
        return text
    d = said_at
    rules: list[tuple[str, object]] = [
        (r"\b(?:the )?day before yesterday\b", lambda m, t: _on(t, m.start(), day(_shift(d, -2)))),
        (r"\byesterday\b", lambda m, t: _on(t, m.start(), day(_shift(d, -1)))),
        (r"\blast night\b", lambda m, t: f"on the night before {day(d)}"),
        (r"\b(?:today|tonight|this (?:morning|afternoon|evening))\b", lambda m, t: _on(t, m.start(), day(d))),
        (r"\btomorrow\b", lambda m, t: _on(t, m.start(), day(_shift(d, 1)))),
        (r"\blast weekend\b", lambda m, t: f"the weekend before {day(d)}"),
        (r"\blast week\b", lambda m, t: f"the week before {day(d)}"),
        (r"\bthis week\b", lambda m, t: f"the week of {day(d)}"),
        (r"\bnext week\b", lambda m, t: f"the week after {day(d)}"),
        (r"\blast month\b", lambda m, t: f"in {_month(d, -1)}"),
        (r"\bthis month\b", lambda m, t: f"in {_month(d, 0)}"),
        (r"\bnext month\b", lambda m, t: f"in {_month(d, 1)}"),
        (r"\blast year\b", lambda m, t: f"in {_year(d.year - 1)}"),
        (r"\bthis year\b", lambda m, t: f"in {d.year}"),
        (r"\bnext year\b", lambda m, t: f"in {_year(d.year + 1)}"),
        (r"\blast (" + "|".join(_DAYS) + r")\b", lambda m, t: f"the {m.group(1).capitalize()} before {day(d)}"),
        (r"\bnext (" + "|".join(_DAYS) + r")\b", lambda m, t: f"the {m.group(1).capitalize()} after {day(d)}"),
        (r"\b(\d{1,6}|" + "|".join(_NUMBERS) + r") (day|week|month)s? ago\b",
         lambda m, t: f"{m.group(1)} {m.group(2)}{'' if _count(m.group(1)) == 1 else 's'} before {day(d)}"),
        (r"\b(\d{1,6}|" + "|".join(_NUMBERS) + r") years? ago\b",
         lambda m, t: f"in {_year(d.year - _count(m.group(1)))}"),
    ]
    for pattern, replace in rules:
        text = re.sub(pattern, lambda m: replace(m, m.string), text, flags=re.IGNORECASE)  # type: ignore[operator]
    return text


def _count(word: str) -> int:
    return int(word) if word.isdigit() else _NUMBERS[word.lower()]
