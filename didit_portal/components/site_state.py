"""Site-wide facts the pages show, computed on the backend.

Only derived, non-secret values reach the browser: the mode (sandbox or live), never keys, URLs with
credentials or secrets.
"""

from __future__ import annotations

import reflex as rx

from didit_portal.config import get_settings


class SiteState(rx.State):
    """Read-only installation facts for the shared layout and the home page."""

    @rx.var(cache=True)
    def is_sandbox(self) -> bool:
        """Whether this installation runs against a Didit sandbox instead of Didit itself.

        Returns:
            True in sandbox mode (``DIDIT_MODE=sandbox``, the default without ``DIDIT_API_KEY``).
        """
        return get_settings().is_sandbox
