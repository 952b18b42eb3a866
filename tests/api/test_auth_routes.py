"""``/api/auth/*`` through the real routes: cookie flags and name, renewal, logout, timeouts, Origin, TOTP and its
lock, body caps.

The throttle has its own file (``test_auth_throttle.py``), and so does changing a password
(``test_auth_password.py``). Runs on SQLite and on the machine's PostgreSQL (the ``db_url`` fixture).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from pyotp.totp import TOTP
from sqlmodel import select
from starlette.applications import Starlette

from didit_portal.api.auth_routes import auth_app
from didit_portal.config import Settings
from didit_portal.db import get_engine, session_scope
from didit_portal.models import AuditLog, StaffSession, StaffUser, utcnow
from didit_portal.security import lookup_hash
from didit_portal.services import audit
from didit_portal.services.access import accounts as auth
from didit_portal.services.access import lockout, signin
from tests.auth_helpers import PASSWORD, create_user, enrol_totp, fast_hashing

ORIGIN = "http://portal.test"
FORM = {"Origin": ORIGIN}


@pytest.fixture(autouse=True)
def _fast_hashing() -> Iterator[None]:
    with fast_hashing():
        yield


def _app(url: str, public: str = ORIGIN) -> Starlette:
    settings = Settings(database_url=url, public_base_url=public, portal_data_dir=Path("/nonexistent"))
    return auth_app(settings, get_engine(url))


@pytest.fixture
async def client(db_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=_app(db_url)), base_url=ORIGIN) as c:
        yield c


async def _login(
    client: httpx.AsyncClient, email: str = "rev@example.org", password: str = PASSWORD, **extra: str
) -> httpx.Response:
    return await client.post("/api/auth/login", data={"email": email, "password": password, **extra}, headers=FORM)


def _set_cookie(response: httpx.Response) -> str:
    headers = [v for k, v in response.headers.multi_items() if k == "set-cookie"]
    assert len(headers) == 1, headers
    return headers[0]


def _token(response: httpx.Response) -> str:
    return _set_cookie(response).split(";", 1)[0].split("=", 1)[1]


async def test_login_sets_a_strict_httponly_cookie_and_redirects(db_url: str, client: httpx.AsyncClient) -> None:
    create_user(db_url, "Rev@Example.org", "reviewer")
    response = await _login(client, email="REV@example.org", next="/admin/sessions/abc")
    assert response.status_code == 303
    assert response.headers["location"] == f"{ORIGIN}/admin/sessions/abc"
    cookie = _set_cookie(response)
    parts = {p.strip().split("=")[0].lower() for p in cookie.split(";")}
    assert cookie.startswith(f"{signin.COOKIE_NAME}=")
    assert {"httponly", "path", "samesite"} <= parts and "secure" not in parts
    assert "samesite=strict" in cookie.lower() and "path=/" in cookie.lower()
    token = _token(response)
    assert len(token) >= 43
    me = await client.get("/api/auth/me")
    assert me.json() == {"ok": True, "email": "rev@example.org", "role": "reviewer"}
    with session_scope(get_engine(db_url)) as db:
        assert db.get(StaffSession, lookup_hash(token)) is not None
        assert [r.action for r in db.exec(select(AuditLog))] == ["user.create", "auth.login"]


async def test_https_cookie_is_host_prefixed_and_secure(db_url: str) -> None:
    """Issue 10 item 8 (ASVS V3.3.1, V3.3.3): under https the cookie is ``__Host-`` prefixed, Secure, Path=/ and has
    no Domain, and only that name is read back. Fails on the old code, which named it ``didit_portal_session``."""
    create_user(db_url, "rev@example.org", "reviewer")
    https = "https://portal.test"
    transport = httpx.ASGITransport(app=_app(db_url, public=https))
    async with httpx.AsyncClient(transport=transport, base_url=https) as client:
        response = await client.post(
            "/api/auth/login", data={"email": "rev@example.org", "password": PASSWORD}, headers={"Origin": https}
        )
        assert response.status_code == 303
        cookie = _set_cookie(response)
        attributes = [part.strip().lower() for part in cookie.split(";")[1:]]
        assert cookie.startswith(f"{signin.HOST_COOKIE_NAME}=")
        assert "secure" in attributes and "path=/" in attributes and "httponly" in attributes
        assert not any(a.startswith("domain") for a in attributes)
        assert (await client.get("/api/auth/me")).json()["email"] == "rev@example.org"  # read under that name
        token = _token(response)
    # The plain name is not read under https (a cookie a sibling host could have planted).
    async with httpx.AsyncClient(transport=transport, base_url=https, cookies={signin.COOKIE_NAME: token}) as planted:
        assert (await planted.get("/api/auth/me")).status_code == 401
        logout = await planted.post("/api/auth/logout", headers={"Origin": https})
        assert _set_cookie(logout).startswith(f"{signin.HOST_COOKIE_NAME}=")  # clears the __Host- cookie


async def test_login_renews_the_token_and_ends_the_old_session(db_url: str, client: httpx.AsyncClient) -> None:
    create_user(db_url, "rev@example.org", "reviewer")
    first = _token(await _login(client))
    second = _token(await _login(client))
    assert first != second
    with session_scope(get_engine(db_url)) as db:
        assert signin.principal_from_token(db, first) is None
        assert signin.principal_from_token(db, second) is not None


async def test_failures_are_generic_and_never_set_a_session(db_url: str, client: httpx.AsyncClient) -> None:
    create_user(db_url, "rev@example.org", "reviewer")
    wrong = await _login(client, password="not the password")
    unknown = await _login(client, email="ghost@example.org")
    for response in (wrong, unknown):
        assert response.status_code == 303
        assert response.headers["location"] == f"{ORIGIN}/login?error=1"
        assert "Max-Age=0" in _set_cookie(response) or "expires=" in _set_cookie(response).lower()
    json_wrong = await client.post(
        "/api/auth/login", json={"email": "rev@example.org", "password": "nope nope"}, headers=FORM
    )
    json_unknown = await client.post(
        "/api/auth/login", json={"email": "x@example.org", "password": "nope nope"}, headers=FORM
    )
    assert json_wrong.status_code == json_unknown.status_code == 401
    assert (
        json_wrong.json()
        == json_unknown.json()
        == {"ok": False, "next": "/login?error=1", "error": signin.GENERIC_ERROR}
    )
    assert (await client.get("/api/auth/me")).status_code == 401


async def test_open_redirect_is_refused(db_url: str, client: httpx.AsyncClient) -> None:
    create_user(db_url, "rev@example.org", "reviewer")
    response = await _login(client, next="//evil.example/x")
    assert response.headers["location"] == f"{ORIGIN}/admin"


async def test_logout_ends_the_server_session(db_url: str, client: httpx.AsyncClient) -> None:
    create_user(db_url, "rev@example.org", "reviewer")
    token = _token(await _login(client))
    response = await client.post("/api/auth/logout", headers=FORM)
    assert response.status_code == 303 and response.headers["location"] == f"{ORIGIN}/login"
    cleared = _set_cookie(response)
    assert cleared.startswith(f'{signin.COOKIE_NAME}=""') or cleared.startswith(f"{signin.COOKIE_NAME}=;")
    # The token is dead on the server even if a copy of the cookie survives.
    replay = httpx.AsyncClient(transport=client._transport, base_url=ORIGIN, cookies={signin.COOKIE_NAME: token})
    async with replay:
        assert (await replay.get("/api/auth/me")).status_code == 401
    with session_scope(get_engine(db_url)) as db:
        assert "auth.logout" in [r.action for r in db.exec(select(AuditLog))]


@pytest.mark.parametrize("expiry", ["idle", "absolute"])
async def test_idle_and_absolute_timeouts(db_url: str, client: httpx.AsyncClient, expiry: str) -> None:
    create_user(db_url, "rev@example.org", "reviewer")
    token = _token(await _login(client))
    assert (await client.get("/api/auth/me")).status_code == 200
    with session_scope(get_engine(db_url)) as db:
        session = db.get(StaffSession, lookup_hash(token))
        assert session is not None
        if expiry == "idle":
            session.last_seen_at = utcnow() - signin.IDLE_TIMEOUT - timedelta(seconds=1)
        else:  # recently active, but logged in 12 h ago
            session.created_at = utcnow() - signin.ABSOLUTE_TIMEOUT
            session.expires_at = utcnow() - timedelta(seconds=1)
        db.add(session)
    assert (await client.get("/api/auth/me")).status_code == 401


@pytest.mark.parametrize(
    "headers", [{}, {"Origin": "http://evil.example"}, {"Origin": "null"}, {"Referer": "http://evil.example/login"}]
)
async def test_cross_origin_posts_are_refused(db_url: str, client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    create_user(db_url, "rev@example.org", "reviewer")
    for path in ("/api/auth/login", "/api/auth/logout", "/api/auth/totp", "/api/auth/totp/enrol"):
        response = await client.post(path, data={"email": "rev@example.org", "password": PASSWORD}, headers=headers)
        assert response.status_code == 403, path
        assert "set-cookie" not in response.headers
    with session_scope(get_engine(db_url)) as db:
        assert db.exec(select(StaffSession)).first() is None


async def test_same_origin_by_host_and_referer_are_accepted(db_url: str, client: httpx.AsyncClient) -> None:
    create_user(db_url, "rev@example.org", "reviewer")
    by_referer = await client.post(
        "/api/auth/login",
        data={"email": "rev@example.org", "password": PASSWORD},
        headers={"Referer": f"{ORIGIN}/login?next=/admin"},
    )
    assert by_referer.status_code == 303
    other_host = httpx.AsyncClient(transport=client._transport, base_url="http://10.0.0.5:3000")
    async with other_host:
        response = await other_host.post(
            "/api/auth/login",
            data={"email": "rev@example.org", "password": PASSWORD},
            headers={"Origin": "http://10.0.0.5:3000"},
        )
    assert response.status_code == 303 and response.headers["location"] == "http://10.0.0.5:3000/admin"


async def test_totp_second_step(db_url: str, client: httpx.AsyncClient) -> None:
    principal = create_user(db_url, "rev@example.org", "reviewer")
    secret = enrol_totp(db_url, principal)
    pending = await _login(client)
    assert pending.headers["location"] == f"{ORIGIN}/login?step=totp"
    pending_token = _token(pending)
    assert (await client.get("/api/auth/me")).status_code == 401  # not signed in until the code
    bad = await client.post("/api/auth/totp", data={"code": "000000"}, headers=FORM)
    assert bad.headers["location"] == f"{ORIGIN}/login?step=totp&error=1"
    good_code = TOTP(secret).now()
    good = await client.post("/api/auth/totp", data={"code": good_code}, headers=FORM)
    assert good.status_code == 303 and good.headers["location"] == f"{ORIGIN}/admin"
    assert _token(good) != pending_token
    assert (await client.get("/api/auth/me")).json()["email"] == "rev@example.org"
    # The code can also come with the password in one JSON request — a new code: each one is good once.
    async with httpx.AsyncClient(transport=client._transport, base_url=ORIGIN) as other:
        replayed = await other.post(
            "/api/auth/login", headers=FORM, json={"email": "rev@example.org", "password": PASSWORD, "totp": good_code}
        )
        assert replayed.json()["ok"] is False
        one_shot = await other.post(
            "/api/auth/login",
            headers=FORM,
            json={"email": "rev@example.org", "password": PASSWORD, "totp": TOTP(secret).at(time.time() + 30)},
        )
        assert one_shot.json()["ok"] is True
    with session_scope(get_engine(db_url)) as db:
        actions = [r.action for r in db.exec(select(AuditLog))]
    assert actions.count("auth.totp_failed") == 2 and actions.count("auth.totp_ok") == 1


async def test_required_totp_enrolment(db_url: str, client: httpx.AsyncClient) -> None:
    principal = create_user(db_url, "rev@example.org", "reviewer")
    with session_scope(get_engine(db_url)) as db:
        auth.set_totp_required(db, value=True, actor=None)
    anonymous_qr = await client.get("/api/auth/totp/setup")
    assert anonymous_qr.status_code == 404
    pending = await _login(client)
    assert pending.headers["location"] == f"{ORIGIN}/login?step=enrol"
    qr = await client.get("/api/auth/totp/setup")
    assert qr.status_code == 200 and qr.headers["content-type"].startswith("image/svg+xml")
    assert qr.headers["cache-control"] == "no-store"
    with session_scope(get_engine(db_url)) as db:
        user = db.get(StaffUser, principal.user_id)
        assert user is not None and user.totp_secret and not user.totp_enabled
        secret = user.totp_secret
    assert " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)) in qr.text
    assert (await client.get("/api/auth/totp/setup")).text == qr.text  # same pending secret on reload
    enrol = await client.post("/api/auth/totp/enrol", data={"code": TOTP(secret).now()}, headers=FORM)
    assert enrol.headers["location"] == f"{ORIGIN}/admin"
    assert (await client.get("/api/auth/me")).status_code == 200
    assert (await client.get("/api/auth/totp/setup")).status_code == 404  # never shown again
    with session_scope(get_engine(db_url)) as db:
        assert "auth.totp_enrolled" in [r.action for r in db.exec(select(AuditLog))]
    assert audit.verify_chain(get_engine(db_url))[0]


async def test_oversized_bodies_are_refused_with_413_before_being_read(db_url: str, client: httpx.AsyncClient) -> None:
    """Issue 10 item 11 (ASVS V2.4.1): the body is read in chunks and refused once past 16 KiB, whatever the headers
    say. Fails on the old code, which read the whole body (every chunk below) before looking at its size."""
    create_user(db_url, "rev@example.org", "reviewer")
    declared = await client.post(
        "/api/auth/login",
        headers=FORM,
        data={"email": "rev@example.org", "password": PASSWORD, "next": "/" + "a" * 20000},
    )
    assert declared.status_code == 413 and "set-cookie" not in declared.headers
    sent: list[int] = []

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: chunked, 1 MiB in 8 KiB pieces
        for _ in range(128):
            sent.append(1)
            yield b"email=" + b"a" * 8186

    for path in ("/api/auth/login", "/api/auth/totp", "/api/auth/password"):
        sent.clear()
        streamed = await client.post(
            path, content=chunks(), headers={**FORM, "Content-Type": "application/x-www-form-urlencoded"}
        )
        assert streamed.status_code == 413, path
        assert len(sent) <= 3, f"{path} read {len(sent)} chunks of a body it refuses"
    with session_scope(get_engine(db_url)) as db:
        assert db.exec(select(StaffSession)).first() is None


async def test_wrong_codes_with_the_right_password_lock_the_account(db_url: str, client: httpx.AsyncClient) -> None:
    """Issue 10 item 1 (ASVS V6.3.1): second-factor failures count on their own and a correct password does not reset
    them, so ``{email, password, totp}`` guesses reach the lock. Fails on the old code, where each correct password
    reset the counter and the right code was still accepted after any number of wrong ones."""
    principal = create_user(db_url, "rev@example.org", "reviewer")
    secret = enrol_totp(db_url, principal)
    wrong = f"{(int(TOTP(secret).now()) + 1) % 1_000_000:06d}"
    for _ in range(lockout.LOCK_AFTER):
        response = await client.post(
            "/api/auth/login", headers=FORM, json={"email": "rev@example.org", "password": PASSWORD, "totp": wrong}
        )
        assert response.json()["ok"] is False
    right = await client.post(
        "/api/auth/login",
        headers=FORM,
        json={"email": "rev@example.org", "password": PASSWORD, "totp": TOTP(secret).now()},
    )
    assert right.json()["ok"] is False  # locked: even the right code is refused now
    with session_scope(get_engine(db_url)) as db:
        user = db.get(StaffUser, principal.user_id)
        assert user is not None and user.totp_failures == lockout.LOCK_AFTER
        assert user.locked_until is not None and user.locked_until > utcnow()
        locks = [r.detail for r in db.exec(select(AuditLog).where(AuditLog.action == "auth.lock"))]
    assert locks == [{"scope": "second_factor", "seconds": 60, "failures": lockout.LOCK_AFTER}]


async def test_signing_in_again_between_code_guesses_gains_nothing(db_url: str, client: httpx.AsyncClient) -> None:
    """Issue 10 item 1: over ``/api/auth/totp``, four wrong codes, a fresh password sign-in and one more wrong code
    lock the account. Fails on the old code (the sign-in reset the count: four guesses per sign-in, for ever)."""
    principal = create_user(db_url, "rev@example.org", "reviewer")
    secret = enrol_totp(db_url, principal)
    wrong = f"{(int(TOTP(secret).now()) + 1) % 1_000_000:06d}"
    assert (await _login(client)).headers["location"] == f"{ORIGIN}/login?step=totp"
    for _ in range(lockout.LOCK_AFTER - 1):
        await client.post("/api/auth/totp", data={"code": wrong}, headers=FORM)
    assert (await _login(client)).headers["location"] == f"{ORIGIN}/login?step=totp"  # the password still works
    await client.post("/api/auth/totp", data={"code": wrong}, headers=FORM)
    assert (await _login(client)).headers["location"] == f"{ORIGIN}/login?error=1"  # now locked
    with session_scope(get_engine(db_url)) as db:
        assert lockout.unlock_user(db, email="rev@example.org")
    assert (await _login(client)).headers["location"] == f"{ORIGIN}/login?step=totp"
    good = await client.post("/api/auth/totp", data={"code": TOTP(secret).now()}, headers=FORM)
    assert good.headers["location"] == f"{ORIGIN}/admin"
    with session_scope(get_engine(db_url)) as db:
        user = db.get(StaffUser, principal.user_id)
        assert user is not None and user.totp_failures == 0  # an accepted code resets the count
        assert "user.unlock" in [r.action for r in db.exec(select(AuditLog))]
