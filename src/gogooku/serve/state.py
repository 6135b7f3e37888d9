"""What the service serves: per bundle name, the promoted version, loaded and verified.

``ModelState.current()`` is called on every request. It stats ``bundles/NAME/CURRENT`` and the
files of the version it names (one ``stat`` each, no reading: inode, size, mtime and ctime — a
write moves ctime even when the writer restores mtime and size); when that signature differs
from the last one seen — a promote or rollback replaced the pointer, or a bundle file was
modified, removed, added or re-permissioned — it re-hashes the version against its manifest
(SHA-256 of every file; with a key, the manifest's signature too) and loads it. ``CURRENT``
must name a ``vNNNN`` folder of this bundle name (``gogooku.bundle.store.check_version``). A
bundle that loads is swapped in by one reference assignment, so a request already holding the
previous bundle finishes with it; one that fails leaves the state without a bundle and with the
reason (``error``, shown by ``/readyz`` and logged): a corrupted bundle is never served, also
when it was corrupted after it was loaded.

``ModelState.current_within(max_age_s)`` is the cheap variant the response cache
(``gogooku.serve.cache``) calls on every hit: one ``stat`` of ``CURRENT`` — a promote or rollback
replaces the pointer, so it is seen at once — and the full check above only when the last one is
older than ``max_age_s`` (a bundle file changed in place is seen within that time).

``RankingCache`` keeps the last few ranked days, keyed by (model, version, date, created_at of
the stored day), as pre-serialised JSON entries (orjson), so a ranking request the response
cache cannot answer costs one indexed SQLite lookup and a byte join.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field

import orjson

from gogooku.bundle.predstore import DayRun, PredictionStore
from gogooku.bundle.scoring import LoadedBundle, load_bundle
from gogooku.bundle.store import CURRENT_FILE, VERSION_RE, BundleError, bundles_dir, check_version

log = logging.getLogger(__name__)


class ModelState:
    """The served bundle of one name (see module doc)."""

    def __init__(
        self, name: str, key: bytes | None = None, require_signature: bool = False
    ) -> None:
        self.name = name
        self.key, self.require_signature = key, require_signature
        self.root = bundles_dir() / name
        self.bundle: LoadedBundle | None = None
        self.error: str | None = "not loaded yet"
        self._sig: tuple | None = None
        self._pointer = str(self.root / CURRENT_FILE)
        self._checked = -float("inf")
        self._lock = threading.Lock()

    def _signature(self) -> tuple:
        """(pointer inode, mtime, ctime, version, ((name, inode, mtime, ctime, size) of every
        file of the version; none when the pointer does not name a version))."""
        pointer = self.root / CURRENT_FILE
        try:
            st = pointer.stat()
        except FileNotFoundError:
            return ("no pointer",)
        stamp = (st.st_ino, st.st_mtime_ns, st.st_ctime_ns)
        if self._sig is not None and self._sig[:3] == stamp:
            version = self._sig[3]
        else:
            version = pointer.read_text().strip()
        stats = []
        if VERSION_RE.fullmatch(version):
            try:
                with os.scandir(self.root / version) as entries:
                    stats = [(e.name, e.stat()) for e in entries]
            except (FileNotFoundError, NotADirectoryError):
                pass
        files = tuple(
            sorted((n, s.st_ino, s.st_mtime_ns, s.st_ctime_ns, s.st_size) for n, s in stats)
        )
        return (*stamp, version, files)

    def current(self) -> LoadedBundle | None:
        """The bundle to serve now, or None (then ``error`` says why)."""
        self._checked = time.monotonic()
        sig = self._signature()
        if sig == self._sig:
            return self.bundle
        with self._lock:
            if sig != self._sig:
                self._load(sig)
        return self.bundle

    def current_within(self, max_age_s: float) -> LoadedBundle | None:
        """``current()``, skipping the version's files while ``CURRENT`` is unchanged and the
        last full check is younger than ``max_age_s`` (see module doc)."""
        if time.monotonic() - self._checked < max_age_s and self._sig is not None:
            try:
                st = os.stat(self._pointer)
            except FileNotFoundError:
                return self.current()
            if self._sig[:3] == (st.st_ino, st.st_mtime_ns, st.st_ctime_ns):
                return self.bundle
        return self.current()

    def _load(self, sig: tuple) -> None:
        if sig == ("no pointer",):
            self.bundle, self.error = None, f"bundle {self.name!r}: no promoted version"
        else:
            version = sig[3]
            try:
                check_version(self.root, version, str(self.root / CURRENT_FILE))
                path = self.root / version
                bundle = load_bundle(path, key=self.key, require_signature=self.require_signature)
                self.bundle, self.error = bundle, None
                log.info("serving %s@%s", self.name, version)
            except (BundleError, OSError, ValueError, RuntimeError) as exc:
                self.bundle, self.error = None, f"{self.name}@{version}: {exc}"
        if self.error:
            log.error("not serving %s (withdrawn until fixed): %s", self.name, self.error)
        self._sig = sig


@dataclass
class RankedDay:
    """A stored day in rank order: pre-serialised entries and each entry's sector."""

    run: DayRun
    entries: list[bytes]
    sectors: list[str | None]
    by_sector: dict[str, list[int]] = field(default_factory=dict)

    def select(self, sector: str | None, top_k: int) -> list[bytes]:
        if sector is None:
            return self.entries[:top_k]
        if sector not in self.by_sector:
            self.by_sector[sector] = [i for i, s in enumerate(self.sectors) if s == sector]
        return [self.entries[i] for i in self.by_sector[sector][:top_k]]


class RankingCache:
    """The last ``size`` ranked days (see module doc)."""

    def __init__(self, store: PredictionStore, size: int = 8) -> None:
        self.store, self.size = store, size
        self._days: OrderedDict[tuple, RankedDay] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, run: DayRun) -> RankedDay:
        key = (run.model, run.version, run.date, run.created_at)
        with self._lock:
            if key in self._days:
                self._days.move_to_end(key)
                return self._days[key]
        rows = self.store.read_day(run.model, run.version, run.date)
        entries = [
            orjson.dumps(
                {
                    "rank": i + 1,
                    "code": code,
                    "score": score,
                    "scores": orjson.loads(scores),
                    "sector": sector,
                    "sector_name": sector_name,
                    "name": name,
                }
            )
            for i, (code, score, scores, sector, sector_name, name) in enumerate(rows)
        ]
        day = RankedDay(run, entries, [r[3] for r in rows])
        with self._lock:
            self._days[key] = day
            while len(self._days) > self.size:
                self._days.popitem(last=False)
        return day
