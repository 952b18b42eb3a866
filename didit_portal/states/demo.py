"""The end-user demo: one click creates a verification link and opens it (sandbox installations only).

In live mode every Didit session costs money and this page is public, so the demo refuses there; operators create
real links through the business API.

The link is opened with a full page load, not Reflex's in-app navigation (``rx.redirect``): ``/verify/{token}``
then runs under its own document's Content-Security-Policy, which allows framing the hosted URL Didit returned for
that session (``api/security_headers.py``). The handler only publishes the path (:attr:`DemoState.demo_target`);
the page navigates to it (``pages/demo.py``).
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
    #: Path of the verification page just created, which the page opens with a full load ("" until then).
    demo_target: str = ""

    @rx.event(background=True)
    async def start_demo(self) -> None:
        """Create a fresh verification for a throw-away ``vendor_data`` and go to its page."""
        async with self:
            if self.demo_busy:
                return
            self.demo_busy = True
            self.demo_error = ""
            self.demo_target = ""  # unmounts the page's navigator, so the next path mounts it afresh
        settings = get_settings()
        if not settings.is_sandbox:
            async with self:
                self.demo_busy = False
                self.demo_error = "The demo runs only on sandbox installations."
            return
        try:
            async with client_from_settings(settings) as client:
                link, _ = await create_verification(
                    get_engine(), client, vendor_data=f"demo-{secrets.token_hex(6)}", purpose="kyc"
                )
        except DiditError as exc:
            log.warning("demo verification could not be created: %s", type(exc).__name__)
            async with self:
                self.demo_busy = False
                self.demo_error = "The verification service is not reachable right now. Please try again."
            return
        async with self:
            self.demo_busy = False
            # Same-origin path only: the page never navigates off-site.
            self.demo_target = urlsplit(verify_url(link, settings)).path
