"""MASTER network: shapes, permutation equivariance over stocks, masking, the market gate (hand
computed, its temperature), the switches, the registry path and config checks."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch
from pydantic import ValidationError

from gogooku.config import CONFIGS_DIR
from gogooku.models.master import MasterConfig, MasterError, build_master, sinusoidal_positions
from gogooku.models.registry import get_kind
from gogooku.train.config import RunConfig, load_run_config

from .conftest import APEX_HORIZONS, F, M, N, make_apex_batch


def small_master(seed: int = 0, n_market: int = M, **overrides) -> torch.nn.Module:
    base = {"window": 5, "hidden_size": 8, "intra_heads": 2, "inter_heads": 2, "dropout": 0.0}
    torch.manual_seed(seed)
    return build_master(MasterConfig(**{**base, **overrides}), F, APEX_HORIZONS, n_market).eval()


def permuted(batch, perm):
    return replace(
        batch,
        x=batch.x[:, :, perm],
        x_mask=batch.x_mask[:, :, perm],
        mask=batch.mask[:, perm],
        y=batch.y[:, perm],
        y_mask=batch.y_mask[:, perm],
        static=batch.static[:, perm],
    )


def test_output_shapes_and_quantile_order():
    out = small_master()(make_apex_batch())
    assert out.point.shape == (2, N, len(APEX_HORIZONS))
    assert out.quantiles.shape == (2, N, len(APEX_HORIZONS), 3)
    assert (out.quantiles.diff(dim=-1) >= 0).all()
    assert out.branches["inter"].shape == (2, N, 8)
    assert torch.isfinite(out.point).all() and torch.isfinite(out.quantiles).all()


@pytest.mark.parametrize("inter_stock", [True, False])
def test_permuting_stocks_permutes_scores(inter_stock):
    model = small_master(inter_stock=inter_stock)
    batch = make_apex_batch()
    perm = torch.randperm(N, generator=torch.Generator().manual_seed(1))
    ref, got = model(batch).point, model(permuted(batch, perm)).point
    listed = batch.mask[:, perm]
    torch.testing.assert_close(got[listed], ref[:, perm][listed], atol=1e-5, rtol=1e-5)


def test_an_unlisted_stock_does_not_change_listed_scores():
    """Stock 0 is listed on no window day: noise in its features and market columns leaves every
    listed stock's scores unchanged; noise on stock 2's earlier (listed) days changes them."""
    model = small_master()
    batch = make_apex_batch()
    listed = batch.mask
    ref = model(batch).point
    x = batch.x.clone()
    x[:, :, 0] = torch.randn_like(x[:, :, 0]) * 50
    torch.testing.assert_close(model(replace(batch, x=x)).point[listed], ref[listed])
    x = batch.x.clone()
    x[:, :-1, 2, :F] += 3.0
    assert not torch.allclose(model(replace(batch, x=x)).point[listed], ref[listed], atol=1e-4)


def test_removing_an_unlisted_stock_from_the_day_leaves_listed_scores_unchanged():
    """Stock 0 (listed on no window day) is masked as a key of the inter-stock attention at every
    step: the day without it scores every other stock the same."""
    model = small_master()
    batch = make_apex_batch()
    keep = torch.arange(1, N)
    ref = model(batch).point[:, 1:]
    got = model(permuted(batch, keep)).point
    listed = batch.mask[:, 1:]
    torch.testing.assert_close(got[listed], ref[listed], atol=1e-5, rtol=1e-5)


def test_a_stocks_unlisted_days_do_not_change_its_score():
    """Stock 1 is listed on the last day only: its values on the earlier days are not read."""
    model = small_master()
    batch = make_apex_batch()
    x = batch.x.clone()
    x[:, :-1, 1] = torch.randn_like(x[:, :-1, 1]) * 50
    torch.testing.assert_close(model(replace(batch, x=x)).point, model(batch).point)


def test_the_gate_is_hand_computable_and_depends_on_the_market_vector():
    """α = F·softmax((W_α v + b_α)/β), v = [s(m_W); s(mean_t m_t); s(std_t m_t)], m_t the mean
    over the day's listed stocks of the raw market columns; set W_α, b_α and check by hand."""
    model = small_master(beta=2.0)
    batch = make_apex_batch()
    raw, listed = batch.x[:, -5:, :, F:], batch.x_mask[:, -5:]
    with torch.no_grad():
        model.gate.weight.copy_(torch.arange(F * 3 * M, dtype=torch.float32).reshape(F, 3 * M) / 50)
        model.gate.bias.copy_(torch.linspace(-1, 1, F))
    alpha = model.market_gate(raw, listed)
    for d in range(2):
        m = torch.stack([raw[d, t, listed[d, t]].mean(0) for t in range(5)])  # (W, M)
        v = torch.cat([m[-1], m.mean(0), m.std(0, unbiased=False)])
        v = torch.sign(v) * torch.log1p(v.abs())
        logits = (model.gate.weight @ v + model.gate.bias) / 2.0
        expected = F * torch.exp(logits) / torch.exp(logits).sum()
        torch.testing.assert_close(alpha[d], expected, rtol=1e-5, atol=1e-6)
    assert torch.allclose(alpha.sum(-1), torch.full((2,), float(F)))
    assert not torch.allclose(alpha, torch.ones_like(alpha), atol=1e-2)
    # another market state gives another gate, and other scores for the same stock features
    shifted = raw.clone()
    shifted[:, -1] += 5.0
    assert not torch.allclose(model.market_gate(shifted, listed), alpha, atol=1e-4)
    x = batch.x.clone()
    x[:, -1, :, F:] += 5.0
    assert not torch.allclose(model(replace(batch, x=x)).point, model(batch).point, atol=1e-4)


