import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gogooku.jquants.plans import RATE_PER_MINUTE, access_refusal, history_window, plan_allows
from gogooku.settings import AddOn, Plan, Settings, parse_addons


def test_rates_match_the_published_limits():
    assert RATE_PER_MINUTE == {Plan.FREE: 5, Plan.LIGHT: 60, Plan.STANDARD: 120, Plan.PREMIUM: 500}


def test_free_window_is_two_years_ending_twelve_weeks_ago():
    window = history_window(Plan.FREE, dt.date(2026, 11, 25))
    assert window.latest == dt.date(2026, 9, 2)
    assert window.earliest == dt.date(2024, 9, 2)
    assert not window.contains(dt.date(2026, 11, 1))


@pytest.mark.parametrize(
    ("plan", "years"), [(Plan.LIGHT, 5), (Plan.STANDARD, 10), (Plan.PREMIUM, 20)]
)
def test_paid_windows_reach_today(plan, years):
    window = history_window(plan, dt.date(2026, 11, 25))
    assert window.latest == dt.date(2026, 11, 25)
    assert window.earliest == dt.date(2026 - years, 11, 25)


def test_leap_day_window():
    assert history_window(Plan.LIGHT, dt.date(2024, 2, 29)).earliest == dt.date(2019, 2, 28)


@given(
    st.dates(dt.date(2000, 1, 1), dt.date(2030, 1, 1)),
    st.dates(dt.date(2000, 1, 1), dt.date(2030, 1, 1)),
    st.sampled_from(list(Plan)),
)
def test_clamp_stays_inside_both_ranges(a, b, plan):
    start, end = min(a, b), max(a, b)
    window = history_window(plan, dt.date(2026, 11, 25))
    clamped = window.clamp(start, end)
    if clamped is None:
        assert end < window.earliest or start > window.latest
    else:
        lo, hi = clamped
        assert start <= lo <= hi <= end
        assert window.contains(lo) and window.contains(hi)


def test_plan_order():
    assert plan_allows(Plan.PREMIUM, Plan.STANDARD)
    assert plan_allows(Plan.LIGHT, Plan.LIGHT)
    assert not plan_allows(Plan.FREE, Plan.LIGHT)


def test_settings_read_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("GOGOOKU_HOME", str(tmp_path))
    monkeypatch.setenv("JQUANTS_API_KEY", "secret")
    monkeypatch.setenv("JQUANTS_PLAN", "standard")
    settings = Settings()
    assert settings.home == tmp_path
    assert settings.raw_dir == tmp_path / "raw"
    assert settings.jquants_api_key.get_secret_value() == "secret"
    assert settings.jquants_plan is Plan.STANDARD


def test_settings_reject_unknown_plan(monkeypatch):
    monkeypatch.setenv("JQUANTS_PLAN", "platinum")
    with pytest.raises(ValueError, match="JQUANTS_PLAN"):
        Settings()


def test_home_defaults_to_local_folder_not_the_user_home(monkeypatch, tmp_path):
    monkeypatch.delenv("GOGOOKU_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert Settings().home.name == "gogooku_home"


def test_addons_read_from_a_comma_list(monkeypatch):
    monkeypatch.setenv("JQUANTS_ADDONS", " minute, TDNET ,")
    assert Settings().jquants_addons == {AddOn.MINUTE, AddOn.TDNET}
    monkeypatch.setenv("JQUANTS_ADDONS", "")
    assert Settings().jquants_addons == frozenset()
    monkeypatch.delenv("JQUANTS_ADDONS")
    assert Settings().jquants_addons == frozenset()


def test_unknown_addon_is_named():
    with pytest.raises(ValueError, match=r"unknown add-on\(s\) \['ticks'\]; known: minute, tdnet"):
        parse_addons("minute,ticks")


def test_addon_windows_ignore_the_base_plan():
    today = dt.date(2026, 12, 4)
    for plan in Plan:
        assert history_window(plan, today, AddOn.MINUTE).earliest == dt.date(2024, 12, 4)
        assert history_window(plan, today, AddOn.TDNET).earliest == dt.date(2021, 12, 4)
        assert history_window(plan, today, AddOn.TDNET).latest == today


def test_access_needs_the_addon_not_the_plan():
    assert access_refusal(Plan.PREMIUM, AddOn.MINUTE, Plan.FREE, frozenset({AddOn.MINUTE})) is None
    refusal = access_refusal(Plan.FREE, AddOn.TDNET, Plan.PREMIUM, frozenset({AddOn.MINUTE}))
    assert refusal is not None and "tdnet add-on" in refusal
    assert access_refusal(Plan.STANDARD, None, Plan.LIGHT, frozenset(AddOn)) == (
        "needs the standard plan, this is the light plan"
    )
    assert access_refusal(Plan.STANDARD, None, Plan.PREMIUM, frozenset()) is None
