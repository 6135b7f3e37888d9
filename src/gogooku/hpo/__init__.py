"""Hyperparameter search with Optuna (``gogooku hpo``; see docs/hpo.md)."""
