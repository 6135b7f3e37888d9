"""``gogooku.bundle.schedule``: the next weekday run at a wall-clock time in a time zone."""

from __future__ import annotations

import datetime as dt
import sys
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gogooku.bundle.schedule import next_run, parse_args, run_once

TOKYO = ZoneInfo("Asia/Tokyo")
NEW_YORK = ZoneInfo("America/New_York")  # daylight saving: the local time must still hold

instants = st.datetimes(
    min_value=dt.datetime(2020, 1, 1),
    max_value=dt.datetime(2035, 12, 31),
    timezones=st.just(dt.UTC),
)
times = st.times().map(lambda t: t.replace(microsecond=0))


@given(now=instants, at=times, tz=st.sampled_from([TOKYO, NEW_YORK, ZoneInfo("UTC")]))
def test_next_run_is_the_first_weekday_at_the_local_time_after_now(now, at, tz):
    when = next_run(now, at, tz)
    assert when > now
    local = when.astimezone(tz)
    if local.replace(tzinfo=None) == dt.datetime.combine(local.date(), at):
        assert local.weekday() < 5
    else:  # a local time that does not exist that day (spring-forward gap) is taken as is
        assert tz is NEW_YORK
    # nothing earlier qualifies: every day between now and the run is a weekend or already past
    day = now.astimezone(tz).date()
    while day < local.date():
        earlier = dt.datetime.combine(day, at, tzinfo=tz)
        assert earlier <= now or earlier.weekday() >= 5
        day += dt.timedelta(days=1)
    assert when - now <= dt.timedelta(days=4)


def test_next_run_in_tokyo():
    friday_evening = dt.datetime(2026, 12, 4, 10, 0, tzinfo=dt.UTC)  # 19:00 JST, after 18:30
    assert next_run(friday_evening, dt.time(18, 30), TOKYO) == dt.datetime(
        2026, 12, 7, 18, 30, tzinfo=TOKYO
    )
    monday_morning = dt.datetime(2026, 12, 7, 0, 20, tzinfo=dt.UTC)  # 09:20 JST
    assert next_run(monday_morning, dt.time(18, 30), TOKYO).astimezone(dt.UTC) == dt.datetime(
        2026, 12, 7, 9, 30, tzinfo=dt.UTC
    )


def test_run_once_returns_the_exit_status_and_127_for_a_missing_program(tmp_path):
    assert run_once([sys.executable, "-c", "raise SystemExit(3)"]) == 3
    assert run_once([str(tmp_path / "no-such-program")]) == 127


def test_the_command_line_and_its_errors(capsys):
    schedule = parse_args(["--at", "09:05", "--tz", "UTC", "--", "gogooku", "update", "--now"])
    assert (schedule.at, schedule.tz, schedule.now) == (dt.time(9, 5), ZoneInfo("UTC"), False)
    assert schedule.command == ["gogooku", "update", "--now"]
    with pytest.raises(SystemExit):
        parse_args(["--at", "25:00", "--", "true"])
    assert "--at '25:00': expected HH:MM" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parse_args(["--tz", "Mars/Olympus", "--", "true"])
    assert "--tz 'Mars/Olympus': not a known time zone" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parse_args(["--at", "18:30", "--"])
    assert "no command after --" in capsys.readouterr().err
