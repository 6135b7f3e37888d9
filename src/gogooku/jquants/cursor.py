"""Cursor mode (differential fetch) of ``fins/summary``, ``fins/details`` and ``td/list``.

Reference §1.2: call with ``date=<today>``; the answer's last page carries a top-level ``cursor``;
the next call with ``date`` and that ``cursor`` returns only the records that appeared since.
``cursor`` and ``pagination_key`` never go together: the pages after the first are requested with
``date`` and ``pagination_key`` alone (``JQuantsClient.iter_pages``). For the fins endpoints the
mode is Premium-only; an endpoint takes part when its catalogue entry has a ``cursor_plan``.

``get_since`` refuses (``PlanNotAllowedError``, no request) where the client's plan is below the
endpoint's ``cursor_plan``; callers then fall back to the plain ``date=`` query
(``supports_cursor`` tells them beforehand). A cursor is opaque: store it as given, per dataset
and day (``gogooku.store.fetch`` keeps it in the unit's catalogue query).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import polars as pl

from gogooku.jquants.endpoints import get_endpoint, parse_records
from gogooku.jquants.errors import PlanNotAllowedError
from gogooku.jquants.plans import plan_allows
from gogooku.settings import Plan

if TYPE_CHECKING:
    from gogooku.jquants.client import JQuantsClient

CURSOR_PARAM = "cursor"


def supports_cursor(dataset_id: str, plan: Plan) -> bool:
    """True when ``plan`` may use the cursor mode of ``dataset_id``."""
    needed = get_endpoint(dataset_id).cursor_plan
    return needed is not None and plan_allows(plan, needed)


def get_since(
    client: JQuantsClient, dataset_id: str, day: dt.date | str, cursor: str | None = None
) -> tuple[pl.DataFrame, str | None]:
    """(typed records of ``day`` that appeared after ``cursor`` — all of the day's so far when
    None —, the cursor to send next time; None when the server sent none)."""
    ep = get_endpoint(dataset_id)
    if not supports_cursor(dataset_id, client.plan):
        raise PlanNotAllowedError(
            f"dataset {dataset_id} ({ep.path}): the cursor mode needs the "
            f"{(ep.cursor_plan or Plan.PREMIUM).value!r} plan; this client is on the "
            f"{client.plan.value!r} plan; no request was made (use the date query)"
        )
    day_text = day.isoformat() if isinstance(day, dt.date) else str(day)
    params = {"date": day_text, **({CURSOR_PARAM: cursor} if cursor is not None else {})}
    records: list[dict] = []
    next_cursor = None
    for page in client.iter_pages(ep.path, params):
        records.extend(page.data)
        next_cursor = page.cursor
    return parse_records(dataset_id, records), next_cursor
