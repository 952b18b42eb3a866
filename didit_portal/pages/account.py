"""``/admin/account``: a staff member's own account — change password (every role).

The password form posts natively to ``POST /api/auth/password`` (the passwords never pass through page state or
scripts); the login page reuses :func:`password_form` for the forced change at a first sign-in.
"""

from __future__ import annotations

import reflex as rx
from reflex_base.vars.base import Var

from didit_portal import routes
from didit_portal.components.layout import staff_layout
from didit_portal.components.staff_guard import native_form, staff_only
from didit_portal.services.access.accounts import MIN_PASSWORD_LENGTH
from didit_portal.states.account import AccountState
from didit_portal.states.base import StaffState

TITLE = "Your account — Didit Portal"
MIN_ROLE = "viewer"


def _password_input(label: str, name: str, autocomplete: str, testid: str, min_length: int = 0) -> rx.Component:
    # type=password masks the entry; paste and password managers are left alone (no autocomplete=off).
    return rx.el.label(
        rx.vstack(
            rx.text(label, size="2", weight="medium"),
            rx.input(
                name=name,
                type="password",
                required=True,
                auto_complete=autocomplete,
                size="3",
                width="100%",
                min_length=min_length,
                custom_attrs={"data-testid": testid},
            ),
            spacing="1",
            width="100%",
        ),
        width="100%",
    )


def password_form(next_path: str | Var[str], *, submit_disabled: bool | Var[bool] = False) -> rx.Component:
    """The change-password form: current and new password, posted natively to the backend.

    Args:
        next_path: Where a forced change goes afterwards (the hidden ``next`` field).
        submit_disabled: Keeps the button disabled (the login page holds it until its state has loaded).

    Returns:
        The form (``data-testid``: ``password-current``, ``password-new``, ``password-submit``).
    """
    return native_form(
        rx.vstack(
            _password_input("Current password", "current_password", "current-password", "password-current"),
            _password_input(
                f"New password (at least {MIN_PASSWORD_LENGTH} characters)",
                "new_password",
                "new-password",
                "password-new",
                min_length=MIN_PASSWORD_LENGTH,
            ),
            rx.el.input(type="hidden", name="next", value=next_path),
            rx.button(
                "Change password",
                type="submit",
                size="3",
                width="100%",
                disabled=submit_disabled,
                custom_attrs={"data-testid": "password-submit"},
            ),
            spacing="4",
            width="100%",
        ),
        action=routes.API_AUTH_PASSWORD,
        width="100%",  # a form inside a stack would otherwise shrink to its fields' own width
        custom_attrs={"data-testid": "password-form"},
    )


def _outcome() -> rx.Component:
    return rx.fragment(
        rx.cond(
            AccountState.password_changed,
            rx.callout.root(
                rx.callout.icon(rx.icon("circle-check")),
                rx.callout.text("Your password was changed. Your other sessions were signed out."),
                color_scheme="green",
                variant="surface",
                role="status",
                custom_attrs={"data-testid": "password-changed"},
            ),
        ),
        rx.cond(
            AccountState.password_error != "",
            rx.callout.root(
                rx.callout.icon(rx.icon("circle-alert")),
                rx.callout.text(AccountState.password_error),
                color_scheme="red",
                variant="surface",
                role="alert",
                custom_attrs={"data-testid": "password-error"},
            ),
        ),
    )


def account_page() -> rx.Component:
    """The account page (any signed-in staff member; anonymous visitors go to sign-in).

    Returns:
        The page.
    """
    return staff_layout(
        staff_only(
            rx.vstack(
                rx.heading("Your account", as_="h1", size="7"),
                rx.text(
                    "Signed in as ", rx.text.strong(StaffState.staff_email), " (", StaffState.staff_role, ").", size="3"
                ),
                _outcome(),
                rx.card(
                    rx.vstack(
                        rx.heading("Change password", as_="h2", size="4"),
                        rx.text(
                            "Changing it signs you out everywhere else; this browser stays signed in.",
                            size="2",
                            color_scheme="gray",
                        ),
                        password_form(routes.ADMIN_ACCOUNT),
                        spacing="3",
                        width="100%",
                    ),
                    size="3",
                    width="100%",
                ),
                rx.cond(
                    ~AccountState.account_totp,
                    rx.link("Set up two-factor sign-in", href=routes.login_url(step="enrol")),
                ),
                spacing="4",
                max_width="32rem",
                width="100%",
            ),
        ),
        current=routes.ADMIN_ACCOUNT,
    )


#: Page ``on_load``: the access gate, then the data (which checks again).
ON_LOAD = [StaffState.check_access(MIN_ROLE), AccountState.load]
