"""Benchmark of a backfill at Standard: paging every unit vs bulk files for complete months.

One synthetic market (``--size STOCKSxYEARS``, default 300 × 3 y, ending 2024-12-30) is served at
the Standard plan in process; the real ``JQuantsClient`` fetches every dataset the plan allows
into a fresh raw store twice, unpaced: with ``--no-bulk`` semantics (``baseline_paging``) and
with bulk (``bulk``). An ASGI wrapper counts every request by path and the body bytes sent. For each path:

* ``requests``: per dataset (the fetch report: pages, listing and URL calls) and in total; signed
  file downloads are counted apart (``downloads``), since no rate limit is documented for them;
* ``modelled_paced_seconds``: requests × 60 / 120, the Standard plan's pace;
* ``unpaced_seconds``: the measured wall time of the run without pacing (HTTP, JSON or CSV
  parsing, the store's writes; on this machine, whatever else runs on it);
* ``bytes``: response bodies, JSON pages and bulk files, uncompressed on the wire in process.

``full_size_estimate`` scales the request counts to 4,000 stocks × 10 years: a day-by-day dataset
costs one request per trading day from its coverage start (``Endpoint.coverage_from``) and page (the pages per unit measured here; a 4,000-stock day
fits one 5,000-row page of the synthetic server), a month-range dataset one per month; bulk costs
one listing per dataset, one URL call per complete month with data and the current month paged.
``server_bars_listing`` times the synthetic server's bars ``/bulk/list``: the first call builds
every month file (then kept in memory), a second one reads the cache.
Usage: ``python bench/bench_backfill.py [--size 300x3]``. Prints one JSON document.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import tempfile
import time
from datetime import date
from pathlib import Path

from gogooku.calendar import published_through, xtks_sessions
from gogooku.jquants.client import JQuantsClient
from gogooku.jquants.endpoints import ENDPOINTS
from gogooku.jquants.plans import RATE_PER_MINUTE, plan_allows
from gogooku.jquants.transport import ASGISyncTransport
from gogooku.settings import Plan
from gogooku.store.bulk import bulk_capable
from gogooku.store.fetch import fetch
from gogooku.store.raw import RawStore
from gogooku.synth.api import create_app
from gogooku.synth.config import SynthConfig
from gogooku.synth.market import generate_market
from gogooku.synth.request_log import RequestLog

PLAN = Plan.STANDARD
END = date(2024, 12, 30)
FULL = (4000, 10)


def _run(market, start: date, bulk: bool) -> dict:
    server = RequestLog(create_app(market, api_key="k", plan=PLAN, rate_limit=False))
    today = server.state.service.today
    client = JQuantsClient(
        "k",
        plan=PLAN,
        base_url="http://synthetic.local/v2",
        transport=ASGISyncTransport(server),
        pacing=False,
        today=today,
    )
    with tempfile.TemporaryDirectory() as root, client:
        t0 = time.perf_counter()
        report = fetch(
            RawStore(Path(root)),
            client,
            start,
            END,
            None,
            PLAN,
            progress=False,
            today=today,
            source_end=published_through(today),
            bulk=bulk,
        )
        seconds = time.perf_counter() - t0
    requests = report.requests
    return {
        "requests": requests,
        "requests_by_dataset": {d: r.requests for d, r in report.results.items() if r.requests},
        "units_by_dataset": {d: r.fetched for d, r in report.results.items() if r.fetched},
        "downloads": server.counts()["/bulk-files/"],
        "modelled_paced_seconds": round(requests * 60 / RATE_PER_MINUTE[PLAN], 1),
        "unpaced_seconds": round(seconds, 1),
        "bytes": sum(server.bytes.values()),
        "bulk_file_bytes": server.bytes["/bulk-files/"],
        "rows": sum(r.rows for r in report.results.values()),
    }


def _full_size_estimate(paging: dict) -> dict:
    """Request counts of a 10-year Standard backfill (see module doc), from the calendar."""
    first = date(END.year - FULL[1] + 1, 1, 1)
    days = xtks_sessions(first, END)
    months = len({(d.year, d.month) for d in days})
    tail_days = sum(1 for d in days if (d.year, d.month) == (END.year, END.month))
    calendar_months_ahead = 12  # paid plans page the calendar through the end of next year
    pages, bulk, per_dataset = 0, 0, {}
    for ep in ENDPOINTS.values():
        if ep.add_on is not None or not plan_allows(PLAN, ep.min_plan):
            continue  # the runs hold no add-on
        if ep.fetch_mode == "latest":
            paged = bulked = 1
        elif ep.fetch_mode == "range":
            ahead = calendar_months_ahead if ep.id == "markets_calendar" else 0
            paged = months + ahead
            bulked = 1 + (months - 1) + 1 + ahead
        else:
            units = paging["units_by_dataset"].get(ep.id, 0)
            per_unit = paging["requests_by_dataset"].get(ep.id, 0) / units if units else 1.0
            covered = [d for d in days if ep.coverage_from is None or d >= ep.coverage_from]
            paged = round(len(covered) * per_unit)
            bulked = 1 + (months - 1) + round(tail_days * per_unit)
        if not bulk_capable(ep.id, PLAN):
            bulked = paged
        per_dataset[ep.id] = {"paging": paged, "bulk": bulked}
        pages += paged
        bulk += bulked
    pace = 60 / RATE_PER_MINUTE[PLAN]
    return {
        "size": f"{FULL[0]}x{FULL[1]}",
        "trading_days": len(days),
        "months": months,
        "requests_paging": pages,
        "requests_bulk": bulk,
        "modelled_paced_hours_paging": round(pages * pace / 3600, 2),
        "modelled_paced_minutes_bulk": round(bulk * pace / 60, 1),
        "requests_ratio_paging_over_bulk": round(pages / bulk, 1),
        "by_dataset": per_dataset,
    }


def _listing(market) -> dict:
    """Seconds of the server's first bars listing (builds every month file) and of a second one
    (cached bytes), and the bytes the service then holds for bars."""
    bulk = create_app(market, api_key="k", plan=PLAN, rate_limit=False).state.bulk
    params = {"endpoint": ENDPOINTS["equities_bars_daily"].path}
    t0 = time.perf_counter()
    listed = bulk.listing(params)
    t1 = time.perf_counter()
    bulk.listing(params)
    t2 = time.perf_counter()
    return {
        "files": len(listed),
        "first_listing_seconds": round(t1 - t0, 2),
        "cached_listing_seconds": round(t2 - t1, 4),
        "cached_mb": round(sum(f["Size"] for f in listed) / 2**20, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="300x3", help="STOCKSxYEARS (default 300x3)")
    parser.add_argument("--market-version", type=int, default=2, choices=(1, 2))
    args = parser.parse_args()
    stocks, years = (int(x) for x in args.size.split("x"))
    start = date(END.year - years + 1, 1, 1)
    t0 = time.perf_counter()
    config = SynthConfig(
        seed=7, stocks=stocks, start=start, end=END, market_version=args.market_version
    )
    market = generate_market(config)
    generate_s = time.perf_counter() - t0
    paging = _run(market, start, bulk=False)
    bulk = _run(market, start, bulk=True)
    out = {
        "benchmark": "bench_backfill",
        "plan": PLAN.value,
        "size": args.size,
        "market_version": args.market_version,
        "market": f"{start}..{END}",
        "generate_seconds": round(generate_s, 1),
        "baseline_paging": paging,
        "bulk": bulk,
        "requests_ratio_paging_over_bulk": round(paging["requests"] / bulk["requests"], 1),
        "unpaced_seconds_ratio_bulk_over_paging": round(
            bulk["unpaced_seconds"] / paging["unpaced_seconds"], 2
        ),
        "full_size_estimate": _full_size_estimate(paging),
        "server_bars_listing": _listing(market),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "python": platform.python_version(),
        "tail_month": f"{END:%Y-%m} (paged: the month of the market's last day)",
        "calendar_ahead_until": str(published_through(END)),
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
