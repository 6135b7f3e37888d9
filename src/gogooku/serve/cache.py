"""Pre-serialised ``/v1/rankings`` answers, served without entering FastAPI.

``ResponseCache`` maps the raw query string of a ``GET /v1/rankings`` that answered 200 to its
headers and body bytes, with what the answer was derived from: the ``ModelState`` and the
``LoadedBundle`` object it served (a weak reference), and the prediction store's
``generation()`` read before the store was. It is a least-recently-used map bounded by ``max_bytes`` of bodies (an answer larger
than the bound is not kept). Keying on the raw query string needs no parsing: the same string
means the same parameters, and a string that fails validation never answers 200, so it is never
stored.

``CachedRankings`` (ASGI middleware, inside the metrics and security-header middlewares) answers
a hit when the entry is still valid — its state still serves the same bundle object
(``ModelState.current_within(bundle_check_s)``: a promote or rollback is seen at the next
request, a bundle file changed in place within ``bundle_check_s``) and the store's generation is
unchanged (a new or re-run prediction day is seen at the next request) — and the API key is
admitted (``admit``: known, not revoked, a rate-limit token taken). Anything else — a miss, a
stale entry (dropped), a key the route must refuse — goes to the FastAPI route, which answers
(errors included) as without the cache and stores its 200 answers. A hit sets ``scope["route"]``
to the route's, so that the metrics count it under ``/v1/rankings``.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import HTTPException

from gogooku.bundle.predstore import PredictionStore
from gogooku.bundle.scoring import LoadedBundle
from gogooku.serve.state import ModelState

PATH = "/v1/rankings"
KEY_HEADER = b"x-api-key"


@dataclass(frozen=True)
class CachedAnswer:
    """One 200 answer and what it was derived from."""

    state: ModelState
    bundle: weakref.ref[LoadedBundle]  # weak: a stale answer does not keep a replaced model
    generation: int
    route: object  # scope["route"] of the answer, for the metrics of a hit
    headers: list[tuple[bytes, bytes]]
    body: bytes


class ResponseCache:
    """Raw query string → ``CachedAnswer``, least recently used first out (see module doc)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self._answers: OrderedDict[bytes, CachedAnswer] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._answers)

    def get(self, query: bytes) -> CachedAnswer | None:
        with self._lock:
            answer = self._answers.get(query)
            if answer is not None:
                self._answers.move_to_end(query)
            return answer

    def put(self, query: bytes, answer: CachedAnswer) -> None:
        if len(answer.body) > self.max_bytes:
            return
        with self._lock:
            self._pop(query)
            self._answers[query] = answer
            self.size += len(answer.body)
            while self.size > self.max_bytes:
                self._pop(next(iter(self._answers)))

    def drop(self, query: bytes) -> None:
        with self._lock:
            self._pop(query)

    def _pop(self, query: bytes) -> None:
        old = self._answers.pop(query, None)
        if old is not None:
            self.size -= len(old.body)


class CachedRankings:
    """ASGI middleware answering ``GET /v1/rankings`` hits from a ``ResponseCache``."""

    def __init__(
        self,
        app,
        cache: ResponseCache,
        store: PredictionStore,
        admit: Callable[[str | None], str],
        bundle_check_s: float,
    ) -> None:
        self.app, self.cache, self.store, self.admit = app, cache, store, admit
        self.bundle_check_s = bundle_check_s

    def _valid(self, answer: CachedAnswer) -> bool:
        bundle = answer.bundle()
        return (
            bundle is not None
            and answer.state.current_within(self.bundle_check_s) is bundle
            and self.store.generation() == answer.generation
        )

    def _admitted(self, headers) -> bool:
        key = next((v.decode("latin-1") for k, v in headers if k == KEY_HEADER), None)
        try:
            self.admit(key)
        except HTTPException:
            return False
        return True

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["path"] == PATH and scope["method"] == "GET":
            query = scope["query_string"]
            answer = self.cache.get(query)
            if answer is not None and not self._valid(answer):
                self.cache.drop(query)
                answer = None
            if answer is not None and self._admitted(scope["headers"]):
                scope["route"] = answer.route
                start = {"type": "http.response.start", "status": 200, "headers": answer.headers}
                await send(start)
                await send({"type": "http.response.body", "body": answer.body})
                return
        await self.app(scope, receive, send)
