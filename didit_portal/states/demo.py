"""The end-user demo: one click creates a verification link and opens it (sandbox installations only).

In live mode every Didit session costs money and this page is public, so the demo refuses there; operators create
real links through the business API.
"""

from __future__ import annotations

import logging
import secrets
from urllib.parse import urlsplit

import reflex as rx

from didit_portal.config import get_settings
from didit_portal.db import get_engine
from didit_portal.didit.errors import DiditError
from didit_portal.didit.factory import client_from_settings
from didit_portal.services.links.verification import create_verification, verify_url

log = logging.getLogger(__name__)


class DemoState(rx.State):
    """Starts a demo verification."""

    demo_error: str = ""
    demo_busy: bool = False

    @rx.event(background=True)
    async def start_demo(self):  # noqa: ANN201 -- Reflex background handlers yield/return event specs
        """Create a fresh verification for a throw-away ``vendor_data`` and go to its page."""
        async with self:
            if self.demo_busy:
                return None
            self.demo_busy = True
            self.demo_error = ""
        settings = get_settings()
        if not settings.is_sandbox:
            async with self:
                self.demo_busy = False
                self.demo_error = "The demo runs only on sandbox installations."
            return None
        try:
            async with client_from_settings(settings) as client:
                link, _ = await create_verification(get_engine(), client, vendor_data=f"demo-{secrets.token_hex(6)}")
        except DiditError as exc:
            log.warning("demo verification could not be created: %s", type(exc).__name__)
            async with self:
                self.demo_busy = False
                self.demo_error = "The verification service is not reachable right now. Please try again."
            return None
        async with self:
            self.demo_busy = False
        # Same-origin path only: the page never redirects off-site.
        return rx.redirect(urlsplit(verify_url(link, settings)).path)
