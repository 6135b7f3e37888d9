"""Raw store: typed month-partitioned Parquet per dataset, a SQLite catalog, lazy readers.

``RawStore`` (``raw.py``) and its ``Catalog`` (``catalog.py``) are importable without the HTTP
client; the fetch orchestration lives in ``gogooku.store.fetch``.
"""

from gogooku.store.catalog import Catalog, UnitRecord
from gogooku.store.raw import ORACLE_DATASET, RawStore

__all__ = ["ORACLE_DATASET", "Catalog", "RawStore", "UnitRecord"]
