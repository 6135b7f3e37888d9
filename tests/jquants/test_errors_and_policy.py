"""Error mapping of final responses and the retry schedule."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gogooku.jquants.errors import (
    AuthError,
    BadRequestError,
    JQuantsError,
    PlanError,
    PlanNotAllowedError,
    RateLimitError,
    ServerError,
    error_for_status,
    server_message,
)
from gogooku.jquants.retry import RetryPolicy

PARAMS = {"date": "2024-01-04", "code": "130A0"}


def test_server_message_prefers_json_message_and_falls_back_to_text():
    assert server_message(b'{"message": "Forbidden"}') == "Forbidden"
    assert server_message(b'{"error": "x"}') == '{"error": "x"}'
    assert server_message(b"<html>502 Bad Gateway</html>") == "<html>502 Bad Gateway</html>"
    assert server_message(b"") == ""
    assert len(server_message(b"x" * 5000)) == 500


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (400, b'{"message": "bad"}', BadRequestError),
        (401, b"", AuthError),
        (403, b'{"message": "The incoming api key is invalid or expired."}', AuthError),
        (403, b'{"message": "Forbidden"}', PlanError),
        (403, b"", PlanError),
        (429, b'{"message": "Rate limit exceeded"}', RateLimitError),
        (500, b"oops", ServerError),
        (504, b"", ServerError),
        (404, b"", JQuantsError),
    ],
)
def test_final_status_maps_to_its_error_type(status, body, kind):
    error = error_for_status(status, body, path="/equities/bars/daily", params=PARAMS, plan="light")
    assert type(error) is kind
    assert error.status == status and error.path == "/equities/bars/daily"
    text = str(error)
    assert "/equities/bars/daily" in text and "130A0" in text and f"HTTP {status}" in text


def test_403_messages_name_the_cause():
    key = error_for_status(
        403,
        b'{"message": "The incoming api key is invalid or expired."}',
        path="/fins/summary",
        params=PARAMS,
        plan="free",
    )
    assert "API key was refused" in str(key) and "JQUANTS_API_KEY" in str(key)
    plan = error_for_status(
        403, b'{"message": "Forbidden"}', path="/fins/summary", params=PARAMS, plan="free"
    )
    assert "'free' plan most likely lacks this endpoint or the requested date range" in str(plan)
    assert "server said: 'Forbidden'" in str(plan)


def test_plan_not_allowed_is_a_plan_error():
    assert issubclass(PlanNotAllowedError, PlanError)
    assert issubclass(PlanError, JQuantsError)


def test_rate_limit_waits_are_60_120_300_then_exhausted():
    policy = RetryPolicy()
    assert [policy.rate_limit_wait_s(n) for n in range(5)] == [60.0, 120.0, 300.0, 300.0, None]


def test_backoff_without_jitter_doubles_to_the_cap_then_stops():
    policy = RetryPolicy(max_retries=6, backoff_base_s=1.0, backoff_max_s=10.0, jitter=0.0)
    rng = random.Random(0)
    assert [policy.backoff_s(k, rng) for k in range(7)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0, None]


@given(retry=st.integers(0, 9), seed=st.integers(0, 2**32), jitter=st.floats(0.0, 1.0))
def test_jittered_backoff_stays_between_its_bounds(retry, seed, jitter):
    policy = RetryPolicy(max_retries=10, backoff_base_s=0.5, backoff_max_s=30.0, jitter=jitter)
    ceiling = min(30.0, 0.5 * 2**retry)
    wait = policy.backoff_s(retry, random.Random(seed))
    assert ceiling * (1 - jitter) <= wait <= ceiling


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_retries": -1}, "max_retries"),
        ({"jitter": 1.5}, "jitter"),
        ({"rate_limit_waits_s": (30.0,)}, "at least a minute"),
    ],
)
def test_invalid_policies_are_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        RetryPolicy(**kwargs)
