"""Evaluation of runs: signal metrics (:mod:`.metrics`), portfolio statistics (:mod:`.risk`),
block bootstrap (:mod:`.bootstrap`), the Japanese-market backtest (:mod:`.backtest`), the
orchestration behind ``gogooku evaluate`` (:mod:`.evaluator`), the HTML report (:mod:`.report`)
and ``gogooku compare`` (:mod:`.compare`, with the paired statistics of :mod:`.paired`). See
docs/evaluation.md for the conventions.
"""
