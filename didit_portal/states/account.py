"""State of ``/admin/account``: a staff member's own account (change password), for every role.

The page never handles a password: its form posts natively to ``POST /api/auth/password``, which redirects back
here with ``?changed=1`` or ``?error=<code>``. This state reads those values against fixed lists (nothing the URL
says is echoed into the page).
"""

from __future__ import annotations

import reflex as rx

from didit_portal.db import reading
from didit_portal.models import StaffUser
from didit_portal.services.access.accounts import MIN_PASSWORD_LENGTH
from didit_portal.services.access.signin import THROTTLED_ERROR
from didit_portal.states.base import StaffState, requires

#: What each refusal code of ``/api/auth/password`` means, for the person who typed the passwords.
PASSWORD_ERRORS = {
    "current": "The current password is not right. Nothing was changed.",
    "short": f"The new password must be at least {MIN_PASSWORD_LENGTH} characters long.",
    "same": "The new password must differ from the current one.",
    "wait": THROTTLED_ERROR,
}


def password_error(code: str | None) -> str:
    """The message for a refusal code from the URL (unknown codes get a generic one).

    Args:
        code: The ``error`` query value, or None.

    Returns:
        The message, or ``""`` without a code.
    """
    if not code:
        return ""
    return PASSWORD_ERRORS.get(code, "The password was not changed. Try again.")


class AccountState(StaffState):
    """The account page: who is signed in, and the outcome of the last password change."""

    #: True after a successful change (``?changed=1``).
    password_changed: bool = False
    password_error: str = ""
    #: Whether the signed-in user has a TOTP second factor (the page offers to set one up otherwise).
    account_totp: bool = False

    @rx.event
    @requires("viewer")
    def load(self) -> None:
        """Page load: check access, then read ``changed`` / ``error`` from the URL."""
        principal = self._guard("viewer")
        if principal is None:
            return
        query = self.router.url.query_parameters
        self.password_changed = query.get("changed") == "1"
        self.password_error = password_error(query.get("error"))
        with reading() as db:
            user = db.get(StaffUser, principal.user_id)
            self.account_totp = bool(user and user.totp_enabled)
