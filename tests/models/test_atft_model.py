"""ATFT-GAT-FAN behaviour on hand-made batches: shapes, masking, equivariance, graph use,
gradients and size."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gogooku.models.atft_gat_fan import AtftConfig, build_atft
from gogooku.models.output import ModelOutput

from .conftest import CARDINALITIES, HORIZONS, make_batch, small_model


def test_output_shapes_and_monotone_quantiles(batch):
    out = small_model()(batch)
    assert isinstance(out, ModelOutput)
    assert out.point.shape == (2, 7, len(HORIZONS))
    assert out.quantiles.shape == (2, 7, len(HORIZONS), 3)
    assert out.quantile_levels == (0.1, 0.5, 0.9)
    assert set(out.branches) == {"fan", "attention", "gat"}
    assert all(v.shape == (2, 7, 16) for v in out.branches.values())
    assert torch.isfinite(out.point).all() and torch.isfinite(out.quantiles).all()
    assert (out.quantiles.diff(dim=-1) > 0).all()
    # predictions differ across stocks (no constant output at init)
    assert out.point.std(dim=1).min() > 1e-4


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), scale=st.floats(0.1, 50.0))
def test_quantiles_increase_for_any_input(seed, scale):
    b = make_batch(seed=seed)
    b = replace(b, x=b.x * scale)
    q = small_model(seed=seed % 7, quantiles=(0.05, 0.25, 0.5, 0.75, 0.95))(b).quantiles
    assert q.shape[-1] == 5
    assert (q.diff(dim=-1) >= 0).all()


def test_no_quantile_head_when_quantiles_empty(batch):
    out = small_model(quantiles=())(batch)
    assert out.quantiles is None and out.quantile_levels == ()
    assert out.point.shape == (2, 7, len(HORIZONS))


def test_nan_features_and_unlisted_days_give_finite_outputs(batch):
    x = batch.x.clone()
    x[0, :3, 2] = float("nan")
    x_mask = batch.x_mask.clone()
    x_mask[:, :, 4] = False  # listed on no day of the window: all days are padding
    out = small_model()(replace(batch, x=x, x_mask=x_mask))
    assert torch.isfinite(out.point).all() and torch.isfinite(out.quantiles).all()


def test_values_on_unlisted_days_are_ignored(batch):
    model = small_model()
    x_mask = batch.x_mask.clone()
    x_mask[1, :4, 3] = False
    ref = model(replace(batch, x_mask=x_mask)).point
    x = batch.x.clone()
    x[1, :4, 3] = 1e3
    assert torch.equal(model(replace(batch, x=x, x_mask=x_mask)).point, ref)


def test_masked_stock_does_not_influence_others(batch):
    model = small_model()
    masked = 2
    mask = batch.mask.clone()
    mask[:, masked] = False
    # make sure the masked stock has edges in both directions on every day
    edges = [
        (torch.cat([ei, torch.tensor([[masked, 0], [0, masked]])], dim=1), torch.cat([w, w[:2]]))
        for ei, w in batch.edges
    ]
    base = replace(batch, mask=mask, edges=edges)
    x = batch.x.clone()
    x[:, :, masked] = torch.randn_like(x[:, :, masked]) * 10
    static = batch.static.clone()
    static[:, masked] = torch.tensor([4, 2, 1])
    a = model(base)
    b = model(replace(base, x=x, static=static))
    others = [i for i in range(7) if i != masked]
    assert torch.equal(a.point[:, others], b.point[:, others])
    assert torch.equal(a.quantiles[:, others], b.quantiles[:, others])
    # while the same perturbation of a listed neighbour does move stock 0 (the test can fail)
    c = model(replace(batch, x=x, static=static, edges=edges))
    assert not torch.allclose(c.point[:, 0], a.point[:, 0])


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), data=st.data())
def test_permuting_stocks_permutes_outputs_with_gat(seed, data):
    n = 7
    perm = torch.tensor(data.draw(st.permutations(range(n))))
    model = small_model(seed=seed % 5)
    batch = make_batch(n=n, seed=seed, n_edges=15)
    mask = batch.mask.clone()
    mask[0, int(perm[0])] = False
    batch = replace(batch, mask=mask)
    inverse = torch.argsort(perm)  # old position -> new position
    permuted = replace(
        batch,
        x=batch.x[:, :, perm],
        mask=batch.mask[:, perm],
        x_mask=batch.x_mask[:, :, perm],
        static=batch.static[:, perm],
        codes=batch.codes[:, perm],
        edges=[(inverse[ei], w) for ei, w in batch.edges],
    )
    a, b = model(batch), model(permuted)
    listed = mask[:, perm]
    assert torch.allclose(b.point[listed], a.point[:, perm][listed], atol=1e-5)
    assert torch.allclose(b.quantiles[listed], a.quantiles[:, perm][listed], atol=1e-5)
    assert torch.allclose(b.branches["gat"][listed], a.branches["gat"][:, perm][listed], atol=1e-5)


def test_gat_branch_uses_edges():
    batch = make_batch(n_edges=12, seed=3)
    other = make_batch(n_edges=12, seed=4)
    rewired = replace(batch, edges=other.edges)
    with_gat = small_model()
    assert not torch.allclose(with_gat(batch).point, with_gat(rewired).point)
    without = small_model(gat=False)
    assert torch.equal(without(batch).point, without(rewired).point)
    assert "gat" not in without(batch).branches


def test_edge_weights_reach_the_gat():
    batch = make_batch(n_edges=12, seed=3)
    heavier = replace(batch, edges=[(ei, w * 5 + 1) for ei, w in batch.edges])
    model = small_model()
    assert not torch.allclose(model(batch).point, model(heavier).point)


def test_gat_handles_missing_and_empty_graphs():
    model = small_model()
    none = make_batch(n_edges=0)
    assert none.edges is None
    empty = replace(
        none, edges=[(torch.zeros(2, 0, dtype=torch.long), torch.zeros(0)) for _ in range(2)]
    )
    a, b = model(none), model(empty)
    assert torch.isfinite(a.point).all()
    assert torch.equal(a.point, b.point)
    # without neighbours the branch is exactly 0 (the trainer then reports it dead)
    assert torch.equal(a.branches["gat"], torch.zeros_like(a.branches["gat"]))


def test_stock_without_neighbours_gets_no_gat_term():
    batch = make_batch(n_edges=0)
    edges = [(torch.tensor([[0, 1, 2], [1, 2, 0]]), torch.ones(3)) for _ in range(2)]
    out = small_model()(replace(batch, edges=edges))
    gat = out.branches["gat"]
    assert (gat[:, 3:] == 0).all()
    assert (gat[:, :3].abs().sum(dim=-1) > 0).all()


def test_days_of_a_batch_are_disjoint_graphs():
    """An edge on day 0 must not connect stocks of day 1: day 1's outputs equal its own
    single-day run."""
    model = small_model()
    batch = make_batch(b=2, n_edges=12, seed=9)
    both = model(batch).point
    day1 = replace(
        batch,
        x=batch.x[1:],
        y=batch.y[1:],
        mask=batch.mask[1:],
        y_mask=batch.y_mask[1:],
        x_mask=batch.x_mask[1:],
        static=batch.static[1:],
        codes=batch.codes[1:],
        dates=batch.dates[1:],
        edges=batch.edges[1:],
    )
    assert torch.allclose(model(day1).point[0], both[1], atol=1e-6)


def test_attention_branch_and_switch(batch):
    on, off = small_model(), small_model(attention=False)
    assert "attention" in on(batch).branches and "attention" not in off(batch).branches
    assert on(batch).branches["attention"].abs().mean() > 1e-4


@pytest.mark.skipif(
    not torch.ops.mkldnn._is_mkldnn_bf16_supported(),
    reason="this CPU has no oneDNN bf16 kernels: the LSTM cannot run under bf16 autocast here",
)
def test_bf16_autocast_gives_float32_outputs_close_to_float32(batch):
    model = small_model()
    ref = model(batch)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(batch)
    assert out.point.dtype == torch.float32 and out.quantiles.dtype == torch.float32
    assert torch.allclose(out.point, ref.point, atol=0.05)
    assert (out.quantiles.diff(dim=-1) > 0).all()


def test_gradient_reaches_every_parameter(batch):
    model = small_model(dropout=0.0).train()
    out = model(batch)
    loss = (out.point**2).mean() + out.quantiles.mean() + out.branches["gat"].mean()
    loss.backward()
    missing = [
        name
        for name, p in model.named_parameters()
        if p.grad is None or not torch.isfinite(p.grad).all() or p.grad.abs().sum() == 0
    ]
    assert missing == []


def test_parameter_count_low_millions_at_300_features():
    model = build_atft(AtftConfig(hidden_size=128, window=60), 300, HORIZONS, (34, 18, 4))
    count = sum(p.numel() for p in model.parameters())
    assert 1_000_000 <= count <= 5_000_000


def test_without_static_columns():
    batch = make_batch(static_cols=0)
    torch.manual_seed(0)
    model = build_atft(AtftConfig(hidden_size=16, attention_heads=2, window=8), 5, HORIZONS, ())
    assert torch.isfinite(model.eval()(batch).point).all()


def test_unseen_static_id_reads_as_unknown(batch):
    """An id beyond its column's range is id 0 (unknown), not a row of the next column's table."""
    model = small_model()
    static = batch.static.clone()
    static[:, 1, 0] = 0
    ref = model(replace(batch, static=static)).point
    static[:, 1, 0] = CARDINALITIES[0] + 1
    assert torch.equal(model(replace(batch, static=static)).point, ref)


def test_wrong_window_or_feature_count_is_a_clear_error(batch):
    with pytest.raises(ValueError, match="window=12"):
        small_model(window=12)(batch)
    with pytest.raises(ValueError, match="n_features=6"):
        small_model(f=6)(batch)
    with pytest.raises(ValueError, match="static id columns"):
        small_model()(make_batch(static_cols=2))


def test_build_rejects_bad_arguments():
    with pytest.raises(ValueError, match="horizon"):
        build_atft(AtftConfig(), 5, [], CARDINALITIES)
    with pytest.raises(ValueError, match="static_cardinalities"):
        build_atft(AtftConfig(), 5, HORIZONS, (3, 0))


def test_linear_skip_adds_a_linear_map_of_the_last_day(batch):
    """With the head's output layer zeroed, the point forecast is W_s x_L + b_s exactly (NaN
    features read as 0); without ``linear_skip`` it is then 0."""
    x = batch.x.clone()
    x[1, -1, 3, 2] = float("nan")
    batch = replace(batch, x=x)
    model = small_model()
    with torch.no_grad():
        model.out.weight.zero_()
        model.out.bias.zero_()
    expected = model.skip(torch.nan_to_num(x[:, -1]))
    torch.testing.assert_close(model(batch).point, expected)
    plain = small_model(linear_skip=False)
    with torch.no_grad():
        plain.out.weight.zero_()
        plain.out.bias.zero_()
    assert not hasattr(plain, "skip")
    assert torch.equal(plain(batch).point, torch.zeros_like(expected))


def test_san_model_runs_and_reports_its_branch(batch):
    out = small_model(norm="san", san_slice=4)(batch)
    assert set(out.branches) == {"san", "attention", "gat"}
    assert torch.isfinite(out.point).all()
    assert set(small_model(norm="instance")(batch).branches) == {"attention", "gat"}


def test_parts_partition_the_parameters_and_switch_their_branches(batch):
    model = small_model(norm="san", san_slice=4)
    parts = model.parameters_of()
    assert set(parts) == {"norm", "attention", "gat", "encoder"}
    ids = [id(p) for ps in parts.values() for p in ps]
    assert sorted(ids) == sorted(id(p) for p in model.parameters())
    assert {id(p) for p in parts["norm"]} >= {
        id(model.norm.mean_weights),
        id(model.norm.std_weights),
    }
    assert {id(p) for p in parts["gat"]} >= {id(p) for p in model.gat.parameters()}
    full = model(batch)
    for part, branch in (("norm", "san"), ("attention", "attention"), ("gat", "gat")):
        model.switch(part, False)
        out = model(batch)
        assert branch not in out.branches
        assert not torch.allclose(out.point, full.point), part
        model.switch(part, True)
    assert torch.equal(model(batch).point, full.point)
    with pytest.raises(ValueError, match="'encoder' cannot be switched off"):
        model.switch("encoder", False)
