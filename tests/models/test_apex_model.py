"""APEX network: masking, permutation equivariance, the market gate, every config field, the
registry path and config checks."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import pytest
import torch
from pydantic import ValidationError

from gogooku.config import CONFIGS_DIR
from gogooku.models.apex import ApexConfig, ApexError, PruneConfig, build_apex
from gogooku.models.market_inputs import market_columns
from gogooku.models.registry import get_kind
from gogooku.train.apex import apex_variant
from gogooku.train.config import RunConfig, load_run_config

from .conftest import APEX_HORIZONS, F, M, N, make_apex_batch, small_apex_config, small_apex_model


def test_output_shapes_and_quantile_order():
    out = small_apex_model()(make_apex_batch())
    assert out.point.shape == (2, N, len(APEX_HORIZONS))
    assert out.quantiles.shape == (2, N, len(APEX_HORIZONS), 3)
    assert (out.quantiles.diff(dim=-1) >= 0).all()
    assert out.branches["attention"].shape == (2, N, 8)
    assert torch.isfinite(out.point).all()


def test_a_masked_stock_does_not_change_listed_scores():
    model = small_apex_model()
    batch = make_apex_batch()
    listed = batch.mask[0]
    ref = model(batch).point
    x = batch.x.clone()
    x[:, :, 0] = torch.randn_like(x[:, :, 0]) * 50  # stock 0: never listed in the window
    static = batch.static.clone()
    static[:, 0] = 3
    got = model(replace(batch, x=x, static=static)).point
    assert torch.allclose(got[:, listed], ref[:, listed], atol=1e-6)


def test_a_stock_listed_earlier_in_the_window_counts_in_the_market_context():
    """Stock 2 is not listed on the day but on the earlier window days: its raw market values
    enter those days' market means (the control that the masking test can fail)."""
    model = small_apex_model()
    batch = make_apex_batch()
    listed = batch.mask[0]
    x = batch.x.clone()
    x[:, :-1, 2, F:] += 1e3
    got = model(replace(batch, x=x)).point
    assert not torch.allclose(got[:, listed], model(batch).point[:, listed], atol=1e-6)


def test_permuting_stocks_permutes_scores():
    model = small_apex_model()
    batch = make_apex_batch()
    perm = torch.randperm(N, generator=torch.Generator().manual_seed(1))
    permuted = replace(
        batch,
        x=batch.x[:, :, perm],
        x_mask=batch.x_mask[:, :, perm],
        mask=batch.mask[:, perm],
        y=batch.y[:, perm],
        y_mask=batch.y_mask[:, perm],
        static=batch.static[:, perm],
    )
    ref, got = model(batch).point, model(permuted).point
    listed = batch.mask[:, perm]
    assert torch.allclose(got[listed], ref[:, perm][listed], atol=1e-5)


def test_market_columns_change_the_scores_only_through_the_gate():
    batch = make_apex_batch()
    shifted = batch.x.clone()
    shifted[..., F:] *= 1.5
    gated = small_apex_model()
    assert not torch.allclose(gated(batch).point, gated(replace(batch, x=shifted)).point)
    plain = small_apex_model(n_market=0, market_gate=False)
    stock_only = replace(batch, x=batch.x[..., :F])
    out = plain(stock_only).point
    assert torch.isfinite(out).all()
    with pytest.raises(ApexError, match="market columns"):
        plain(batch)


def test_the_gate_weights_features_by_the_market_context():
    model = small_apex_model()
    batch = make_apex_batch()
    c = model._market_context(batch.x[:, -5:, :, F:], batch.x_mask[:, -5:])
    alpha = F * torch.softmax(model.gate(c), dim=-1)
    assert alpha.shape == (2, F)
    assert torch.allclose(alpha.sum(-1), torch.full((2,), float(F)))


CHANGES = {
    "window": 3,
    "hidden_size": 12,
    "encoder_layers": 3,
    "attention_layers": 0,
    "attention_heads": 4,
    "dropout": 0.5,
    "market_gate": False,
    "static_embedding_dim": 2,
    "quantiles": (0.25, 0.75),
    "linear_skip": True,
}


@pytest.mark.parametrize("field", sorted(CHANGES))
def test_every_model_field_changes_the_built_model(field):
    batch = make_apex_batch()
    ref_model = small_apex_model()
    changed = small_apex_model(
        **{field: CHANGES[field]}, n_market=0 if field == "market_gate" else M
    )
    batch_changed = replace(batch, x=batch.x[..., :F]) if field == "market_gate" else batch
    if field == "dropout":
        ref_model.train(), changed.train()
    torch.manual_seed(3)
    ref = ref_model(batch)
    torch.manual_seed(3)
    got = changed(batch_changed)
    ref, got = (torch.cat([o.point.flatten(), o.quantiles.flatten()]) for o in (ref, got))
    assert not (ref.shape == got.shape and torch.allclose(ref, got)), field


