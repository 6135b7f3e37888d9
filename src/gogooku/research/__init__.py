"""Research protocol above single runs: walk-forward runs and the sealed hold-out's final scoring
(``gogooku evaluate --final``, ``gogooku.research.final``; ledger ``gogooku.research.ledger``)."""
