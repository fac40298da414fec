"""Dates in gold facts and conclusions, for the date accuracy of gold-fact recall.

A LoCoMo gold fact keeps the speaker's relative words ("Melanie painted a lake sunrise last year"); read
against the session's date they name a span of days (the year before). A conclusion states its date
in absolute words ("in 2022", "on 7 May 2023", "May 2023"). `expected_span` turns a fact's relative
words into the span they name (None for facts without one, or with words too vague to check:
"recently", "a few years ago", "last summer"); `mentions` reads the absolute dates a conclusion names;
`judge` says how a conclusion's dates fit a span: `correct` (a date inside it), `coarse` (only a wider
date touching it, e.g. the month for "last week"), `wrong` (dates, none touching it), `relative` (still
relative words, no absolute date) or `undated`.
"""

from __future__ import annotations

import calendar
import re
from datetime import date, timedelta

MONTHS = {name.lower(): i for i, name in enumerate(calendar.month_name) if name}
_MONTH = "(" + "|".join(MONTHS) + ")"
_NUMBER = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6}
_WEEKDAYS = "(monday|tuesday|wednesday|thursday|friday|saturday|sunday)"
_DAY_FIRST = re.compile(r"\b(\d{1,2})(?:st|nd|rd|th)?(?: of)? " + _MONTH + r",? (\d{4})\b", re.I)
_MONTH_FIRST = re.compile(r"\b" + _MONTH + r" (\d{1,2})(?:st|nd|rd|th)?,? (\d{4})\b", re.I)
_MONTH_YEAR = re.compile(r"\b" + _MONTH + r",? (\d{4})\b", re.I)
_YEAR = re.compile(r"\b(19[5-9]\d|20[0-4]\d)\b")
_RELATIVE = re.compile(r"\b(yesterday|today|tonight|tomorrow|last (?:night|week|weekend|month|year)|"
                       r"next (?:week|weekend|month|year)|this (?:week|weekend|month|year)|"
                       r"(?:a|an|one|two|three|four|five|six|few|couple of) (?:days?|weeks?|months?|years?) ago|"
                       r"last " + _WEEKDAYS + r")\b", re.I)

Span = tuple[date, date]


def _month_span(year: int, month: int) -> Span:
    return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])


def _shift_month(day: date, months: int) -> Span:
    index = day.year * 12 + day.month - 1 + months
    return _month_span(index // 12, index % 12 + 1)


def _days(anchor: date, first: int, last: int) -> Span:
    return anchor + timedelta(days=first), anchor + timedelta(days=last)


def expected_span(text: str, anchor: date) -> Span | None:
    """The days a fact's first relative time words name, said on `anchor` (None: no checkable words)."""
    found = _RELATIVE.search(text)
    if found is None:
        return None
    words = found.group(1).lower()
    fixed = {"yesterday": (-1, -1), "last night": (-1, -1), "today": (0, 0), "tonight": (0, 0),
             # "the week before 9 June 2023" (LoCoMo's own style) names the day it was said
             "tomorrow": (1, 1), "last week": (-14, 0), "last weekend": (-9, 0), "this week": (-6, 6),
             "this weekend": (-2, 3), "next week": (1, 14), "next weekend": (1, 13)}
    if words in fixed:
        return _days(anchor, *fixed[words])
    if words.startswith("last ") and words[5:] in _WEEKDAYS:
        return _days(anchor, -7, 0)
    unit = words.split()[-1]
    if unit in ("month", "year"):
        step = {"last": -1, "this": 0, "next": 1}[words.split()[0]]
        if unit == "month":
            return _shift_month(anchor, step)
        return date(anchor.year + step, 1, 1), date(anchor.year + step, 12, 31)
    count = words.split()[0]
    if count not in _NUMBER:  # "a few", "a couple of": too vague to check
        return None
    n = _NUMBER[count]
    if unit.startswith("day"):
        return _days(anchor, -n - 1, -n + 1)
    if unit.startswith("week"):
        return _days(anchor, -7 * n - 6, -7 * n + 6)
    if unit.startswith("month"):
        return _shift_month(anchor, -n)
    return date(anchor.year - n, 1, 1), date(anchor.year - n, 12, 31)


def mentions(text: str) -> list[Span]:
    """The absolute dates a text names, each as the span of days it covers (a day, a month, a year)."""
    out: list[Span] = []
    rest = text
    for pattern, order in ((_DAY_FIRST, "dmy"), (_MONTH_FIRST, "mdy")):
        for m in pattern.finditer(rest):
            day, month, year = (m.group(1), m.group(2), m.group(3)) if order == "dmy" else (m.group(2), m.group(1),
                                                                                              m.group(3))
            try:
                d = date(int(year), MONTHS[month.lower()], int(day))
            except ValueError:
                continue
            out.append((d, d))
        rest = pattern.sub(" ", rest)
    for m in _MONTH_YEAR.finditer(rest):
        out.append(_month_span(int(m.group(2)), MONTHS[m.group(1).lower()]))
    rest = _MONTH_YEAR.sub(" ", rest)
    out += [(date(int(y), 1, 1), date(int(y), 12, 31)) for y in _YEAR.findall(rest)]
    return out


def judge(text: str, span: Span) -> str:
    """correct | coarse | wrong | relative | undated: how the dates `text` names fit `span`."""
    found = mentions(text)
    if any(span[0] <= lo and hi <= span[1] for lo, hi in found):
        return "correct"
    if any(lo <= span[1] and span[0] <= hi for lo, hi in found):  # wider than the span, touching it
        return "coarse"
    if found:
        return "wrong"
    return "relative" if _RELATIVE.search(text) else "undated"
