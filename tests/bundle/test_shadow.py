"""Shadow versions and the promotion rule, through the CLI, on stored predictions of the tiny
market: the shadow's scores are the oracle (the realised 5-day label), the promoted version's a
noisy oracle, so the shadow wins the paired test; swapped, it does not."""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from gogooku.bundle.livestore import LiveStore
from gogooku.bundle.scoring import create_bundle
from gogooku.bundle.shadow import decide
from gogooku.bundle.store import BundleError, current_version, read_audit, shadow_version
from gogooku.cli import app

from ..support.live import oracle_labels, write_scores


def _cli(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == code, result.output
    return result.output


@pytest.fixture
def two_versions(world_home):
    """lg@v0001 promoted (noisy oracle scores), lg@v0002 (oracle scores) with stored days
    2020-09-01..2020-12-30 and nothing monitored yet."""
    create_bundle("lg", "lg")
    create_bundle("ln", "lg")
    _cli("promote", "lg", "v0001")
    oracle = oracle_labels(world_home, date(2020, 9, 1))
    noise = np.random.default_rng(4).normal(0, 0.05, oracle.height)
    write_scores("v0001", oracle.with_columns(pl.col("label") + noise))
    write_scores("v0002", oracle)
    return world_home


def test_shadow_pointer_cli_and_refusals(two_versions):
    assert "lg: shadow (none) -> v0002" in _cli("promote", "lg", "v0002", "--shadow")
    assert shadow_version("lg") == "v0002" and current_version("lg") == "v0001"
    listed = json.loads(_cli("bundle", "list", "--json"))
    assert [(r["version"], r["current"], r["shadow"]) for r in listed] == [
        ("v0001", True, False),
        ("v0002", False, True),
    ]
    assert "is the promoted version" in _cli("promote", "lg", "v0001", "--shadow", code=1)
    assert "VERSION" in _cli("promote", "lg", code=2)
    assert "use one of" in _cli("promote", "lg", "--shadow", "--if-better", code=2)
    # the rule needs matured days of both: nothing monitored yet → kept, and audited
    out = _cli("promote", "lg", "--if-better", "--days", "20")
    assert "kept v0001 (only 0 common matured days, 20 needed" in out
    assert "lg: shadow v0002 removed" in _cli("promote", "lg", "--clear-shadow")
    assert "no shadow version to remove" in _cli("promote", "lg", "--clear-shadow", code=1)
    actions = [(e["action"], e["from"], e["to"]) for e in read_audit("lg")][2:]
    assert actions == [
        ("promote", None, "v0001"),
        ("shadow", None, "v0002"),
        ("promote-rule", "v0001", "v0001"),
        ("unshadow", "v0002", None),
    ]
    assert read_audit("lg")[4]["detail"]["common_days"] == 0


def test_if_better_promotes_a_better_shadow_and_keeps_a_worse_one(two_versions):
    _cli("promote", "lg", "v0002", "--shadow")
    _cli("monitor", "lg")
    out = _cli("promote", "lg", "--if-better", "--days", "20")
    assert "lg: promoted v0002 (shadow beats current" in out
    assert current_version("lg") == "v0002" and shadow_version("lg") is None
    rule = [e for e in read_audit("lg") if e["action"] == "promote-rule"][-1]
    d = rule["detail"]
    assert d["promoted"] and d["common_days"] == 20 and d["p"] < 0.05
    assert d["mean_shadow"] == pytest.approx(1.0) and d["mean_diff"] > 0
    pairs = LiveStore().live_series("lg", "v0001").drop_nulls("rankic").tail(20)["rankic"].mean()
    assert d["mean_current"] == pytest.approx(pairs)
    assert [e["action"] for e in read_audit("lg")][-2:] == ["promote", "unshadow"]

    _cli("promote", "lg", "v0001", "--shadow")  # the worse version as shadow: kept
    out = _cli("promote", "lg", "--if-better", "--days", "20")
    assert "lg: kept v0002 (not better: mean daily RankIC difference -" in out
    assert current_version("lg") == "v0002" and shadow_version("lg") == "v0001"
    last = read_audit("lg")[-1]
    assert last["action"] == "promote-rule" and last["detail"]["promoted"] is False
    assert last["detail"]["mean_diff"] < 0 and last["from"] == last["to"] == "v0002"
    with pytest.raises(BundleError, match="at least 2 days"):
        decide("lg", 1)
