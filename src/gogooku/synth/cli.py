"""``gogooku synth``: serve the synthetic market as a J-Quants-V2-compatible HTTP service."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Annotated, Literal

import typer

from gogooku.jquants.publication import JST
from gogooku.settings import Plan, parse_addons

log = logging.getLogger(__name__)

synth_app = typer.Typer(
    help="The synthetic J-Quants V2 market (for running everything without an API key).",
    no_args_is_help=True,
)

DATE_FORMATS = ["%Y-%m-%d"]
FirstFault = Literal["error", "drop", "throttle", "truncate", "invalid_json", "slow"]
START = dt.datetime(2019, 1, 1)
END = dt.datetime(2023, 12, 31)


RATE = {"min": 0.0, "max": 1.0}


@synth_app.command("serve")
def serve_command(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8765,
    seed: Annotated[
        int, typer.Option(min=0, help="Market seed (the market is a function of it).")
    ] = 7,
    stocks: Annotated[int, typer.Option(min=20, help="Number of stocks in the universe.")] = 300,
    market_version: Annotated[
        int,
        typer.Option(
            "--market-version",
            min=1,
            max=2,
            help="2: with the nonlinear effects (docs/synthetic_market.md); 1: the linear market.",
        ),
    ] = 2,
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
    addons: Annotated[
        str,
        typer.Option(
            help="Comma-separated add-on contracts the key holds (minute, tdnet); '' for none."
        ),
    ] = "minute,tdnet",
    now: Annotated[
        dt.datetime | None,
        typer.Option(
            formats=["%Y-%m-%dT%H:%M"],
            help="Serve the market as it stood at this JST moment (YYYY-MM-DDTHH:MM): each record "
            "only once J-Quants would have published it (docs/synthetic_market.md). Default: "
            "every record up to the market's last day.",
        ),
    ] = None,
    page_size: Annotated[
        int, typer.Option(min=1, help="Rows per page before a pagination_key.")
    ] = 5000,
    api_key: Annotated[str, typer.Option(help="Value the x-api-key header must carry.")] = (
        "synthetic"
    ),
    no_auth: Annotated[bool, typer.Option("--no-auth", help="Accept requests without a key.")] = (
        False
    ),
    rate_limit: Annotated[
        bool, typer.Option(help="Enforce the plan's requests per minute.")
    ] = True,
    error_rate: Annotated[
        float, typer.Option(**RATE, help="Fault: share of requests answered 500.")
    ] = 0.0,
    drop_rate: Annotated[
        float, typer.Option(**RATE, help="Fault: share of connections dropped.")
    ] = 0.0,
    throttle_rate: Annotated[
        float, typer.Option(**RATE, help="Fault: share of requests answered 429.")
    ] = 0.0,
    truncate_rate: Annotated[
        float, typer.Option(**RATE, help="Fault: share of 200 answers with the JSON cut in half.")
    ] = 0.0,
    invalid_json_rate: Annotated[
        float, typer.Option(**RATE, help="Fault: share of 200 answers with an HTML page.")
    ] = 0.0,
    slow_rate: Annotated[
        float, typer.Option(**RATE, help="Fault: share of answers whose first byte is late.")
    ] = 0.0,
    slow_s: Annotated[
        float, typer.Option(min=0.0, help="Fault: how late a slow answer's first byte is (s).")
    ] = 5.0,
    fail_first_n: Annotated[
        int, typer.Option(min=0, help="Fault: the first N requests meet --first-fault.")
    ] = 0,
    first_fault: Annotated[
        FirstFault, typer.Option(help="Fault met by the first --fail-first-n requests.")
    ] = "error",
    block_after: Annotated[
        int,
        typer.Option(
            min=0,
            help="Fault: the Nth 429 within 60 s blocks every request for --block-s "
            "(J-Quants' block after heavy excess); 0: never.",
        ),
    ] = 0,
    block_s: Annotated[
        float, typer.Option(min=0.0, help="Fault: how long a block lasts (s).")
    ] = 300.0,
    retry_after: Annotated[
        bool,
        typer.Option(help="Send Retry-After with every 429 (J-Quants sends none)."),
    ] = False,
    delay_s: Annotated[
        float, typer.Option(min=0.0, help="Fault: seconds added to every request.")
    ] = 0.0,
    fault_seed: Annotated[int, typer.Option(help="Seed of the fault draws.")] = 0,
) -> None:
    """Generate the market and serve it at http://HOST:PORT/v2 until interrupted.

    Rates are shares of requests in [0, 1]; the 500, drop, 429, truncate and HTML rates add up to at most 1 (one draw per request decides among them). docs/synthetic_market.md describes each fault.
    """
    import uvicorn

    from gogooku.synth.api import create_app
    from gogooku.synth.config import SynthConfig
    from gogooku.synth.faults import Faults
    from gogooku.synth.market import generate_market

    try:
        held = parse_addons(addons)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--addons") from None
    faults = Faults(
        error_rate=error_rate,
        drop_rate=drop_rate,
        throttle_rate=throttle_rate,
        truncate_rate=truncate_rate,
        invalid_json_rate=invalid_json_rate,
        slow_rate=slow_rate,
        slow_s=slow_s,
        fail_first_n=fail_first_n,
        first_fault=first_fault,
        block_after=block_after,
        block_s=block_s,
        retry_after=retry_after,
        delay_s=delay_s,
        seed=fault_seed,
    )
    config = SynthConfig(
        seed=seed,
        stocks=stocks,
        start=start.date(),
        end=end.date(),
        market_version=market_version,
    )
    log.info("generating the synthetic market %s", config)
    market = generate_market(config)
    app = create_app(
        market,
        api_key=None if no_auth else api_key,
        plan=plan,
        page_size=page_size,
        rate_limit=rate_limit,
        faults=faults,
        addons=held,
        now=None if now is None else (lambda: now.replace(tzinfo=JST)),
    )
    log.info(
        "serving %d datasets at http://%s:%d/v2 (plan %s)", len(market.tables), host, port, plan
    )
    uvicorn.run(app, host=host, port=port, log_level="warning")
