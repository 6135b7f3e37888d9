"""``gogooku ablate``: the variants of each network kind, the validation-only decision (hand
computed and through the real CLI on the tiny dataset), and its refusals."""

from __future__ import annotations

import json
import math

import polars as pl
import pytest
from typer.testing import CliRunner

from gogooku.cli import app
from gogooku.evaluate.evaluator import load_targets
from gogooku.models.apex import ApexConfig
from gogooku.models.atft_gat_fan import AtftConfig
from gogooku.models.master import MasterConfig
from gogooku.research.ablation import (
    ablation_record,
    fit_dirs,
    validation_decision,
    variant_config,
    variants,
)
from gogooku.runs import load_run, read_predictions
from gogooku.settings import get_settings
from gogooku.train.config import load_run_config

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, ["ablate", *(str(a) for a in args)])


def test_variants_turn_off_only_the_switches_that_are_on():
    atft = AtftConfig(linear_skip_init="ridge")
    assert variants(atft) == {
        "full": (None, {}),
        "no_gat": ("gat", {"gat": False}),
        "no_fan": ("norm", {"norm": "instance"}),
        "no_attention": ("attention", {"attention": False}),
        "no_linear_skip": ("linear_skip", {"linear_skip": False, "linear_skip_init": "random"}),
    }
    assert list(variants(AtftConfig(norm="san", gat=False, linear_skip=False))) == [
        "full",
        "no_san",
        "no_attention",
    ]
    assert list(variants(AtftConfig(norm="instance", attention=False, linear_skip=False))) == [
        "full",
        "no_gat",
    ]
    assert list(variants(ApexConfig(attention_layers=0))) == ["full", "no_market_gate"]
    assert list(variants(ApexConfig(linear_skip=True))) == [
        "full",
        "no_market_gate",
        "no_attention",
        "no_linear_skip",
    ]
    assert list(variants(MasterConfig())) == [
        "full",
        "no_market_gate",
        "no_inter_stock",
        "no_temporal_aggregation",
    ]
    cfg = load_run_config(None, ["model.linear_skip_init=ridge"], kind="atft")
    off = variant_config(cfg, variants(cfg.model)["no_linear_skip"][1])
    assert (off.model.linear_skip, off.model.linear_skip_init) == (False, "random")
    assert off.model.gat and off.data == cfg.data and off.train == cfg.train


def _days(fit: str, values: list[float | None]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "fit": [fit] * len(values),
            "Date": pl.date_range(
                pl.date(2021, 1, 4), pl.date(2021, 1, 3 + len(values)), eager=True
            ),
            "rank_ic": values,
        },
        schema_overrides={"rank_ic": pl.Float64},
    )


def test_validation_decision_pairs_fit_days_and_keeps_only_a_positive_difference():
    full = pl.concat([_days("g000-s0", [0.10, 0.20, 0.30]), _days("g001-s0", [0.05, 0.15])])
    # g001's second day is missing from the variant: 4 common (fit, day) pairs
    variant = pl.concat([_days("g000-s0", [0.00, 0.10, 0.40]), _days("g001-s0", [0.05])])
    out = validation_decision(full, variant, horizon=1, replicates=200)
    assert out["n_days"] == 4
    assert out["full_rank_ic"] == pytest.approx((0.10 + 0.20 + 0.30 + 0.05) / 4)
    assert out["variant_rank_ic"] == pytest.approx((0.00 + 0.10 + 0.40 + 0.05) / 4)
    assert out["rank_ic_diff"]["estimate"] == pytest.approx((0.1 + 0.1 - 0.1 + 0.0) / 4)
    assert out["keep"] is True
    low, high = out["rank_ic_diff"]["low"], out["rank_ic_diff"]["high"]
    assert low <= out["rank_ic_diff"]["estimate"] <= high
    assert out["clear"] is (low > 0)
    # the variant better on validation: the component is off
    worse = validation_decision(variant, full, horizon=1, replicates=200)
    assert worse["keep"] is False and worse["rank_ic_diff"]["estimate"] < 0


