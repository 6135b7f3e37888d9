"""Results out: an evaluated run's factor and prices for Alphalens (``export.alphalens``) and its
daily book returns, positions and benchmark for pyfolio, quantstats and empyrical
(``export.returns``); ``gogooku export``, ``docs/exports.md``."""
