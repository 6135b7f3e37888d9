"""Models: the neural ATFT-GAT-FAN (``atft_gat_fan``) built through ``registry.build_model``, and
the tabular baselines (``tabular.fit_predict_tabular``: ``gbdt``, ``linear``, ``factor``)."""
