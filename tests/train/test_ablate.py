"""``gogooku ablate``: the variants of each network kind, the validation-only decision (hand
computed and through the real CLI on the tiny dataset), and its refusals."""

from __future__ import annotations

import json
import math
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from gogooku.cli import app
from gogooku.config import CONFIGS_DIR, ConfigError
from gogooku.evaluate.evaluator import load_targets
from gogooku.models.apex import ApexConfig
from gogooku.models.atft_gat_fan import AtftConfig
from gogooku.models.master import MasterConfig
from gogooku.research.ablation import (
    ablation_record,
    fit_dirs,
    validation_days,
    validation_decision,
    variant_config,
    variants,
)
from gogooku.research.trials import merged, read_trials, trial_config
from gogooku.runs import load_run, read_predictions
from gogooku.settings import get_settings
from gogooku.train.config import load_run_config

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]


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


def test_trials_file_is_read_merged_and_validated(tmp_path):
    path = tmp_path / "trials.toml"
    path.write_text(
        "[mse.loss]\nmse = 0.5\n\n[dmn.loss]\ndmn = 0.1\n[dmn.data.loader]\n"
        "contiguous_days = true\ndays_per_batch = 4\n"
    )
    trials = read_trials(path, {"full", "no_gat"})
    assert trials == {
        "mse": {"loss": {"mse": 0.5}},
        "dmn": {"loss": {"dmn": 0.1}, "data": {"loader": {"contiguous_days": True, "days_per_batch": 4}}},
    }  # fmt: skip
    base = {"data": {"loader": {"window": 10, "features": ["a"]}, "splits": {"x": 1}}, "k": 1}
    out = merged(base, {"data": {"loader": {"features": ["b"], "seed": 3}}})
    assert out == {
        "data": {"loader": {"window": 10, "features": ["b"], "seed": 3}, "splits": {"x": 1}},
        "k": 1,
    }
    assert base["data"]["loader"]["features"] == ["a"]  # the base is not changed
    cfg = load_run_config(None, kind="atft")
    dmn = trial_config(cfg, "dmn", trials["dmn"], path)
    assert (dmn.loss.dmn, dmn.data.loader.contiguous_days, dmn.data.loader.days_per_batch) == (
        0.1, True, 4
    )  # fmt: skip
    assert dmn.model == cfg.model and dmn.train == cfg.train and dmn.loss.rank == cfg.loss.rank
    with pytest.raises(ConfigError, match=r"\[typo\]: loss.msee: unknown key"):
        trial_config(cfg, "typo", {"loss": {"msee": 1.0}}, path)
    with pytest.raises(ConfigError, match=r"\[lonely\]: .*contiguous_days"):
        trial_config(cfg, "lonely", {"loss": {"dmn": 0.1}}, path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no trial"),
        ("mse = 0.5\n", "a trial is a table of run-config sections"),
        ("[no_gat.model]\ngat = false\n", "trial name 'no_gat'"),
        ("[Big.loss]\nmse = 1.0\n", "trial name 'Big'"),
        ("[full.loss]\nmse = 1.0\n", "trial name 'full'"),
    ],
)
def test_trials_file_refusals_name_the_file_and_trial(tmp_path, text, message):
    path = tmp_path / "trials.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as err:
        read_trials(path, {"full", "no_gat"})
    assert str(path) in str(err.value)


def test_ablate_trials_walk_forward_beside_full_and_adopt_only_a_validation_gain(
    apex_home, apex_config_file, tmp_path
):
    trials = tmp_path / "trials.toml"
    trials.write_text("[mse.loss]\nmse = 0.5\n")
    result = invoke("--dataset", "tiny", "--config", apex_config_file, "--folds", "last:2",
                    "--threads", 1, "--no-switches", "--trials", trials,
                    "--set", "evaluate.bootstrap=20")  # fmt: skip
    assert result.exit_code == 0, result.output
    record = json.loads(next((apex_home / "runs").glob("ablate-*.json")).read_text())
    assert record["variants"] == {} and set(record["trials"]) == {"mse"}
    assert record["tried"] == {"mse": {"loss": {"mse": 0.5}}}
    runs = {p.name.rsplit("-", 1)[-1]: p for p in (apex_home / "runs").iterdir() if p.is_dir()}
    assert set(runs) == {"full", "mse"}
    assert load_run_config(runs["mse"] / "config.toml").loss.mse == 0.5
    assert load_run_config(runs["full"] / "config.toml").loss.mse == 0.0
    labels, _ = load_targets(get_settings(), "tiny", "raw")
    days = {n: validation_days(fit_dirs(r), labels, 5) for n, r in runs.items()}
    both = days["mse"].join(days["full"], on=["fit", "Date"], suffix="_full")
    expected = float((both["rank_ic"] - both["rank_ic_full"]).mean())
    valid = record["trials"]["mse"]["valid"]
    assert valid["rank_ic_diff"]["estimate"] == pytest.approx(expected)  # trial − full
    assert valid["trial_rank_ic"] == pytest.approx(float(both["rank_ic"].mean()))
    assert valid["keep"] is (expected > 0)
    assert record["trials"]["mse"]["test"]["n_days"] > 0
    assert "trials of apex" in result.output
    decision = "adopt" if expected > 0 else "leave off"
    assert decision in result.output


def test_ablate_no_switches_needs_trials(home):
    result = invoke("--dataset", "tiny", "--model", "apex", "--no-switches")
    assert result.exit_code == 1 and "nothing to run without --trials" in result.output


@pytest.mark.parametrize(
    "definition", sorted((ROOT / "studies" / "trials").glob("*.toml")), ids=lambda p: p.name
)
def test_every_shipped_trials_file_is_valid_against_its_config(definition):
    cfg = load_run_config(CONFIGS_DIR / definition.name)  # studies/trials/<kind>.toml
    trials = read_trials(definition, {"full", *variants(cfg.model)})
    assert trials
    for name, update in trials.items():
        assert trial_config(cfg, name, update, definition) != cfg, name
