"""Models: networks (``atft_gat_fan`` + ``fan``/``layers``/``output``, ``apex``, ``master``, the
market-guided pair sharing ``market_inputs``) and estimators (``gbdt`` LightGBM, ``linear`` ridge,
``factor`` reference formulas), and ``registry``, the model kinds that ``train``, ``bundle``,
``hpo`` and ``serve`` look up by name."""