def test_an_infinite_temperature_gives_a_uniform_gate():
    model = small_master(beta=1e12)
    batch = make_apex_batch()
    alpha = model.market_gate(batch.x[:, -5:, :, F:] * 1e3, batch.x_mask[:, -5:])
    torch.testing.assert_close(alpha, torch.ones_like(alpha))
    # β → ∞ scores like the model without the gate (same weights otherwise)
    plain = small_master(n_market=0, market_gate=False)
    plain.load_state_dict(
        {k: v for k, v in model.state_dict().items() if not k.startswith("gate.")}
    )
    torch.testing.assert_close(model(batch).point, plain(replace(batch, x=batch.x[..., :F])).point)


def test_without_the_inter_stock_attention_scores_are_per_stock():
    model = small_master(inter_stock=False)
    batch = make_apex_batch()
    x = batch.x.clone()
    x[:, :, 4:, :F] += 2.0
    got, ref = model(replace(batch, x=x)).point, model(batch).point
    torch.testing.assert_close(got[:, :4], ref[:, :4])  # stocks 0–3 untouched
    assert "inter" not in model(batch).branches
    with_inter = small_master()
    got = with_inter(replace(batch, x=x)).point
    assert not torch.allclose(got[:, 3], with_inter(batch).point[:, 3], atol=1e-5)


def test_without_temporal_aggregation_the_last_step_is_read():
    """Off: e = z_W; with it, e = Σ λ_t z_t differs (same weights otherwise)."""
    on = small_master()
    off = small_master(temporal_aggregation=False)
    off.load_state_dict({k: v for k, v in on.state_dict().items() if not k.startswith("temporal.")})
    batch = make_apex_batch()
    assert not torch.allclose(on(batch).point, off(batch).point, atol=1e-5)


def test_sinusoidal_positions_by_hand():
    p = sinusoidal_positions(3, 4)
    assert p[0].tolist() == [0.0, 1.0, 0.0, 1.0]
    torch.testing.assert_close(
        p[2], torch.tensor([math.sin(2), math.cos(2), math.sin(0.02), math.cos(0.02)])
    )


def test_the_kind_the_market_columns_and_config_checks():
    kind = get_kind("master")
    assert kind.config is MasterConfig and kind.inputs == "window" and kind.neural
    with pytest.raises(MasterError, match="no market column"):
        kind.build(MasterConfig(window=5, hidden_size=8), F, APEX_HORIZONS, [4, 4])
    with pytest.raises(MasterError, match=r"window=5, 6 features \+ 3 market columns"):
        small_master()(replace(make_apex_batch(), x=make_apex_batch().x[..., :F]))
    with pytest.raises(ValidationError, match="inter_heads=3"):
        MasterConfig(hidden_size=8, inter_heads=3)
    with pytest.raises(ValidationError, match="market_blocks"):
        MasterConfig(market_blocks=[])
    with pytest.raises(ValidationError, match=r"(?i)extra"):
        MasterConfig(bogus=1)
    with pytest.raises(ValidationError, match=r"model.window 9 > data.loader.window 8"):
        RunConfig.model_validate(
            {"model": {"kind": "master", "window": 9}, "data": {"loader": {"window": 8}}}
        )


def test_the_shipped_config_loads_and_builds():
    cfg = load_run_config(CONFIGS_DIR / "master.toml")
    assert cfg.model.kind == "master" and cfg.model.window <= cfg.data.loader.window
    assert cfg.data.loader.stocks_per_day is None  # the inter-stock attention sees the whole day
    # shipped with the gate and the temporal aggregation off, the inter-stock attention on
    # (docs/models.md, "Ablation", "Trials"): no market columns read
    assert cfg.model.inter_stock
    assert not (cfg.model.market_gate or cfg.model.temporal_aggregation)
    batch = make_apex_batch()
    model = build_master(cfg.model.model_copy(update={"window": 5}), F, APEX_HORIZONS, 0)
    shipped = model.eval()(replace(batch, x=batch.x[..., :F]))
    assert shipped.point.shape == (2, N, len(APEX_HORIZONS))
    paper = cfg.model.model_copy(
        update={"window": 5, "market_gate": True, "inter_stock": True, "temporal_aggregation": True}
    )
    model = build_master(paper, F, APEX_HORIZONS, M)
    assert model.eval()(batch).point.shape == (2, N, len(APEX_HORIZONS))
