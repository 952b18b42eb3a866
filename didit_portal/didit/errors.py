"""Typed errors of the Didit client: each keeps Didit's ``detail`` and the HTTP status."""

from __future__ import annotations

from typing import Any


class DiditError(Exception):
    """Didit answered with an error, or could not be reached."""

    def __init__(
        self, message: str, *, status_code: int | None = None, detail: Any = None, request_id: str | None = None
    ) -> None:
        """Create the error.

        Args:
            message: Human-readable summary (never contains keys, tokens or personal data).
            status_code: HTTP status, None when no response arrived.
            detail: Didit's ``detail`` (or the whole DRF validation body).
            request_id: Didit's ``X-Request-Id``, for support tickets.
        """
        super().__init__(message)
        self.status_code = status_code
        self.detail = detail
        self.request_id = request_id


class DiditAuthError(DiditError):
    """401 or 403: credentials rejected or lacking permission (Didit uses both for the same thing)."""


class DiditNotFoundError(DiditError):
    """404: unknown session, or one belonging to another application."""


class DiditValidationError(DiditError):
    """400: invalid parameters; ``detail`` holds the DRF field errors."""


class DiditRateLimitedError(DiditError):
    """429 after the client's own retries; ``retry_after`` in seconds."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        """Create the error.

        Args:
            message: Summary.
            retry_after: Seconds Didit asked us to wait.
            **kwargs: See :class:`DiditError`.
        """
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class DiditUnavailableError(DiditError):
    """5xx, timeout or connection failure after retries: Didit is down or unreachable."""


class CircuitOpenError(DiditUnavailableError):
    """The circuit breaker is open: calls are refused locally until Didit answers again."""
