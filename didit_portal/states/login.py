"""State of the ``/login`` page: which step to show and the (generic) message after a refused attempt.

The page never handles a password or a code itself: the forms post natively to ``/api/auth/*``, which redirect
back here with ``?step=`` / ``?error=`` on anything but success (``error=wait``: the sign-in throttle refused
the attempt; on the ``change`` step, the password change's refusal code). This state only reads those query values
(against fixed lists, so nothing the URL says is echoed into the page) and whether the visitor is signed in.
"""

from __future__ import annotations

import reflex as rx

from didit_portal import routes
from didit_portal.db import writing
from didit_portal.models import StaffUser
from didit_portal.services.access.signin import GENERIC_ERROR, THROTTLED_ERROR, safe_next, session_stage
from didit_portal.states.account import password_error
from didit_portal.states.base import PUBLIC, StaffState, requires

#: The steps of the sign-in page (``change``: a new password is owed before anything else).
STEPS = ("password", "totp", "enrol", "change")
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
    async def load(self) -> None:
        """Read ``step``, ``error`` and ``next`` from the URL; refresh who is signed in."""
        query = self.router.url.query_parameters
        step = query.get("step", "password")
        self.step = step if step in STEPS else "password"
        self.next_path = safe_next(query.get("next"), routes.ADMIN)
        principal = self._principal()
        self.totp_enabled = False
        with writing() as db:
            if principal is not None:
                user = db.get(StaffUser, principal.user_id)
                self.totp_enabled = bool(user and user.totp_enabled)
            elif self.step == "password" and session_stage(db, self._session_token())[1] == "change":
                self.step = "change"  # a session that owes a new password (sent here by a page's access gate)
        self.error = _message(self.step, query.get("error"))
        if principal is None:
            await self._forget_staff_pages()  # signed out: no page of this tab keeps what it showed


def _message(step: str, code: str | None) -> str:
    # Only fixed texts: nothing the URL says is shown.
    if step == "change":
        return password_error(code)
    if code == "wait":
        return THROTTLED_ERROR
    if code == "1":
        return CODE_ERROR if step != "password" else GENERIC_ERROR
    return ""
