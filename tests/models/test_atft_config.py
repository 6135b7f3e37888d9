"""AtftConfig: validation, TOML round trip, and every field reaching the built model."""

from __future__ import annotations

import pytest
import torch
from pydantic import ValidationError

from gogooku.config import dump_config, load_config
from gogooku.models.atft_gat_fan import AtftConfig, build_atft

from .conftest import CARDINALITIES, HORIZONS, make_batch, small_config

# field -> a value other than small_config's; every searchable field must be listed here
ALTERNATIVES = {
    "hidden_size": 24,
    "lstm_layers": 2,
    "attention_heads": 4,
    "dropout": 0.5,
    "window": 10,
    "norm": "instance",
    "san_slice": 4,
    "fan_top_k": 4,
    "gat": False,
    "gat_heads": 3,
    "attention": False,
    "quantiles": (0.25, 0.5, 0.75, 0.95),
    "static_embedding_dim": 3,
    "linear_skip": False,
    "linear_skip_init": "ridge",
}
# fields that reach the training run, not the built model (tested there)
TRAINING_ONLY = {"linear_skip_alpha"}  # tests/train/test_ridge_start.py


def fingerprint(cfg: AtftConfig) -> tuple:
    """(parameter count, layer types, outputs in train mode under a fixed seed)."""
    torch.manual_seed(0)
    model = build_atft(cfg, 5, HORIZONS, CARDINALITIES).train()
    torch.manual_seed(1)
    out = model(make_batch(length=cfg.window, seed=2))
    outputs = torch.cat([out.point.flatten(), out.quantiles.flatten()])
    layers = tuple(type(m).__name__ for m in model.modules())
    return sum(p.numel() for p in model.parameters()), layers, outputs


def test_every_config_field_is_covered():
    assert set(ALTERNATIVES) == set(AtftConfig.model_fields) - {"kind"} - TRAINING_ONLY


# fields that change the model only together with another field's value
CONTEXT = {"san_slice": {"norm": "san", "san_slice": 2}}


@pytest.mark.parametrize("field", sorted(ALTERNATIVES))
def test_field_reaches_the_model(field):
    base = small_config(dropout=0.1, **CONTEXT.get(field, {}))
    changed = small_config(**{"dropout": 0.1, **CONTEXT.get(field, {}), field: ALTERNATIVES[field]})
    assert getattr(changed, field) != getattr(base, field)
    n0, layers0, out0 = fingerprint(base)
    n1, layers1, out1 = fingerprint(changed)
    same_outputs = out0.shape == out1.shape and torch.equal(out0, out1)
    assert n0 != n1 or layers0 != layers1 or not same_outputs


def test_toml_round_trip(tmp_path):
    path = tmp_path / "atft.toml"
    cfg = AtftConfig(hidden_size=64, quantiles=(0.2, 0.5, 0.8), gat=False)
    dump_config(cfg, path)
    assert load_config(path, AtftConfig) == cfg


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"hidden_size": 30, "attention_heads": 4}, "not divisible by attention_heads"),
        ({"quantiles": (0.5, 0.1)}, "strictly increasing"),
        ({"quantiles": (0.0, 0.5)}, "strictly increasing"),
        ({"window": 4, "fan_top_k": 4}, "fan_top_k=4"),
        ({"norm": "san", "window": 8, "san_slice": 3}, "san_slice=3"),
        ({"norm": "san", "window": 8, "san_slice": 8}, "at least two slices"),
        ({"fan": True, "norm": "instance"}, "disagree"),
        ({"dropout": 1.0}, "dropout"),
        ({"hidden": 12}, "hidden"),
        ({"kind": "lgbm"}, "kind"),
    ],
)
def test_invalid_configs_name_the_parameter(kwargs, message):
    with pytest.raises(ValidationError, match=message):
        AtftConfig(**kwargs)
