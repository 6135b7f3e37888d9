"""Typed errors of the J-Quants V2 client.

Every error raised for a request names the endpoint path, the query parameters, the HTTP status
(when a response arrived) and the server's ``message`` (or the raw body when it is not JSON), so a
failed fetch can be diagnosed from the message alone.

Hierarchy::

    JQuantsError
    ├── AuthError            403 "api key is invalid or expired" (also 401), or no key configured
    ├── PlanError            403 for any other reason: the plan lacks the endpoint or date range
    │   └── PlanNotAllowedError   raised before any request: the catalogue says the plan lacks it
    ├── BadRequestError      400 (never retried)
    ├── RateLimitError       429 still returned after every back-off
    ├── ServerError          500/502/503/504 still returned after every retry
    ├── TransportError       connection dropped / refused / timed out after every retry
    └── ResponseFormatError  a 2xx body that is not the V2 ``{"data": [...]}`` envelope
        └── BrokenBodyError  a 2xx body that is not JSON at all (cut off, an HTML page), on every try

``ServerError``, ``RateLimitError``, ``TransportError`` and ``BrokenBodyError`` are *transient*
(``TRANSIENT_ERRORS``): the same request may succeed later, so a fetch that stops on one says to
re-run it (the units stored before it stay stored).
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from gogooku.errors import GogookuError

INVALID_KEY_MESSAGE = "The incoming api key is invalid or expired."

_BODY_LIMIT = 500


class JQuantsError(GogookuError):
    """Base class. ``path``, ``params``, ``status`` and ``server_message`` describe the request."""

    def __init__(
        self,
        summary: str,
        *,
        path: str | None = None,
        params: Mapping[str, object] | None = None,
        status: int | None = None,
        server_message: str | None = None,
    ) -> None:
        self.summary = summary
        self.path = path
        self.params = dict(params or {})
        self.status = status
        self.server_message = server_message
        super().__init__(self._render())

    def _render(self) -> str:
        parts = [self.summary]
        if self.path is not None:
            parts.append(f"endpoint {self.path} params {self.params}")
        if self.status is not None:
            parts.append(f"HTTP {self.status}")
        if self.server_message:
            parts.append(f"server said: {self.server_message!r}")
        return "; ".join(parts)


class AuthError(JQuantsError):
    """The API key is missing, invalid or expired."""


class PlanError(JQuantsError):
    """The subscription plan does not cover the endpoint or the requested date range."""


class PlanNotAllowedError(PlanError):
    """The catalogue says the plan lacks this dataset; no request was made."""


class BadRequestError(JQuantsError):
    """HTTP 400: invalid or missing query parameters."""


class RateLimitError(JQuantsError):
    """HTTP 429 persisted through every back-off wait."""


class ServerError(JQuantsError):
    """HTTP 5xx persisted through every retry."""


class TransportError(JQuantsError):
    """The connection failed (refused, dropped, timed out) on every try."""


class ResponseFormatError(JQuantsError):
    """A successful status with a body that is not the V2 envelope."""


class BrokenBodyError(ResponseFormatError):
    """A successful status with a body that is not JSON (retried like a server error)."""


TRANSIENT_ERRORS = (ServerError, RateLimitError, TransportError, BrokenBodyError)


def server_message(body: bytes) -> str:
    """The ``message`` of a JSON error body, else the raw body text (truncated), else ``""``."""
    text = body.decode("utf-8", errors="replace").strip()
    try:
        payload = json.loads(text)
    except ValueError:
        return text[:_BODY_LIMIT]
    if isinstance(payload, dict) and isinstance(payload.get("message"), str):
        return payload["message"]
    return text[:_BODY_LIMIT]


def error_for_status(
    status: int, body: bytes, *, path: str, params: Mapping[str, object], plan: str
) -> JQuantsError:
    """The typed error for a final (not retried, or retries exhausted) non-success response."""
    message = server_message(body)
    context = {"path": path, "params": params, "status": status, "server_message": message}
    if status == 400:
        return BadRequestError("the API rejected the query parameters", **context)
    if status == 401 or (status == 403 and "api key" in message.lower()):
        return AuthError(
            "the API key was refused: it is invalid, expired or deleted; issue a new key in the "
            "J-Quants dashboard (API Keys) and set JQUANTS_API_KEY",
            **context,
        )
    if status == 403:
        return PlanError(
            f"access forbidden: the {plan!r} plan most likely lacks this endpoint or the requested "
            f"date range (or the path is not a V2 path); check JQUANTS_PLAN and the plan's "
            f"history window",
            **context,
        )
    if status == 429:
        return RateLimitError(
            "rate limit still exceeded after every back-off wait (the API may block a key for "
            "about 5 minutes after sustained excess); wait and re-run",
            **context,
        )
    if status >= 500:
        return ServerError("the API kept failing with a server error", **context)
    return JQuantsError("unexpected HTTP status", **context)
