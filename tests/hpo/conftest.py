"""A tiny synthetic dataset (24 stocks, 2020, 3 walk-forward folds) built through the real CLI once
per session, and small ``hpo`` configs for it: LightGBM (30 rounds) and ATFT (hidden 16,
window 10).

Every test gets its own GOGOOKU_HOME (tests/conftest.py) with the session's raw store and dataset
linked in.
"""

from __future__ import annotations

from pathlib import Path

import pytest

SPLITS = """
[data.splits]
scheme = "rolling"
train_days = 60
val_days = 20
test_days = 20
label_horizon = 20
purge_days = 21
first_day = 9
"""

LGBM = (
    SPLITS
    + """
[model]
kind = "lgbm"
num_boost_round = 30
early_stopping_rounds = 10
min_data_in_leaf = 20
num_threads = 1

[target]
horizons = [1, 5, 20]
"""
)

ATFT = (
    SPLITS
    + """
[data.loader]
window = 10
days_per_batch = 4
seed = 3

[model]
kind = "atft"
hidden_size = 16
attention_heads = 2
gat_heads = 1
window = 10
static_embedding_dim = 2

[train]
epochs = 2
lr = 0.003
seed = 5
progress = false
diagnostics_every = 10

[target]
horizons = [1, 5, 20]
"""
)

LGBM_SEARCH = """
[search]
"model.learning_rate" = {type = "float", low = 0.02, high = 0.2, log = true}
"model.num_leaves" = {type = "int", low = 4, high = 16, step = 4}
"""


@pytest.fixture(scope="session")
def tiny_home(tiny_market) -> Path:
    return tiny_market("returns,sector")


@pytest.fixture
def home(tiny_home, link_home) -> Path:
    """This test's GOGOOKU_HOME with the session's raw store and dataset linked in."""
    return link_home(tiny_home)


@pytest.fixture
def write_config(tmp_path):
    def write(text: str, name: str = "hpo.toml") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    return write
