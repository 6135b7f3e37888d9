"""Research protocol above single runs: walk-forward runs built from many fits (``gogooku
walkforward``; ``plan``, ``stitch``, ``walkforward``; docs/training.md, "Walk-forward runs") and the
sealed hold-out's final scoring (``gogooku evaluate --final``: ``final``, ``ledger``)."""