def test_every_config_field_is_covered():
    others = {"kind", "market_blocks", "prune", "linear_skip_init", "linear_skip_alpha"}
    assert set(CHANGES) | others == set(ApexConfig.model_fields)
    cache = SimpleNamespace(feature_blocks=["returns", "market", "flows", "market", "sector"])
    assert market_columns(cache, ["market"]).tolist() == [1, 3]
    assert market_columns(cache, ["market", "flows"]).tolist() == [1, 2, 3]
    assert apex_variant(small_apex_config()) == "enhanced"
    assert apex_variant(small_apex_config(prune=PruneConfig(keep=0.5))) == "pruned"


def test_the_apex_kind_builds_apex_only_without_the_gate():
    with pytest.raises(ApexError, match="apex_trainer"):
        get_kind("apex").build(small_apex_config(), F, APEX_HORIZONS, (4, 4))
    model = get_kind("apex").build(small_apex_config(market_gate=False), F, APEX_HORIZONS, (4, 4))
    assert model(replace(make_apex_batch(), x=make_apex_batch().x[..., :F])).point.shape == (
        2,
        N,
        3,
    )


def test_config_checks():
    with pytest.raises(ValidationError, match="not divisible"):
        ApexConfig(hidden_size=10, attention_heads=4)
    with pytest.raises(ValidationError, match="market_blocks"):
        ApexConfig(market_blocks=[])
    with pytest.raises(ValidationError, match=r"(?i)extra"):
        ApexConfig(prune={"keep": 0.3, "bogus": 1})
    with pytest.raises(ValidationError, match=r"model.window 20 > data.loader.window 10"):
        RunConfig.model_validate(
            {"model": {"kind": "apex", "window": 20}, "data": {"loader": {"window": 10}}}
        )
    default = RunConfig.model_validate({"model": {"kind": "apex"}})
    assert default.model.window <= default.data.loader.window


def test_a_day_without_listed_stocks_stays_finite():
    batch = make_apex_batch()
    mask = batch.mask.clone()
    mask[1] = False
    out = small_apex_model()(replace(batch, mask=mask, y_mask=mask.unsqueeze(-1) & batch.y_mask))
    assert torch.isfinite(out.point).all()


@pytest.mark.parametrize("name", ["apex.toml", "apex_pruned.toml"])
def test_shipped_configs_load_and_build(name):
    cfg = load_run_config(CONFIGS_DIR / name)
    assert cfg.model.kind == "apex" and cfg.model.window <= cfg.data.loader.window
    assert (cfg.model.prune is not None) == (name == "apex_pruned.toml")
    assert cfg.loss.top_rank > 0
    model = build_apex(cfg.model.model_copy(update={"window": 5}), F, APEX_HORIZONS, (4, 4), M)
    assert model.eval()(make_apex_batch()).point.shape == (2, N, len(APEX_HORIZONS))


def test_linear_skip_adds_a_linear_map_of_the_last_day_before_the_gate():
    """With the output layer zeroed the point forecast is x_W β + b of the last day's cleaned
    features (NaN → 0, unlisted → 0), whatever the market gate does; quantiles are untouched."""
    batch = make_apex_batch()
    x = batch.x.clone()
    x[1, -1, 3, 2] = float("nan")
    batch = replace(batch, x=x)
    model = small_apex_model(linear_skip=True)
    plain = small_apex_model(linear_skip=False)
    for m in (model, plain):
        with torch.no_grad():
            m.out.weight.zero_()
            m.out.bias.zero_()
    last = torch.nan_to_num(x[:, -1, :, :F]) * batch.x_mask[:, -1].unsqueeze(-1)
    torch.testing.assert_close(model(batch).point, model.skip(last))
    assert torch.equal(plain(batch).point, torch.zeros_like(model(batch).point))
    assert not hasattr(plain, "skip")


def test_ridge_start_builds_a_frozen_zero_skip_and_a_zero_point_output():
    model = small_apex_model(linear_skip=True, linear_skip_init="ridge")
    assert not any(p.requires_grad for p in model.skip.parameters())
    out = model(make_apex_batch())
    assert torch.equal(out.point, torch.zeros_like(out.point))
    assert out.quantiles.abs().sum() > 0
    with pytest.raises(ValidationError, match="linear_skip = true"):
        ApexConfig(linear_skip_init="ridge")
