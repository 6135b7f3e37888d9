"""The root of every error gogooku raises on purpose.

Each area defines its own subclasses next to the code that raises them (``ConfigError`` in
``gogooku.config``, ``BuildError`` in ``gogooku.dataset.build``, ...); every one of them derives
from :class:`GogookuError`, whose message names the file, column, date or parameter at fault.
The command line maps any ``GogookuError`` to its message on stderr and exit code
``exit_code`` (1 unless a subclass says otherwise) in one place (``gogooku.cli``); anything else
is a bug and keeps its traceback.
"""

from __future__ import annotations


class GogookuError(Exception):
    """An error with a message meant for the user; the CLI exits with ``exit_code``."""

    exit_code: int = 1
