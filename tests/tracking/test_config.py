"""``[tracking]`` in the run config: off by default, strict keys, ``--set`` overrides, the default
local store."""

from __future__ import annotations

import pytest

from gogooku.config import ConfigError
from gogooku.train.config import load_run_config


def test_tracking_is_off_by_default_and_set_turns_it_on(_isolated_home):
    cfg = load_run_config("lgbm.toml")  # a shipped config, without [tracking]
    assert cfg.tracking.enabled is False
    assert cfg.tracking.tracking_uri() == (_isolated_home / "mlruns").absolute().as_uri()
    cfg = load_run_config(
        "lgbm.toml", ["tracking.enabled=true", "tracking.uri=sqlite:///x.db"], kind="lgbm"
    )
    assert (cfg.tracking.enabled, cfg.tracking.tracking_uri()) == (True, "sqlite:///x.db")


def test_unknown_tracking_key_is_refused_naming_it(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text('[model]\nkind = "linear"\n\n[tracking]\nenabled = true\nurl = "x"\n')
    with pytest.raises(ConfigError, match=r"run.toml.*tracking\.url"):
        load_run_config(path)
    with pytest.raises(ConfigError, match=r"tracking\.retries.*--set tracking.retries=-1"):
        load_run_config(None, ["tracking.retries=-1"], kind="linear")


def test_tracking_leaves_the_hold_out_ledger_hash_alone():
    from gogooku.research.ledger import config_hash

    plain = load_run_config(None, kind="linear")
    tracked = load_run_config(None, ["tracking.enabled=true"], kind="linear")
    assert config_hash(plain) == config_hash(tracked)
    assert config_hash(plain) != config_hash(
        load_run_config(None, ["model.alpha=2.0"], kind="linear")
    )


def test_the_hold_out_hash_ignores_keys_left_at_their_default_and_keeps_the_kind():
    from pydantic import BaseModel

    from gogooku.research.ledger import config_hash

    class Model(BaseModel):
        kind: str = "k"
        alpha: float = 1.0

    class Later(Model):
        added: int = 3  # a key a later version adds, with its default

    class Run(BaseModel):
        model: Model

    class LaterRun(BaseModel):
        model: Later

    assert config_hash(Run(model=Model())) == config_hash(LaterRun(model=Later()))
    assert config_hash(Run(model=Model())) != config_hash(LaterRun(model=Later(added=4)))
    assert config_hash(Run(model=Model())) != config_hash(Run(model=Model(kind="other")))
    linear = load_run_config(None, kind="linear")
    assert config_hash(linear) == config_hash(
        load_run_config(None, [f"model.alpha={linear.model.alpha}"], kind="linear")
    )
    assert config_hash(linear) != config_hash(load_run_config(None, kind="lgbm"))
