"""Models: networks (``atft_gat_fan`` + ``fan``/``layers``/``output``, ``apex``) and estimators
(``gbdt`` LightGBM, ``linear`` ridge, ``factor`` reference formulas), and ``registry``, the model
kinds that ``train``, ``bundle``, ``hpo`` and ``serve`` look up by name."""
