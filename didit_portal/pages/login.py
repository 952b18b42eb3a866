"""Staff sign-in: email + password, then (when enrolled or required) a TOTP code or TOTP enrolment.

The forms post natively to the backend (``/api/auth/login``, ``/api/auth/totp``, ``/api/auth/totp/enrol``):
the route sets the HttpOnly session cookie and redirects, so neither the password nor the session token ever
passes through page state or scripts.
"""

from __future__ import annotations

import reflex as rx

from didit_portal import routes
from didit_portal.components.layout import layout
from didit_portal.components.staff_guard import backend_url, native_form
from didit_portal.pages.account import password_form
from didit_portal.states.login import LoginState

TITLE = "Staff sign-in — Didit Portal"


def _error() -> rx.Component:
    return rx.cond(
        LoginState.error != "",
        rx.callout.root(
            rx.callout.icon(rx.icon("circle-alert")),
            rx.callout.text(LoginState.error),
            color_scheme="red",
            variant="surface",
            role="alert",
            custom_attrs={"data-testid": "login-error"},
        ),
    )


def _field(label: str, control: rx.Component) -> rx.Component:
    return rx.el.label(
        rx.vstack(rx.text(label, size="2", weight="medium"), control, spacing="1", width="100%"), width="100%"
    )


def _next_field() -> rx.Component:
    return rx.el.input(type="hidden", name="next", value=LoginState.next_path)


def _submit(label: str, testid: str) -> rx.Component:
    # Disabled until the page's on_load has run (Reflex flips ``is_hydrated`` after it): before that the hidden
    # ``next`` field still holds its default, and a quick submit would send the user to the queue instead of the
    # page that asked them to sign in.
    return rx.button(
        label,
        type="submit",
        size="3",
        width="100%",
        disabled=rx.cond(LoginState.is_hydrated, False, True),
        custom_attrs={"data-testid": testid},
    )


def _password_form() -> rx.Component:
    return native_form(
        rx.vstack(
            _field(
                "Email",
                rx.input(
                    name="email",
                    type="email",
                    required=True,
                    auto_complete="username",
                    size="3",
                    width="100%",
                    custom_attrs={"data-testid": "login-email"},
                ),
            ),
            _field(
                "Password",
                rx.input(
                    name="password",
                    type="password",
                    required=True,
                    auto_complete="current-password",
                    size="3",
                    width="100%",
                    custom_attrs={"data-testid": "login-password"},
                ),
            ),
            _next_field(),
            _submit("Sign in", "login-submit"),
            spacing="4",
            width="100%",
        ),
        action=routes.API_AUTH_LOGIN,
        custom_attrs={"data-testid": "login-form"},
    )


def _code_input() -> rx.Component:
    return _field(
        "Six-digit code from your authenticator app",
        rx.input(
            name="code",
            inputmode="numeric",
            pattern="[0-9 ]*",
            auto_complete="one-time-code",
            required=True,
            size="3",
            width="100%",
            custom_attrs={"data-testid": "login-totp"},
        ),
    )


def _totp_form() -> rx.Component:
    return native_form(
        rx.vstack(
            rx.text("Your account uses a second factor.", size="3"),
            _code_input(),
            _next_field(),
            _submit("Verify", "totp-submit"),
            spacing="4",
            width="100%",
        ),
        action=routes.API_AUTH_TOTP,
        custom_attrs={"data-testid": "totp-form"},
    )


def _enrol_form() -> rx.Component:
    return native_form(
        rx.vstack(
            rx.text(
                "Set up two-factor sign-in: scan this code with an authenticator app (or type the key shown "
                "under it), then enter the code it shows.",
                size="3",
            ),
            rx.image(
                src=backend_url(routes.API_AUTH_TOTP_SETUP),
                alt="QR code for your authenticator app",
                width="15rem",
                custom_attrs={"data-testid": "totp-qr"},
            ),
            _code_input(),
            _next_field(),
            _submit("Turn on two-factor sign-in", "enrol-submit"),
            spacing="4",
            width="100%",
        ),
        action=routes.API_AUTH_TOTP_ENROL,
        custom_attrs={"data-testid": "enrol-form"},
    )


def _change_form() -> rx.Component:
    return rx.vstack(
        rx.text(
            "Choose a new password before you go on: the one you signed in with was handed to you, so it must "
            "be replaced.",
            size="3",
            custom_attrs={"data-testid": "password-change-required"},
        ),
        password_form(LoginState.next_path, submit_disabled=rx.cond(LoginState.is_hydrated, False, True)),
        spacing="4",
        width="100%",
    )


def _signed_in() -> rx.Component:
    return rx.vstack(
        rx.text(
            "You are signed in as ",
            rx.text.strong(LoginState.staff_email),
            ".",
            size="3",
            custom_attrs={"data-testid": "login-signed-in"},
        ),
        rx.hstack(
            rx.button(rx.link("Open the review queue", href=routes.ADMIN), as_child=True, size="3"),
            rx.cond(
                ~LoginState.totp_enabled,
                rx.button(
                    rx.link("Set up two-factor sign-in", href=routes.login_url(step="enrol")),
                    as_child=True,
                    size="3",
                    variant="soft",
                ),
            ),
            spacing="3",
            wrap="wrap",
        ),
        spacing="4",
    )


def login() -> rx.Component:
    """The staff sign-in page.

    Returns:
        The page: the form of the current step, or the signed-in panel.
    """
    return layout(
        rx.vstack(
            rx.heading("Staff sign-in", as_="h1", size="8", custom_attrs={"data-testid": "login-title"}),
            _error(),
            rx.card(
                rx.match(
                    LoginState.step,
                    ("totp", _totp_form()),
                    ("enrol", _enrol_form()),
                    ("change", _change_form()),
                    rx.cond(LoginState.is_signed_in, _signed_in(), _password_form()),
                ),
                size="3",
                width="100%",
            ),
            rx.link(
                rx.hstack(rx.icon("arrow-left", size=16), "Back to the home page", align="center", spacing="1"),
                href=routes.HOME,
            ),
            spacing="5",
            max_width="28rem",
            width="100%",
        ),
    )


#: Handlers to run when the page loads.
ON_LOAD = LoginState.load
