"""State of the ``/login`` page: which step to show and the (generic) message after a refused attempt.

The page never handles a password or a code itself: the forms post natively to ``/api/auth/*``, which redirect
back here with ``?step=`` / ``?error=1`` on anything but success. This state only reads those query values
(against fixed lists, so nothing the URL says is echoed into the page) and whether the visitor is signed in.
"""

from __future__ import annotations

import reflex as rx

from didit_portal import routes
from didit_portal.db import writing
from didit_portal.models import StaffUser
from didit_portal.services.access.signin import GENERIC_ERROR, safe_next
from didit_portal.states.base import PUBLIC, StaffState, requires

#: The steps of the sign-in page.
STEPS = ("password", "totp", "enrol")
CODE_ERROR = "That code was not accepted. Check the time on your device and try again."


class LoginState(StaffState):
    """The sign-in page's step, message and follow-up path."""

    step: str = "password"
    error: str = ""
    next_path: str = routes.ADMIN
    #: For a signed-in visitor: whether they already use a second factor (hides the set-up link).
    totp_enabled: bool = False

    @rx.event
    @requires(PUBLIC)
    def load(self) -> None:
        """Read ``step``, ``error`` and ``next`` from the URL; refresh who is signed in."""
        query = self.router.url.query_parameters
        step = query.get("step", "password")
        self.step = step if step in STEPS else "password"
        failed = query.get("error") == "1"
        self.error = (CODE_ERROR if self.step != "password" else GENERIC_ERROR) if failed else ""
        self.next_path = safe_next(query.get("next"), routes.ADMIN)
        principal = self._principal()
        self.totp_enabled = False
        if principal is not None:
            with writing() as db:
                user = db.get(StaffUser, principal.user_id)
                self.totp_enabled = bool(user and user.totp_enabled)
