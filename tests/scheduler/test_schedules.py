"""Schedules: cron with and without seconds, intervals, sentences, and DST on real zone data."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from app.scheduler.schedules import InvalidSchedule, parse

UTC = dt.UTC
PARIS = "Europe/Paris"  # 2026: clocks jump 02:00→03:00 on 29 March, go back 03:00→02:00 on 25 Oct
# 202 characters, every day of the week last: cut at 200 it would drop Sunday.
TOO_LONG = "0 " + ",".join(str(n) for n in range(60)) + " 1,2,3,4,5,10 * * 1,2,3,4,5,6,0"


def at(*parts: int) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def local(fires: list[dt.datetime], zone: str = PARIS) -> list[str]:
    from zoneinfo import ZoneInfo

    return [f.astimezone(ZoneInfo(zone)).strftime("%m-%d %H:%M:%S%z") for f in fires]


def test_five_field_cron_fires_on_wall_time_in_its_zone() -> None:
    schedule = parse("0 7 * * mon-fri", PARIS)
    assert local(schedule.next_fires(at(2026, 11, 20, 12), 3)) == [
        "11-23 07:00:00+0100",
        "11-24 07:00:00+0100",
        "11-25 07:00:00+0100",
    ]
    assert schedule.describe == "At 07:00, Monday through Friday"


def test_six_field_cron_has_seconds_first() -> None:
    schedule = parse("*/15 * * * * *")
    assert schedule.next_fires(at(2026, 1, 1, 0, 0, 1), 3) == [
        at(2026, 1, 1, 0, 0, 15),
        at(2026, 1, 1, 0, 0, 30),
        at(2026, 1, 1, 0, 0, 45),
    ]
    assert schedule.describe == "Every 15 seconds"


@pytest.mark.parametrize(
    ("expression", "step", "sentence"),
    [
        ("every 30s", 30, "Every 30 seconds"),
        ("every 5m", 300, "Every 5 minutes"),
        ("every 2h", 7200, "Every 2 hours"),
        ("Every  1m", 60, "Every 1 minute"),
    ],
)
def test_intervals_count_from_the_epoch(expression: str, step: int, sentence: str) -> None:
    schedule = parse(expression, PARIS)
    first, second = schedule.next_fires(at(2026, 3, 29, 0, 59, 59), 2)
    assert first.timestamp() % step == 0
    assert (second - first).total_seconds() == step
    assert schedule.describe == sentence


def test_next_fire_is_strictly_after_the_moment() -> None:
    assert parse("0 * * * *").next_after(at(2026, 1, 1, 5)) == at(2026, 1, 1, 6)
    assert parse("every 1h").next_after(at(2026, 1, 1, 5)) == at(2026, 1, 1, 6)


def test_a_wall_time_skipped_by_spring_forward_fires_once_at_the_end_of_the_gap() -> None:
    daily = parse("30 2 * * *", PARIS)
    assert local(daily.next_fires(at(2026, 3, 27, 12), 3)) == [
        "03-28 02:30:00+0100",
        "03-29 03:00:00+0200",  # 02:30 does not exist that night: not lost, not doubled
        "03-30 02:30:00+0200",
    ]
    every_20 = parse("*/20 * * * *", PARIS)
    assert local(every_20.next_fires(at(2026, 3, 29, 0, 30), 4)) == [
        "03-29 01:40:00+0100",
        "03-29 03:00:00+0200",  # 02:00, 02:20 and 02:40 fall in the gap: one fire for all three
        "03-29 03:20:00+0200",
        "03-29 03:40:00+0200",
    ]


def test_a_repeated_hour_at_fall_back_runs_once() -> None:
    daily = parse("30 2 * * *", PARIS)
    fires = daily.next_fires(at(2026, 10, 24, 12), 2)
    assert local(fires) == ["10-25 02:30:00+0200", "10-26 02:30:00+0100"]
    half_hourly = parse("*/30 * * * *", PARIS)
    assert local(half_hourly.next_fires(at(2026, 10, 24, 23, 10), 5)) == [
        "10-25 01:30:00+0200",
        "10-25 02:00:00+0200",
        "10-25 02:30:00+0200",
        "10-25 03:00:00+0100",  # the second 02:00-02:59 (+01:00) does not run again
        "10-25 03:30:00+0100",
    ]


def test_a_moment_inside_the_repeated_hour_does_not_rerun_its_first_pass() -> None:
    half_hourly = parse("*/30 * * * *", PARIS)
    second_pass = at(2026, 10, 25, 1, 10)  # 02:10+01:00, the second 02:10 of the night
    assert local(half_hourly.next_fires(second_pass, 1)) == ["10-25 03:00:00+0100"]


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("61 * * * *", "minute must be 0-59"),
        ("* 24 * * *", "hour must be 0-23"),
        ("* * 0 * *", "day of month must be 1-31"),
        ("* * * 13 *", "month must be 1-12"),
        ("* * * * 8", "day of week must be 0-7"),
        ("60 * * * * *", "second must be 0-59"),
        ("*/0 * * * *", "minute step must be a whole number of at least 1"),
        ("a * * * *", "minute must be 0-59 or *"),
        ("1 2 3", "3 fields; expected 5-field cron"),
        ("", "empty"),
        ("every 0s", "an interval must be at least 1"),
        ("every 5x", "an interval is `every N` + s, m or h"),
        ("every 25h", "an interval must be at most 24h"),
    ],
)
def test_invalid_schedules_name_the_field_and_what_it_accepts(expression: str, reason: str) -> None:
    with pytest.raises(InvalidSchedule) as caught:
        parse(expression)
    assert str(caught.value).startswith(f"invalid schedule {expression!r}: {reason}")


def test_an_unknown_timezone_is_refused_with_an_example() -> None:
    with pytest.raises(ValueError, match="expected an IANA name such as UTC or Europe/Paris"):
        parse("* * * * *", "Mars/Olympus")


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("0 0 30 2 *", "never fires: day of month 30 never falls in month 2"),
        ("0 0 30,31 feb *", "never fires: day of month 30,31 never falls in month feb"),
        ("0 0 31 4,6,9,11 *", "never fires: day of month 31 never falls in month 4,6,9,11"),
        ("0 0 0 31 2 *", "never fires: day of month 31 never falls in month 2"),
    ],
)
def test_a_schedule_with_valid_fields_that_never_fires_is_refused(
    expression: str, reason: str
) -> None:
    with pytest.raises(InvalidSchedule) as caught:
        parse(expression, PARIS)
    assert str(caught.value) == f"invalid schedule {expression!r}: {reason}"


def test_rare_schedules_that_do_fire_are_accepted() -> None:
    # 29 February skips 2100, not a leap year: eight years between two fires.
    assert parse("0 0 29 2 *").next_after(at(2096, 3, 1)) == at(2104, 2, 29)
    # Day of month and day of week both given: either one matches (cron's rule).
    monday = parse("0 0 30 2 mon").next_after(at(2026, 1, 1))
    assert monday == at(2026, 2, 2) and monday.weekday() == 0


def test_a_schedule_longer_than_its_column_is_refused_whole_naming_the_limit() -> None:
    assert len(TOO_LONG) == 202
    # Cut to the column's 200 it would still be valid, and mean something else.
    assert parse(TOO_LONG[:200]).describe.endswith("Thursday, Friday, and Saturday")

    with pytest.raises(InvalidSchedule) as caught:
        parse(TOO_LONG)

    assert str(caught.value) == (
        f"invalid schedule {TOO_LONG[:40] + '…'!r}: at most 200 characters, got 202"
    )
    assert caught.value.expression == TOO_LONG


def test_a_timezone_too_long_to_be_a_file_name_is_refused_like_any_unknown_zone() -> None:
    with pytest.raises(ValueError, match="expected an IANA name such as UTC or Europe/Paris"):
        parse("* * * * *", "Europe/" + "x" * 300)


# Each cron field's range and names, seconds first.
RANGES = [(0, 59, []), (0, 59, []), (0, 23, []), (1, 31, []), (1, 12, ["jan", "feb", "dec"])]
RANGES.append((0, 7, ["sun", "mon", "sat"]))


def random_field(chance: random.Random, low: int, high: int, names: list[str]) -> str:
    """Mostly valid, sometimes at or past an edge, now and then garbage."""

    def atom() -> str:
        roll = chance.random()
        if roll < 0.05:
            return chance.choice(["", "x", "L", "-1", "1.5", "#", "**"])
        if roll < 0.15:
            return str(chance.choice([low - 1, high + 1, high]))
        if roll < 0.25 and names:
            return chance.choice(names)
        return str(chance.randint(low, high))

    roll = chance.random()
    if roll < 0.25:
        field = chance.choice(["*", "*", "*", "?"])
    elif roll < 0.45:
        field = f"{atom()}-{atom()}"
    else:
        field = atom()
    if chance.random() < 0.2:
        field += f"/{chance.choice(['0', '1', '2', '5', '7', 'a'])}"
    if chance.random() < 0.2:
        field += "," + random_field(chance, low, high, names)
    return field


def test_cron_like_texts_are_a_schedule_that_fires_or_an_invalid_schedule_nothing_else() -> None:
    chance = random.Random(12)  # the same texts on every run
    moment = at(2026, 11, 30, 12)
    fired = 0
    for _ in range(1000):
        shape = chance.choice([RANGES[1:], RANGES[1:], RANGES[1:], RANGES, RANGES[1:5]])
        expression = " ".join(random_field(chance, *field) for field in shape)
        try:
            schedule = parse(expression, chance.choice(["UTC", PARIS, "Australia/Lord_Howe"]))
        except InvalidSchedule as refused:
            assert str(refused).startswith("invalid schedule "), expression
            continue
        first, second = schedule.next_fires(moment, 2)
        assert moment < first < second, expression
        assert isinstance(schedule.describe, str)
        fired += 1
    assert fired > 100  # the texts reach the fire search, not only the field checks