def test_ablate_walks_every_variant_forward_and_decides_on_validation(apex_home, apex_config_file):
    result = invoke("--dataset", "tiny", "--config", apex_config_file, "--folds", "last:2",
                    "--threads", 1, "--set", "evaluate.bootstrap=20")  # fmt: skip
    assert result.exit_code == 0, result.output
    record_path = next((apex_home / "runs").glob("ablate-*.json"))
    assert record_path.with_suffix(".html").is_file()
    record = json.loads(record_path.read_text())
    assert record["kind"] == "apex" and record["folds"] == [1, 2] and record["walk_forward"]
    assert record["horizon"] == 5 and set(record["variants"]) == {"no_market_gate", "no_attention"}
    runs = {p.name.rsplit("-", 1)[-1]: p for p in (apex_home / "runs").iterdir() if p.is_dir()}
    assert set(runs) == {"full", "no_market_gate", "no_attention"}
    toggles = {}
    for name, run_dir in runs.items():
        assert list(fit_dirs(run_dir)) == ["g001-s0", "g002-s0"]
        assert load_run(run_dir).params["walkforward"]["folds"] == [1, 2]
        model = load_run_config(run_dir / "config.toml").model
        toggles[name] = (model.market_gate, model.attention_layers)
    assert toggles == {"full": (True, 1), "no_market_gate": (False, 1), "no_attention": (True, 0)}
    for name, entry in record["variants"].items():
        assert entry["valid"]["keep"] is (entry["valid"]["rank_ic_diff"]["estimate"] > 0)
        assert 30 <= entry["valid"]["n_days"] <= 40  # 20 validation days in each of 2 fits
        assert entry["test"]["n_days"] > 0 and entry["run"] == runs[name].name
    assert "no_market_gate" in result.output and "Δ valid RankIC" in result.output

    # poisoned labels on every test day leave the decisions unchanged; on validation days not
    labels, _ = load_targets(get_settings(), "tiny", "raw")
    valid_days = pl.concat(
        [
            read_predictions(f).filter(pl.col("split") == "valid").select("Date")
            for f in fit_dirs(runs["full"]).values()
        ]
    )["Date"].unique()
    # a fold's test days may be a later fit's validation days: poison the others
    test_days = read_predictions(runs["full"])["Date"].unique()
    test_days = test_days.filter(~test_days.is_in(valid_days.implode()))
    components = {"full": None, "no_market_gate": "market_gate", "no_attention": "attention"}

    def poisoned(days: pl.Series) -> pl.DataFrame:
        noise = (pl.col("Code").hash(7) % 1000).cast(pl.Float64)
        return labels.with_columns(
            pl.when(pl.col("Date").is_in(days.implode())).then(noise).otherwise(pl.col(c)).alias(c)
            for c in ("target_1d", "target_5d", "target_20d")
        )

    assert test_days.len() >= 20
    again = ablation_record(runs, components, poisoned(test_days), 5, replicates=20)
    assert {n: v["valid"] for n, v in again["variants"].items()} == {
        n: v["valid"] for n, v in record["variants"].items()
    }
    moved = ablation_record(runs, components, poisoned(valid_days), 5, replicates=20)
    diffs = [v["valid"]["rank_ic_diff"]["estimate"] for v in moved["variants"].values()]
    old = [v["valid"]["rank_ic_diff"]["estimate"] for v in record["variants"].values()]
    assert all(not math.isclose(a, b) for a, b in zip(diffs, old, strict=True))


def test_ablate_refuses_a_kind_without_switches_and_mixed_modes(home, tmp_path, config_file):
    linear = tmp_path / "linear.toml"
    linear.write_text('[model]\nkind = "linear"\n')
    result = invoke("--dataset", "tiny", "--config", linear)
    assert result.exit_code == 1
    assert "model kind 'linear' has no switches to ablate; expected one of atft, apex, master" in (
        result.output
    )
    result = invoke("--dataset", "tiny", "--model", "lgbm")
    assert result.exit_code == 1 and "model kind 'lgbm' has no switches" in result.output
    result = invoke("--dataset", "tiny", "--config", config_file, "--model", "apex")
    assert result.exit_code == 1
    assert f"--model 'apex' but {config_file}'s [model] kind is 'atft'" in result.output
    result = invoke("--dataset", "tiny", "--config", config_file, "--fold", 0, "--folds", "all")
    assert result.exit_code == 1 and "--fold (one fold) or --folds (walk-forward)" in result.output
    assert not (home / "runs").exists() or not any((home / "runs").iterdir())


@pytest.mark.slow
def test_ablate_one_fold_trains_every_atft_variant_and_compares(home, config_file, tmp_path):
    one = tmp_path / "one.toml"
    one.write_text(config_file.read_text().replace("epochs = 2", "epochs = 1"))
    result = invoke("--dataset", "tiny", "--config", one, "--set", "evaluate.bootstrap=20")
    assert result.exit_code == 0, result.output
    runs = sorted(p for p in (home / "runs").iterdir() if p.is_dir())
    toggles = {}
    for p in runs:
        model = load_run_config(p / "config.toml").model
        toggles[p.name.rsplit("-", 1)[-1]] = (
            model.gat, model.norm == "fan", model.attention, model.linear_skip
        )  # fmt: skip
        assert load_run(p).params["fold"] == 2  # no --fold: the last
    assert toggles == {
        "full": (True, True, True, True),
        "no_gat": (False, True, True, True),
        "no_fan": (True, False, True, True),
        "no_attention": (True, True, False, True),
        "no_linear_skip": (True, True, True, False),
    }
    preds = [pl.read_parquet(p / "predictions.parquet")["pred_5d"] for p in runs]
    assert all(not a.equals(b) for i, a in enumerate(preds) for b in preds[i + 1 :])
    assert "test split" in result.output
    html = next((home / "runs").glob("ablate-*.html")).read_text()
    assert all(p.name in html for p in runs)
    record = json.loads(next((home / "runs").glob("ablate-*.json")).read_text())
    assert record["folds"] == [2] and not record["walk_forward"] and record["kind"] == "atft"
    assert record["switched_off"]["no_fan"] == {"norm": "instance"}
    for entry in record["variants"].values():
        assert 15 <= entry["valid"]["n_days"] <= 20  # fold 2's 20 validation days
        assert entry["valid"]["keep"] is (entry["valid"]["rank_ic_diff"]["estimate"] > 0)
