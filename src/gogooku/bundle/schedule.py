"""A minimal daily scheduler for the prediction job: run a command at a wall-clock time.

``python -m gogooku.bundle.schedule --at 18:30 --tz Asia/Tokyo -- gogooku update --bundle NAME …``
sleeps until the next ``--at`` in ``--tz`` on a weekday (Monday–Friday; a market holiday's run
is a no-op of the idempotent ``update``), runs the command, logs its exit status and waits for
the next day: a failed run is retried the next day or by hand, never in a loop. ``--now`` runs
the command once at start as well (a container that was down at the scheduled time catches up).
It is the compose file's scheduler (``deploy/compose.yaml``): no cron daemon and no extra
package in the image; a host with systemd uses the timer of ``deploy/systemd`` instead.

Next run: the smallest ``t > now`` with ``t.time() == at`` in ``tz`` and ``t.weekday() < 5``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

log = logging.getLogger("gogooku.schedule")

WEEKDAYS = frozenset(range(5))


def next_run(now: dt.datetime, at: dt.time, tz: ZoneInfo) -> dt.datetime:
    """The first weekday ``at`` (local time in ``tz``) strictly after the aware ``now``."""
    local = now.astimezone(tz)
    day = local.date()
    while True:
        candidate = dt.datetime.combine(day, at, tzinfo=tz)
        if candidate > local and candidate.weekday() in WEEKDAYS:
            return candidate
        day += dt.timedelta(days=1)


def parse_at(value: str) -> dt.time:
    """``HH:MM`` → a time; anything else is an argparse error naming the value."""
    try:
        return dt.time.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--at {value!r}: expected HH:MM") from None


def parse_tz(value: str) -> ZoneInfo:
    """An IANA zone name → its ZoneInfo; an unknown name is an argparse error naming it."""
    try:
        return ZoneInfo(value)
    except (ValueError, ZoneInfoNotFoundError):
        raise argparse.ArgumentTypeError(f"--tz {value!r}: not a known time zone") from None


def run_once(command: Sequence[str]) -> int:
    """Run ``command``, log and return its exit status (a missing program is status 127)."""
    log.info("running %s", " ".join(command))
    try:
        code = subprocess.run(list(command), check=False).returncode
    except OSError as exc:
        log.error("cannot run %s: %s", command[0], exc)
        return 127
    (log.info if code == 0 else log.error)("exit status %d", code)
    return code


@dataclass(frozen=True)
class Schedule:
    at: dt.time
    tz: ZoneInfo
    now: bool  # also run once at start
    command: list[str]


def parse_args(argv: Sequence[str] | None = None) -> Schedule:
    """The command line ``[--at HH:MM] [--tz ZONE] [--now] -- COMMAND ARGS…``."""
    parser = argparse.ArgumentParser(
        prog="python -m gogooku.bundle.schedule",
        description="Run COMMAND every weekday at --at in --tz (the daily gogooku update).",
    )
    parser.add_argument("--at", type=parse_at, default=dt.time(18, 30), help="HH:MM (18:30)")
    parser.add_argument("--tz", type=parse_tz, default=ZoneInfo("Asia/Tokyo"), help="time zone")
    parser.add_argument("--now", action="store_true", help="also run once at start")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND ARGS…")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command after --")
    return Schedule(args.at, args.tz, args.now, command)


def main(argv: Sequence[str] | None = None) -> None:
    schedule = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if schedule.now:
        run_once(schedule.command)
    while True:
        when = next_run(dt.datetime.now(dt.UTC), schedule.at, schedule.tz)
        log.info("next run at %s", when.isoformat())
        while (left := (when - dt.datetime.now(dt.UTC)).total_seconds()) > 0:
            time.sleep(min(left, 3600.0))  # short naps: a suspended host wakes up on time
        run_once(schedule.command)


if __name__ == "__main__":
    main()
