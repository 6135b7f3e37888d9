"""A side signal's contribution is zero until its information is public at the decision time.

Each test perturbs one hand-picked latent record and checks on which decision days the
contributions change: never before publication, from the first usable day on.
"""

from __future__ import annotations

import dataclasses
from datetime import date

import numpy as np
import pytest

from gogooku.synth.latents import (
    DRIFT_DECAY,
    STRENGTH,
    is_intraday,
)


def _changed_days(side_market, name: str, **replaced) -> np.ndarray:
    lat = side_market.state.latents
    uni = side_market.state.universe
    base = lat.contributions(uni)[name]
    other = dataclasses.replace(lat, **replaced).contributions(uni)[name]
    return np.nonzero(np.abs(other - base).max(axis=1) > 0)[0]


def _idx(side_market, day: date) -> int:
    return side_market.state.days.index(day)


def test_weekly_margin_record_counts_from_the_day_after_its_tuesday_publication(side_market):
    lat = side_market.state.latents
    friday = _idx(side_market, date(2021, 6, 11))
    assert lat.margin_week_end[friday]
    week = slice(_idx(side_market, date(2021, 6, 7)), friday + 1)
    margin_z = lat.margin_z.copy()
    margin_z[week, 3] += 2.0
    changed = _changed_days(side_market, "margin", margin_z=margin_z)
    # published Tuesday 2021-06-15 (2nd business day), usable Wednesday 2021-06-16
    assert side_market.state.days[changed[0]] == date(2021, 6, 16)
    # until the next record (Friday 2021-06-18) is usable on Wednesday 2021-06-23
    assert side_market.state.days[changed[-1]] == date(2021, 6, 22)


def test_investor_flow_counts_from_the_day_after_its_thursday_publication(side_market):
    lat = side_market.state.latents
    friday = _idx(side_market, date(2021, 6, 11))
    flow_z = lat.flow_z.copy()
    flow_z[_idx(side_market, date(2021, 6, 7)) : friday + 1] += 1.5
    changed = _changed_days(side_market, "flow", flow_z=flow_z)
    # PubDate Thursday 2021-06-17 (4th business day), usable Friday 2021-06-18
    assert side_market.state.days[changed[0]] == date(2021, 6, 18)


def test_short_position_counts_from_the_day_after_disclosure(side_market):
    lat = side_market.state.latents
    calc = _idx(side_market, date(2021, 6, 9))
    reported = lat.short_reported.copy()
    reported[calc, 7] += 0.01
    changed = _changed_days(side_market, "short", short_reported=reported)
    # calculated Wed 06-09, disclosed Fri 06-11, usable Mon 06-14, for that day only
    assert [side_market.state.days[t] for t in changed] == [date(2021, 6, 14)]


@pytest.mark.parametrize("intraday", [False, True])
def test_earnings_drift_starts_on_the_first_usable_day_with_hand_computed_size(
    side_market, intraday
):
    lat = side_market.state.latents
    uni = side_market.state.universe
    t0 = _idx(side_market, date(2021, 5, 12))
    i = int(np.nonzero(side_market.state.listed[t0])[0][0])
    surprise = lat.surprise.copy()
    disc = lat.disclosure_day.copy()
    intra = lat.disclosure_intraday.copy()
    surprise[t0, i] += 1.0
    disc[t0, i] = True
    intra[t0, i] = intraday
    base = dataclasses.replace(lat, disclosure_day=disc, disclosure_intraday=intra)
    shocked = dataclasses.replace(base, surprise=surprise)
    diff = shocked.contributions(uni)["drift"] - base.contributions(uni)["drift"]
    start = t0 if intraday else t0 + 1
    assert np.abs(diff[:start]).max() == 0.0
    n_listed = side_market.state.listed[start].sum()
    for k in range(3):
        listed = side_market.state.listed[start + k].sum()
        assert n_listed == listed
        expected = STRENGTH["drift"] * DRIFT_DECAY**k * (1 - 1 / listed)
        assert diff[start + k, i] == pytest.approx(expected, rel=1e-9)


def test_contributions_are_zero_for_unlisted_stocks_and_demeaned(side_market):
    contributions = side_market.state.latents.contributions(side_market.state.universe)
    listed = side_market.state.listed
    for name, arr in contributions.items():
        assert (arr[~listed] == 0).all(), name
        means = np.where(listed, arr, 0).sum(axis=1) / np.maximum(listed.sum(axis=1), 1)
        assert np.abs(means).max() < 1e-15, name


@pytest.mark.parametrize(
    ("day", "disc_time", "expected"),
    [
        (date(2024, 11, 1), "15:00:00", False),
        (date(2024, 11, 1), "14:59:59", True),
        (date(2024, 11, 5), "15:00:00", True),
        (date(2024, 11, 5), "15:30:00", False),
        (date(2021, 2, 5), "11:30:00", True),
        (date(2024, 11, 5), "", False),  # no time: after the close
        (date(2024, 11, 5), "21:00:00", False),
    ],
)
def test_disclosure_before_the_close_is_intraday(day, disc_time, expected):
    assert is_intraday(day, disc_time) is expected


def test_statement_events_classify_disc_time_against_the_close(side_market):
    events = side_market.state.latents.disclosures.filter("disclosed")
    for disc_date, disc_time, intraday in events.select(
        "disc_date", "disc_time", "intraday"
    ).iter_rows():
        assert intraday is is_intraday(disc_date, disc_time)
