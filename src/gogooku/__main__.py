"""``python -m gogooku``: the command line (``gogooku.cli``)."""

from gogooku.cli import app

app(prog_name="gogooku")
