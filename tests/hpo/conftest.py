"""Small ``hpo`` configs for the tiny synthetic dataset of tests/conftest.py (24 stocks, 2020,
3 walk-forward folds): LightGBM (30 rounds) and ATFT (hidden 16, window 10).

``home`` (tests/conftest.py) is this test's GOGOOKU_HOME with the session's raw store and dataset
linked in.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ..support.configs import SPLITS

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


@pytest.fixture
def write_config(tmp_path):
    def write(text: str, name: str = "hpo.toml") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    return write
