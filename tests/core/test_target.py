"""The [target] section and the one place label and prediction columns are named."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from gogooku.dataset.labels import label_names
from gogooku.target import TargetConfig, label_column, pred_column


def test_column_names():
    assert label_column(5) == "target_5d"
    assert label_column(20, "excess") == "target_20d_excess"
    assert label_column(1, "sector") == "target_1d_sector"
    assert pred_column(10) == "pred_10d"


def test_every_label_kind_names_a_panel_label():
    kinds = ("raw", "excess", "sector")
    names = {label_column(h, k) for h in TargetConfig().horizons for k in kinds}
    assert names == set(label_names())


def test_the_section_names_its_columns():
    target = TargetConfig(horizons=[20, 1, 5], main_horizon=20, label="sector")
    assert target.sorted_horizons == [1, 5, 20]
    assert target.label_columns == ["target_1d_sector", "target_5d_sector", "target_20d_sector"]
    assert (target.main_label, target.main_pred) == ("target_20d_sector", "pred_20d")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"horizons": [1, 5], "main_horizon": 10}, "main_horizon 10 is not in horizons"),
        ({"horizons": [5, 5]}, "must be distinct"),
        ({"horizons": [2, 5]}, r"horizons \[2\] have no label"),
        ({"label": "alpha"}, "label"),
        ({"main": 5}, "Extra inputs"),
    ],
)
def test_bad_sections_are_refused(fields, message):
    with pytest.raises(ValidationError, match=message):
        TargetConfig.model_validate(fields)
