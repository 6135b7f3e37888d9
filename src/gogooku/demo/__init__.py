"""``gogooku demo``: the pipeline end to end on the synthetic market (``plan``, ``pipeline``, ``cli``)."""
