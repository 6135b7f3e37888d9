"""``gogooku synth``: serve the synthetic market as a J-Quants-V2-compatible HTTP service."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Annotated

import typer

from gogooku.settings import Plan

log = logging.getLogger(__name__)

synth_app = typer.Typer(
    help="The synthetic J-Quants V2 market (for running everything without an API key).",
    no_args_is_help=True,
)

DATE_FORMATS = ["%Y-%m-%d"]
START = dt.datetime(2019, 1, 1)
END = dt.datetime(2023, 12, 31)


@synth_app.command("serve")
def serve_command(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8765,
    seed: Annotated[int, typer.Option(help="Market seed (the market is a function of it).")] = 7,
    stocks: Annotated[int, typer.Option(help="Number of stocks in the universe.")] = 300,
    start: Annotated[
        dt.datetime,
        typer.Option(formats=DATE_FORMATS, show_default="2019-01-01", help="First day."),
    ] = START,
    end: Annotated[
        dt.datetime,
        typer.Option(
            formats=DATE_FORMATS,
            show_default="2023-12-31",
            help="Last day; its last trading day is the market's 'today' (plan windows end there).",
        ),
    ] = END,
    plan: Annotated[Plan, typer.Option(case_sensitive=False, help="Plan to emulate.")] = (
        Plan.PREMIUM
    ),
    page_size: Annotated[int, typer.Option(help="Rows per page before a pagination_key.")] = 5000,
    api_key: Annotated[str, typer.Option(help="Value the x-api-key header must carry.")] = (
        "synthetic"
    ),
    no_auth: Annotated[bool, typer.Option("--no-auth", help="Accept requests without a key.")] = (
        False
    ),
    rate_limit: Annotated[
        bool, typer.Option(help="Enforce the plan's requests per minute.")
    ] = True,
    error_rate: Annotated[float, typer.Option(help="Fault: share of requests answered 500.")] = 0.0,
    drop_rate: Annotated[float, typer.Option(help="Fault: share of connections dropped.")] = 0.0,
    delay_s: Annotated[float, typer.Option(help="Fault: seconds added to every request.")] = 0.0,
    fault_seed: Annotated[int, typer.Option(help="Seed of the fault draws.")] = 0,
) -> None:
    """Generate the market and serve it at http://HOST:PORT/v2 until interrupted."""
    import uvicorn

    from gogooku.synth.api import create_app
    from gogooku.synth.config import SynthConfig
    from gogooku.synth.faults import Faults
    from gogooku.synth.market import generate_market

    faults = None
    if error_rate or drop_rate or delay_s:
        faults = Faults(
            error_rate=error_rate, drop_rate=drop_rate, delay_s=delay_s, seed=fault_seed
        )
    config = SynthConfig(seed=seed, stocks=stocks, start=start.date(), end=end.date())
    log.info("generating the synthetic market %s", config)
    market = generate_market(config)
    app = create_app(
        market,
        api_key=None if no_auth else api_key,
        plan=plan,
        page_size=page_size,
        rate_limit=rate_limit,
        faults=faults,
    )
    log.info(
        "serving %d datasets at http://%s:%d/v2 (plan %s)", len(market.tables), host, port, plan
    )
    uvicorn.run(app, host=host, port=port, log_level="warning")
