"""Training: the run config (``config``), per-day losses (``losses``), the neural loop (``loop``),
diagnostics (``diagnostics``) and the ``gogooku train`` / ``gogooku ablate`` commands (``cli``)."""
