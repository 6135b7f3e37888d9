"""Run-config fragments shared by the tests that train on the tiny market (``tiny_market``)."""

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
