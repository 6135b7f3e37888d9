"""``bench/reliability.py`` (issue #22's reliability figures): its outcome classes, its tables,
and a few bad-input rows that need no market run through the real CLI, so the script cannot rot."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("bench_reliability", ROOT / "bench/reliability.py")
reliability = importlib.util.module_from_spec(spec)
sys.modules["bench_reliability"] = reliability
spec.loader.exec_module(reliability)


def test_outcomes_are_classified_by_exit_code_traceback_and_named_thing():
    names = ("2020-02-30",)
    assert reliability.classify(1, "fetch failed: bad date '2020-02-30'", names) == "clear_error"
    assert reliability.classify(2, "Error: invalid value 2020-02-30", names) == "clear_error"
    assert reliability.classify(1, "fetch failed: bad date", names) == "unclear_error"
    assert reliability.classify(1, "Traceback (most recent ...)\n2020-02-30", names) == "traceback"
    assert reliability.classify(0, "2020-02-30", names) == "silent_acceptance"
    assert reliability.classify(None, "serving on ...", names) == "silent_acceptance"


def test_tables_are_well_formed():
    rows = reliability.BAD_INPUTS + reliability.SECURITY_PROBES
    assert len({r.id for r in rows}) == len(rows)
    assert all(c.prep is None or c.prep in reliability.PREPS for c in reliability.BAD_INPUTS)
    assert all(c.names for c in reliability.BAD_INPUTS)
    for probe in reliability.SECURITY_PROBES:
        assert (probe.custom in reliability.CUSTOM) if probe.custom else probe.expect
        assert probe.check is None or probe.check in reliability.CHECKS


def test_bad_dates_and_set_values_without_a_market_are_clear_errors():
    ids = "date-feb-30,date-end-before-start,config-set-no-equals"
    result = reliability.main(["--only", "bad", "--ids", ids])["bad_inputs"]
    assert result["n"] == 3
    assert result["failures"] == [], result["failures"]
    assert result["clear_error"] == 3
