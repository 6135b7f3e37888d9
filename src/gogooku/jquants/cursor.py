"""Cursor mode (differential fetch) of ``fins/summary``, ``fins/details`` and ``td/list``.

Reference §1.2: call with ``date=<today>``; the answer's last page carries a top-level ``cursor``;
the next call with ``date`` and that ``cursor`` returns only the records that appeared since.
``cursor`` and ``pagination_key`` never go together: the pages after the first are requested with
``date`` and ``pagination_key`` alone (``JQuantsClient.iter_pages``). For the fins endpoints the
mode is Premium-only; an endpoint takes part when its catalogue entry has a ``cursor_plan``.

``JQuantsClient.get_since`` refuses (``PlanNotAllowedError``, no request) where the client's plan is below the
endpoint's ``cursor_plan``; callers then fall back to the plain ``date=`` query
(``supports_cursor`` tells them beforehand). A cursor is opaque: store it as given, per dataset
and day (``gogooku.store.fetch`` keeps it in the unit's catalogue query).
"""

from __future__ import annotations

from gogooku.jquants.endpoints import get_endpoint
from gogooku.jquants.plans import plan_allows
from gogooku.settings import Plan

CURSOR_PARAM = "cursor"


def supports_cursor(dataset_id: str, plan: Plan) -> bool:
    """True when ``plan`` may use the cursor mode of ``dataset_id``."""
    needed = get_endpoint(dataset_id).cursor_plan
    return needed is not None and plan_allows(plan, needed)
