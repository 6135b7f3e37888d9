"""Research runs built from many fits: walk-forward runs (``gogooku walkforward``; ``plan``,
``stitch``, ``walkforward``). See docs/training.md, "Walk-forward runs"."""
