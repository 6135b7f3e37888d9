"""Evaluation of runs: signal metrics (:mod:`.metrics`), portfolio statistics (:mod:`.risk`),
block bootstrap (:mod:`.bootstrap`), the Japanese-market backtest (:mod:`.backtest`), the
orchestration behind ``gogooku evaluate`` (:mod:`.evaluator`) and the HTML reports
(:mod:`.report`). See docs/evaluation.md for the conventions.
"""
