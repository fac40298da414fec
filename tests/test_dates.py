"""Relative time words in derived facts, made absolute from when the message was said."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from honcho_local.services.dates import absolute_dates

SAID = datetime(2023, 1, 20, 16, 4)  # a Friday


@pytest.mark.parametrize("fact, expected", [
    ("Jon lost his job as a banker yesterday.", "Jon lost his job as a banker on 19 January 2023."),
    ("Jon has been dancing since yesterday.", "Jon has been dancing since 19 January 2023."),
    ("Jon met Gina the day before yesterday.", "Jon met Gina on 18 January 2023."),
    ("Jon went to a fair this morning.", "Jon went to a fair on 20 January 2023."),
    ("Jon will open the studio tomorrow.", "Jon will open the studio on 21 January 2023."),
    ("Gina opened her store last week.", "Gina opened her store the week before 20 January 2023."),
    ("Melanie went camping last weekend.", "Melanie went camping the weekend before 20 January 2023."),
    ("Caroline goes to a conference next month.", "Caroline goes to a conference in February 2023."),
    ("Caroline moved last month.", "Caroline moved in December 2022."),
    ("Melanie painted a sunset last year.", "Melanie painted a sunset in 2022."),
    ("Maria ran a charity race last Saturday.", "Maria ran a charity race the Saturday before 20 January 2023."),
    ("John is going on a trip next Friday.", "John is going on a trip the Friday after 20 January 2023."),
    ("Jon started a new job two weeks ago.", "Jon started a new job two weeks before 20 January 2023."),
    ("Jon started running 1 month ago.", "Jon started running 1 month before 20 January 2023."),
    ("Gina moved to Paris 3 years ago.", "Gina moved to Paris in 2020."),
    ("Jon said the yesterdays were hard.", "Jon said the yesterdays were hard."),  # not a time word
    ("Jon dances on Friday.", "Jon dances on Friday."),  # no safe reading: left alone
])
def test_relative_time_words_become_dates(fact: str, expected: str) -> None:
    assert absolute_dates(fact, SAID) == expected


def test_without_a_time_the_text_is_unchanged() -> None:
    assert absolute_dates("Jon lost his job yesterday.", None) == "Jon lost his job yesterday."


FIRST_DAY = datetime(1, 1, 1, 9, 30)
LAST_DAY = datetime(9999, 12, 31, 22, 0)


@pytest.mark.parametrize("fact, said, expected", [
    ("Jon lost his job yesterday.", FIRST_DAY, "Jon lost his job on 1 January 1."),
    ("Jon met Gina the day before yesterday.", datetime(1, 1, 2), "Jon met Gina on 1 January 1."),
    ("Jon moved last month.", FIRST_DAY, "Jon moved in January 1."),
    ("Jon painted a sunset last year.", FIRST_DAY, "Jon painted a sunset in 1."),
    ("Jon moved to Paris 3 years ago.", datetime(2, 6, 1), "Jon moved to Paris in 1."),
    ("Jon will open the studio tomorrow.", LAST_DAY, "Jon will open the studio on 31 December 9999."),
    ("Jon goes to a conference next month.", LAST_DAY, "Jon goes to a conference in December 9999."),
    ("Jon retires next year.", LAST_DAY, "Jon retires in 9999."),
    ("Jon said it yesterday.", datetime(1, 1, 1, tzinfo=UTC), "Jon said it on 1 January 1."),
    ("Jon said it tomorrow.", datetime(9999, 12, 31, tzinfo=UTC), "Jon said it on 31 December 9999."),
])
def test_date_arithmetic_clamps_at_the_calendars_edges(fact: str, said: datetime, expected: str) -> None:
    """A message dated at the edge of the calendar (0001-01-01, 9999-12-31) used to make the deriver
    raise OverflowError on every run of its unit (issue 31)."""
    assert absolute_dates(fact, said) == expected


def test_a_number_too_long_to_be_a_count_is_left_alone() -> None:
    huge = "9" * 5000  # int() refuses strings this long
    text = f"Jon started running {huge} days ago and moved {huge} years ago."
    assert absolute_dates(text, SAID) == text
