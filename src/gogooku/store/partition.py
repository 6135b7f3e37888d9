"""Reading one raw month partition, with a damaged file named (``CorruptPartitionError``).

Kept apart from ``store.health`` (which finds and repairs such files across a store) so that the
raw store's readers can use it without importing the store-wide checks.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from gogooku.errors import GogookuError

REPAIR_HINT = "run `gogooku fetch --repair` with --start/--end covering it to fetch it again"


class CorruptPartitionError(GogookuError):
    """A raw partition that cannot be read; the message names the file and the repair."""


def footer_rows(path: Path) -> int:
    """The row count in ``path``'s Parquet footer; CorruptPartitionError when it is unreadable."""
    try:
        return pq.read_metadata(path).num_rows
    except (pa.ArrowException, OSError) as exc:
        raise CorruptPartitionError(
            f"{path}: corrupt Parquet partition ({exc}); {REPAIR_HINT}"
        ) from None


def read_partition(path: Path, columns: Sequence[str] | None = None) -> pl.DataFrame:
    """``pl.read_parquet(path)``, with a page that does not decode as a CorruptPartitionError."""
    footer_rows(path)
    try:
        return pl.read_parquet(path, columns=columns)
    except (pl.exceptions.ComputeError, OSError) as exc:
        raise CorruptPartitionError(
            f"{path}: corrupt Parquet partition ({exc}); {REPAIR_HINT}"
        ) from None
