"""``didit_portal.routes``: the URL builders, and the backend route tables built from its constants."""

from __future__ import annotations

import inspect

import reflex as rx
from fastapi.routing import APIRoute
from starlette.routing import Route

from didit_portal import routes
from didit_portal.api import auth_routes, webhooks
from didit_portal.api.business import data_requests, verifications


def test_page_routes_keep_their_values() -> None:
    # Bookmarks, Didit's callbacks and the business API's clients hold these: a value change breaks them.
    assert (routes.ADMIN_SESSION, routes.VERIFY, routes.VERIFY_DONE, routes.SHARE) == (
        "/admin/sessions/[session_id]",
        "/verify/[token]",
        "/verify/[token]/done",
        "/share/[token]",
    )
    assert (
        routes.API_AUTH_LOGIN,
        routes.API_AUTH_TOTP,
        routes.API_AUTH_TOTP_ENROL,
        routes.API_AUTH_TOTP_SETUP,
        routes.API_AUTH_LOGOUT,
        routes.API_AUTH_ME,
    ) == (
        "/api/auth/login",
        "/api/auth/totp",
        "/api/auth/totp/enrol",
        "/api/auth/totp/setup",
        "/api/auth/logout",
        "/api/auth/me",
    )
    assert (routes.API_WEBHOOK_DIDIT, routes.API_V1, routes.SANDBOX_PREFIX) == (
        "/api/webhooks/didit",
        "/api/v1",
        "/didit-sandbox",
    )


def test_token_paths() -> None:
    assert routes.verify_url_path("abc") == "/verify/abc"
    assert routes.verify_done_path("abc") == "/verify/abc/done"
    assert routes.share_url_path("abc") == "/share/abc"


def test_admin_session_url_takes_a_string_or_a_var() -> None:
    assert routes.admin_session_url("0b9c") == "/admin/sessions/0b9c"
    var = rx.Var("row.session_id").to(str)
    built = routes.admin_session_url(var)
    assert isinstance(built, rx.Var)
    assert str(built) == '("/admin/sessions/"+row.session_id)'


def test_login_url_orders_the_query_and_leaves_the_default_out() -> None:
    assert routes.login_url() == "/login"
    assert routes.login_url(routes.ADMIN) == "/login"  # the login page's default: no ?next=
    assert routes.login_url(step="enrol") == "/login?step=enrol"
    assert routes.login_url("/admin/sessions/a b", step="totp", error="1") == (
        "/login?step=totp&error=1&next=/admin/sessions/a%20b"
    )
    assert routes.login_url("/admin/audit") == "/login?next=/admin/audit"


def test_route_tables_point_at_module_level_handlers() -> None:
    tables = {auth_routes: auth_routes.ROUTES, webhooks: webhooks.ROUTES}
    found = {}
    for module, table in tables.items():
        for route in table:
            assert isinstance(route, Route)
            handler = inspect.unwrap(route.endpoint)
            # Importable by name from its module (not a closure of a builder).
            assert getattr(module, handler.__name__) is route.endpoint, handler
            assert "<locals>" not in handler.__qualname__
            found[route.path] = (sorted(route.methods or ()), handler.__name__)
    assert found == {
        routes.API_AUTH_ME: (["GET", "HEAD"], "me"),
        routes.API_AUTH_LOGIN: (["POST"], "login"),
        routes.API_AUTH_TOTP: (["POST"], "totp_verify"),
        routes.API_AUTH_TOTP_ENROL: (["POST"], "totp_enrol"),
        routes.API_AUTH_TOTP_SETUP: (["GET", "HEAD"], "totp_setup"),
        routes.API_AUTH_LOGOUT: (["POST"], "logout"),
        routes.API_AUTH_PASSWORD: (["POST"], "password"),
        routes.API_WEBHOOK_DIDIT: (["POST"], "receive_didit_webhook"),
    }


def test_business_routers_hold_module_level_handlers() -> None:
    found = {}
    for module in (verifications, data_requests):
        for route in module.router.routes:
            assert isinstance(route, APIRoute)
            assert getattr(module, route.endpoint.__name__) is route.endpoint
            found[route.operation_id] = (route.path, sorted(route.methods))
    assert found == {
        "createVerification": (routes.API_V1_VERIFICATIONS, ["POST"]),
        "getVerification": (routes.API_V1_VERIFICATIONS + "/{id}", ["GET"]),
        "createDataRequest": (routes.API_V1_DATA_REQUESTS, ["POST"]),
        "getDataRequest": (routes.API_V1_DATA_REQUESTS + "/{id}", ["GET"]),
    }
