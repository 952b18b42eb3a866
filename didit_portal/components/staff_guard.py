"""Pieces every staff page uses: the 403 wrapper, the sign-out control, and native forms to backend routes.

Sign-in and sign-out are plain HTML form posts to ``/api/auth/*`` (not websocket events): the route sets or
clears the HttpOnly cookie and redirects, and the full page load that follows opens a new websocket carrying
the new cookie. No page script ever sees the token.
"""

from __future__ import annotations

from typing import Any

import reflex as rx
from reflex_base.constants import Dirs
from reflex_base.vars import VarData
from reflex_base.vars.base import Var
from reflex_components_core.el.elements.base import BaseHTML

from didit_portal import routes
from didit_portal.states.base import StaffState


def backend_url(path: str) -> Var[str]:
    """The absolute URL of a backend route, as the browser must call it.

    In prod (one port) this is the page's own origin; in dev the backend listens on its own port. Reflex's
    ``getBackendURL`` resolves both the way its websocket does.

    Args:
        path: Route path, a :mod:`didit_portal.routes` constant such as ``routes.API_AUTH_LOGIN``.

    Returns:
        A string Var evaluated in the browser.
    """
    return Var(
        _js_expr=f"(getBackendURL(env.PING).origin + {path!r})",
        _var_data=VarData(
            imports={
                "$/env.json": [rx.ImportVar(tag="env", is_default=True)],
                f"$/{Dirs.STATE_PATH}": [rx.ImportVar(tag="getBackendURL")],
            }
        ),
    ).to(str)


class NativeForm(BaseHTML):
    """A ``<form>`` the browser submits itself (``rx.el.form`` always prevents the default submit)."""

    tag = "form"

    #: Where to post.
    action: Var[str]
    #: ``post``.
    method: Var[str]


def native_form(*children: rx.Component, action: str, **props: Any) -> rx.Component:
    """A form that POSTs to a backend route with a full page navigation.

    Args:
        *children: Fields and the submit button.
        action: Backend route path (a :mod:`didit_portal.routes` constant).
        **props: More props (``custom_attrs``, styling).

    Returns:
        The form component.
    """
    return NativeForm.create(*children, action=backend_url(action), method="post", **props)


def logout_control() -> rx.Component:
    """The header's "signed in as … / Account / Sign out" control, shown only while signed in.

    Returns:
        The control (``data-testid="logout-submit"`` on the button, ``account-link`` on the account page's link).
    """
    return rx.cond(
        StaffState.is_signed_in,
        native_form(
            rx.hstack(
                # Hidden on phones, where the header has room for the sign-out button only.
                rx.text(
                    StaffState.staff_email,
                    size="2",
                    color_scheme="gray",
                    display=rx.breakpoints(initial="none", sm="block"),
                    custom_attrs={"data-testid": "staff-email"},
                ),
                # Every staff member's own account page (change password).
                rx.link("Account", href=routes.ADMIN_ACCOUNT, size="2", custom_attrs={"data-testid": "account-link"}),
                # A submit button of the native form: the browser posts it, no event handler involved.
                rx.button(
                    "Sign out", type="submit", size="1", variant="soft", custom_attrs={"data-testid": "logout-submit"}
                ),
                align="center",
                spacing="3",
            ),
            action=routes.API_AUTH_LOGOUT,
            custom_attrs={"data-testid": "logout-form"},
        ),
    )


def staff_only(*children: rx.Component) -> rx.Component:
    """Render a staff page's content only for an allowed, signed-in user; the 403 message otherwise.

    Pair with ``on_load=StaffState.check_access(min_role)``. This is presentation only: the data behind the page
    must come from handlers that call ``_guard`` / ``_require``.

    Args:
        *children: The page content.

    Returns:
        The guarded content.
    """
    return rx.cond(
        StaffState.access_denied,
        rx.callout.root(
            rx.callout.icon(rx.icon("shield-x")),
            rx.callout.text("403 — your role does not allow this page."),
            color_scheme="red",
            variant="surface",
            custom_attrs={"data-testid": "access-denied"},
        ),
        rx.cond(
            StaffState.is_signed_in,
            rx.fragment(didit_unreachable_banner(), *children),
            rx.center(rx.spinner(size="3"), padding="3rem"),
        ),
    )


def didit_unreachable_banner() -> rx.Component:
    """The warning shown while the portal holds its calls to Didit back (circuit breaker open).

    Returns:
        A callout (``data-testid="didit-unreachable"``), rendered only while Didit is unreachable.
    """
    return rx.cond(
        StaffState.didit_unreachable,
        rx.callout.root(
            rx.callout.icon(rx.icon("cloud-off")),
            rx.callout.text(
                "Didit is not answering, so the portal has paused its calls to it for now. Decisions sent "
                "meanwhile fail and can be sent again later; webhooks are still received."
            ),
            color_scheme="amber",
            variant="surface",
            role="status",
            margin_bottom="1rem",
            custom_attrs={"data-testid": "didit-unreachable"},
        ),
    )
