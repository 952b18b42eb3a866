"""HTTP-level tests of the sandbox's hosted pages (``didit_portal/sandbox/hosted/``).

Most tests drive the routes over a small in-memory :class:`FakeEngine` that implements the ``HostedEngine``
protocol, so the page layer is tested on its own; the last group runs the main paths through the real
``create_app``, standalone and mounted under the portal's prefix.
"""

from __future__ import annotations

import base64
import html
import json
import re
import uuid
from dataclasses import replace
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from didit_portal.sandbox.app import create_app
from didit_portal.sandbox.config import SandboxConfig
from didit_portal.sandbox.hosted import DEVICE_COOKIE, HOSTED_ROUTES, bind_hosted
from didit_portal.sandbox.hosted.page_state import build_callback_url
from didit_portal.sandbox.types import AuthDataView, EngineError, HostedEngine, HostedSession, OutcomeResult

KYC_STEPS = ["document_selection", "document_front", "document_back", "face"]
WORKFLOW_ID = "0d9e8f7a-6b5c-4d3e-8f21-0a1b2c3d4e5f"
OUTCOME_STATUS = {
    "approve": "Approved",
    "decline": "Declined",
    "review": "In Review",
    "abandon": "Abandoned",
    "expire": "Expired",
}
FINAL = {"Approved", "Declined", "In Review", "Abandoned", "Expired", "Kyc Expired"}


class FakeEngine:
    """An in-memory stand-in for the sandbox engine, with the protocol's documented semantics."""

    def __init__(self) -> None:
        self.sessions: dict[str, HostedSession] = {}
        self.completers: dict[str, str] = {}
        self.auth: dict[str, AuthDataView] = {}
        self.calls: list[tuple[str, Any]] = []
        self.counter = 0

    # -- test helpers --
    def add(self, **overrides: Any) -> HostedSession:
        self.counter += 1
        values: dict[str, Any] = {
            "session_id": str(uuid.uuid4()),
            "session_number": self.counter,
            "session_token": f"tok{self.counter:09d}",
            "status": "Not Started",
            "workflow_id": WORKFLOW_ID,
            "workflow_label": "KYC",
            "steps": list(KYC_STEPS),
            "resubmit_steps": None,
            "callback": None,
            "callback_method": "initiator",
            "language": None,
            "initiator_device": None,
            "armed_outcome": None,
        }
        values.update(overrides)
        session = HostedSession(**values)
        self.sessions[session.session_id] = session
        return session

    def add_auth(self, **overrides: Any) -> AuthDataView:
        self.counter += 1
        values: dict[str, Any] = {
            "session_id": str(uuid.uuid4()),
            "session_token": f"auth{self.counter:08d}",
            "status": "initialized",
            "scopes": ["names", "email", "is_over_18"],
            "vendor_data": "user-42",
            "preview": {
                "names": {"first_name": "Zoë", "family_name": "Núñez", "full_name": "Zoë Núñez", "is_verified": True},
                "email": {"email": "zoe@example.test", "is_verified": True, "is_primary": True},
                "is_over_18": True,
            },
        }
        values.update(overrides)
        view = AuthDataView(**values)
        self.auth[view.session_id] = view
        return view

    def _set(self, session: HostedSession, **changes: Any) -> HostedSession:
        session = replace(session, **changes)
        self.sessions[session.session_id] = session
        return session

    # -- HostedEngine --
    def session_by_token(self, token: str) -> HostedSession | None:
        self.calls.append(("session_by_token", token))
        return next((s for s in self.sessions.values() if s.session_token == token), None)

    def session_by_id(self, session_id: str) -> HostedSession | None:
        return self.sessions.get(session_id)

    def mark_opened(self, session_id: str, device_id: str) -> HostedSession:
        self.calls.append(("mark_opened", device_id))
        session = self.sessions[session_id]
        if session.initiator_device is None:
            session = self._set(session, initiator_device=device_id)
        return session

    def start(self, session_id: str, device_id: str) -> HostedSession:
        self.calls.append(("start", device_id))
        session = self.sessions[session_id]
        if session.status in FINAL:
            raise EngineError(409, {"detail": f"Session is {session.status}."})
        return self._set(session, status="In Progress")

    def finish(self, session_id: str, outcome: str | None, device_id: str) -> OutcomeResult:
        self.calls.append(("finish", (outcome, device_id)))
        session = self.sessions[session_id]
        if session.status in FINAL:
            raise EngineError(409, {"detail": f"Session is {session.status}."})
        status = OUTCOME_STATUS[outcome or session.armed_outcome or "approve"]
        self._set(session, status=status, resubmit_steps=None)
        self.completers[session_id] = device_id
        return OutcomeResult(session_id, session.status, status, ["evt-1"])

    def completer_device(self, session_id: str) -> str | None:
        return self.completers.get(session_id)

    def create_unilink_session(self, workflow_id: str) -> HostedSession:
        self.calls.append(("create_unilink_session", workflow_id))
        if workflow_id != WORKFLOW_ID:
            raise EngineError(404, {"detail": "Not found."})
        return self.add(language="es")

    def auth_data_by_token(self, token: str) -> AuthDataView | None:
        return next((v for v in self.auth.values() if v.session_token == token), None)

    def _move_auth(self, session_id: str, allowed: str, status: str) -> AuthDataView:
        view = self.auth[session_id]
        if view.status != allowed:
            raise EngineError(409, {"detail": f"Session is {view.status}."})
        view = replace(view, status=status)
        self.auth[session_id] = view
        return view

    def auth_data_retrieve(self, session_id: str) -> AuthDataView:
        return self._move_auth(session_id, "initialized", "retrieved")

    def auth_data_confirm(self, session_id: str) -> AuthDataView:
        return self._move_auth(session_id, "retrieved", "confirmed")

    def auth_data_decline(self, session_id: str) -> AuthDataView:
        return self._move_auth(session_id, "retrieved", "declined")


def _conforms(engine: HostedEngine) -> HostedEngine:
    """Lets pyright check that FakeEngine satisfies the protocol wherever this is used."""
    return engine


def _pages_app(engine: HostedEngine, config: SandboxConfig) -> Starlette:
    """The hosted pages alone, over the given engine (what ``create_app`` does for the real one)."""
    app = Starlette(routes=HOSTED_ROUTES)
    bind_hosted(app, engine, config)
    return app


@pytest.fixture
def engine() -> FakeEngine:
    return FakeEngine()


@pytest.fixture
def config() -> SandboxConfig:
    return SandboxConfig(api_key="k", public_url="http://testserver")


@pytest.fixture
def app(engine: FakeEngine, config: SandboxConfig) -> Starlette:
    return _pages_app(_conforms(engine), config)


def _client(app: Any) -> httpx.AsyncClient:
    # No lifespan: the pages need no background worker (webhooks stay queued, which the tests read directly).
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


def _state(page_html: str) -> dict[str, Any]:
    match = re.search(r'<script id="sandbox-state" type="application/json">(.*?)</script>', page_html, re.S)
    assert match, "the page embeds its state"
    return json.loads(match.group(1))


async def _post(client: httpx.AsyncClient, path: str, body: Any = None, **headers: str) -> Any:
    return await client.post(
        path,
        content=json.dumps(body if body is not None else {}),
        headers={"Content-Type": "application/json", **headers},
    )


# ---- the verification page ------------------------------------------------------------------------------------


async def test_session_page_renders_sandbox_page_with_hooks_and_state(app: Starlette, engine: FakeEngine) -> None:
    session = engine.add(armed_outcome="decline")
    response = await _client(app).get(f"/session/{session.session_token}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    body = response.text
    assert ">Sandbox<" in body
    for hook in (
        "sandbox-start",
        "sandbox-continue",
        "sandbox-outcome-approve",
        "sandbox-outcome-decline",
        "sandbox-outcome-review",
        "sandbox-outcome-abandon",
        "sandbox-close",
    ):
        assert f'data-testid="{hook}"' in body
    assert body.count('class="step"') == 4
    assert "(scenario: decline)" in body
    state = _state(body)
    assert state["sessionId"] == session.session_id
    assert state["steps"] == KYC_STEPS
    assert state["status"] == "Not Started"
    assert state["armedOutcome"] == "decline"
    assert state["redirectUrl"] is None
    assert state["api"] == f"/session/{session.session_token}/sandbox"
    # Scripts and styles come from the sandbox itself, never from elsewhere.
    assert 'src="/_hosted/static/hosted.js"' in body
    assert "http" not in re.sub(r"<script id=\"sandbox-state\".*?</script>", "", body, flags=re.S).replace(
        'content="width=device-width', ""
    )


async def test_page_security_headers(app: Starlette, engine: FakeEngine) -> None:
    session = engine.add()
    response = await _client(app).get(f"/session/{session.session_token}")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "default-src 'none'" in csp
    assert "frame-ancestors *" in csp
    assert "x-frame-options" not in response.headers
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cache-control"] == "no-store"


async def test_device_cookie_is_httponly_lax_and_first_opener_is_initiator(app: Starlette, engine: FakeEngine) -> None:
    session = engine.add()
    first, second = _client(app), _client(app)
    response = await first.get(f"/session/{session.session_token}")
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{DEVICE_COOKIE}=")
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie or "SameSite=Lax" in cookie
    assert "Path=/" in cookie
    device = first.cookies[DEVICE_COOKIE]
    assert engine.sessions[session.session_id].initiator_device == device
    # A second visit by the same device keeps its cookie (no new Set-Cookie) and the initiator stays.
    assert "set-cookie" not in (await first.get(f"/session/{session.session_token}")).headers
    await second.get(f"/session/{session.session_token}")
    assert second.cookies[DEVICE_COOKIE] != device
    assert engine.sessions[session.session_id].initiator_device == device


async def test_device_cookie_over_https_is_sent_in_cross_site_embeds(engine: FakeEngine) -> None:
    session = engine.add()
    https_app = _pages_app(_conforms(engine), SandboxConfig(api_key="k", public_url="https://sandbox.example"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=https_app), base_url="https://sandbox.example") as c:
        cookie = (await c.get(f"/session/{session.session_token}")).headers["set-cookie"]
    attributes = {part.strip().split("=")[0].lower(): part.strip() for part in cookie.split(";")}
    assert attributes["samesite"].lower() == "samesite=none"
    assert {"secure", "httponly", "partitioned"} <= set(attributes)


async def test_language_route_and_unknown_language(app: Starlette, engine: FakeEngine) -> None:
    session = engine.add()
    client = _client(app)
    response = await client.get(f"/pt-BR/session/{session.session_token}")
    assert response.status_code == 200
    assert '<html lang="pt-BR">' in response.text
    assert (await client.get(f"/es/session/{session.session_token}")).status_code == 200
    # Not a Didit language: this route must not match (so it can never shadow e.g. /v3/session/{id}).
    assert (await client.get(f"/v3/session/{session.session_token}")).status_code == 404
    assert "Sandbox" not in (await client.get(f"/v3/session/{session.session_token}")).text


async def test_unknown_query_parameters_are_ignored(app: Starlette, engine: FakeEngine) -> None:
    session = engine.add()
    response = await _client(app).get(
        f"/session/{session.session_token}?document_camera=back&liveness_camera=front"
        "&document_camera_switch=false&whatever=1"
    )
    assert response.status_code == 200
    assert _state(response.text)["sessionId"] == session.session_id


@pytest.mark.parametrize(
    "path", ["/session/nope12345678", "/es/session/nope12345678", "/session/bad%20token", "/authorize/nope12345678"]
)
async def test_unknown_token_is_a_404_page(app: Starlette, engine: FakeEngine, path: str) -> None:
    engine.add()
    response = await _client(app).get(path)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "Sandbox" in response.text
    assert "frame-ancestors *" in response.headers["content-security-policy"]


async def test_interpolated_values_are_escaped(app: Starlette, engine: FakeEngine) -> None:
    evil = '</script><script>alert("x")</script><b>'
    session = engine.add(workflow_label=evil, armed_outcome=evil, steps=["face", evil])
    body = (await _client(app).get(f"/session/{session.session_token}")).text
    assert evil not in body
    assert "<b>" not in body
    assert html.escape(evil) in body  # the label, shown as text
    assert _state(body)["workflowLabel"] == evil  # and the JSON block still round-trips
    assert body.count("</script>") == 2  # the external script tag and the state block, nothing injected


async def test_final_and_expired_and_resubmitted_states(app: Starlette, engine: FakeEngine) -> None:
    client = _client(app)
    approved = engine.add(status="Approved", callback="https://example.test/done")
    state = _state((await client.get(f"/session/{approved.session_token}")).text)
    assert state["status"] == "Approved"
    # This device became the initiator by opening it, so the state says where it would go; the page's script
    # ignores that on load (an already-final page only shows its status, a sandbox rule).
    assert state["redirectUrl"] == (
        f"https://example.test/done?verificationSessionId={approved.session_id}&status=Approved"
    )
    expired = engine.add(status="Expired")
    assert _state((await client.get(f"/session/{expired.session_token}")).text)["status"] == "Expired"
    resubmitted = engine.add(status="Resubmitted", resubmit_steps=["face"])
    state = _state((await client.get(f"/session/{resubmitted.session_token}")).text)
    assert state["steps"] == ["face"]
    assert state["resubmitted"] is True


# ---- JSON endpoints -----------------------------------------------------------------------------------------


async def test_start_and_finish_flow(app: Starlette, engine: FakeEngine) -> None:
    session = engine.add()
    client = _client(app)
    await client.get(f"/session/{session.session_token}")
    device = client.cookies[DEVICE_COOKIE]
    api = f"/session/{session.session_token}/sandbox"
    response = await _post(client, f"{api}/start")
    assert response.status_code == 200
    assert response.json()["status"] == "In Progress"
    assert response.headers["cache-control"] == "no-store"
    response = await _post(client, f"{api}/finish", {"outcome": "review"})
    assert response.status_code == 200
    assert response.json()["status"] == "In Review"
    assert response.json()["previousStatus"] == "In Progress"
    assert ("finish", ("review", device)) in engine.calls
    assert (await client.get(f"{api}/state")).json()["status"] == "In Review"
    # A second finish is refused by the engine and the refusal passes through.
    response = await _post(client, f"{api}/finish", {"outcome": "approve"})
    assert response.status_code == 409
    assert response.json() == {"detail": "Session is In Review."}


async def test_continue_applies_armed_outcome(app: Starlette, engine: FakeEngine) -> None:
    session = engine.add(armed_outcome="decline")
    client = _client(app)
    response = await _post(client, f"/session/{session.session_token}/sandbox/finish", {"outcome": None})
    assert response.json()["status"] == "Declined"
    assert engine.calls[-1][0] == "finish"
    assert engine.calls[-1][1][0] is None


async def test_state_changing_endpoints_are_post_json_same_origin(app: Starlette, engine: FakeEngine) -> None:
    session = engine.add()
    client = _client(app)
    api = f"/session/{session.session_token}/sandbox"
    assert (await client.get(f"{api}/start")).status_code == 405
    assert (await client.get(f"{api}/finish")).status_code == 405
    assert (await client.post(f"{api}/finish", data={"outcome": "approve"})).status_code == 415
    assert (
        await _post(client, f"{api}/finish", {"outcome": "approve"}, **{"Sec-Fetch-Site": "cross-site"})
    ).status_code == 403
    assert (
        await _post(client, f"{api}/finish", {"outcome": "approve"}, Origin="https://evil.example")
    ).status_code == 403
    assert (await _post(client, f"{api}/finish", {"outcome": "kyc_expire"})).status_code == 400
    assert (
        await client.post(f"{api}/finish", content=b"[1]", headers={"Content-Type": "application/json"})
    ).status_code == 400
    assert engine.sessions[session.session_id].status == "Not Started"  # nothing above changed anything
    ok = await _post(client, f"{api}/start", **{"Sec-Fetch-Site": "same-origin", "Origin": "http://testserver"})
    assert ok.status_code == 200


async def test_json_endpoints_are_token_scoped(app: Starlette, engine: FakeEngine) -> None:
    mine, other = engine.add(), engine.add()
    client = _client(app)
    assert (await client.get("/session/unknown00000/sandbox/state")).status_code == 404
    assert (await client.get("/session/unknown00000/sandbox/state")).json() == {"detail": "Not found."}
    assert (await _post(client, "/session/unknown00000/sandbox/finish", {"outcome": "approve"})).status_code == 404
    state = (await client.get(f"/session/{mine.session_token}/sandbox/state")).json()
    assert state["sessionId"] == mine.session_id
    assert other.session_id not in json.dumps(state)
    assert other.session_token not in json.dumps(state)


# ---- callback redirect ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "initiator_redirected", "completer_redirected"),
    [("initiator", True, False), ("completer", False, True), ("both", True, True)],
)
async def test_callback_method_selects_device(
    app: Starlette, engine: FakeEngine, method: str, initiator_redirected: bool, completer_redirected: bool
) -> None:
    session = engine.add(callback="https://portal.example/done?x=1", callback_method=method)
    initiator, completer = _client(app), _client(app)
    await initiator.get(f"/session/{session.session_token}")
    await completer.get(f"/session/{session.session_token}")  # the phone, opened second
    api = f"/session/{session.session_token}/sandbox"
    before = (await initiator.get(f"{api}/state")).json()
    assert before["redirectUrl"] is None  # never before the end
    finished = (await _post(completer, f"{api}/finish", {"outcome": "approve"})).json()
    polled = (await initiator.get(f"{api}/state")).json()
    expected = f"https://portal.example/done?x=1&verificationSessionId={session.session_id}&status=Approved"
    assert polled["redirectUrl"] == (expected if initiator_redirected else None)
    assert finished["redirectUrl"] == (expected if completer_redirected else None)


async def test_no_redirect_after_abandon(app: Starlette, engine: FakeEngine) -> None:
    session = engine.add(callback="https://portal.example/done", callback_method="both")
    client = _client(app)
    await client.get(f"/session/{session.session_token}")
    finished = (await _post(client, f"/session/{session.session_token}/sandbox/finish", {"outcome": "abandon"})).json()
    assert finished["status"] == "Abandoned"
    assert finished["redirectUrl"] is None


async def test_build_callback_url() -> None:
    sid = "3c1f6a9e-8b2d-4e57-9a10-6d4b2c8e7f01"
    assert build_callback_url("https://a.test/done", sid, "In Review") == (
        f"https://a.test/done?verificationSessionId={sid}&status=In%20Review"
    )
    assert build_callback_url("https://a.test/done?next=%2Fx&y=1#frag", sid, "Approved") == (
        f"https://a.test/done?next=%2Fx&y=1&verificationSessionId={sid}&status=Approved#frag"
    )
    assert build_callback_url("myapp://verify/done", sid, "Declined") == (
        f"myapp://verify/done?verificationSessionId={sid}&status=Declined"
    )
    assert build_callback_url("javascript:alert(1)", sid, "Approved") is None
    assert build_callback_url(" JavaScript:alert(1)", sid, "Approved") is None
    assert build_callback_url("data:text/html,x", sid, "Approved") is None
    assert build_callback_url("", sid, "Approved") is None


# ---- UniLink ----------------------------------------------------------------------------------------------------


async def test_unilink_creates_session_and_redirects(app: Starlette, engine: FakeEngine) -> None:
    client = _client(app)
    b64 = base64.b64encode(WORKFLOW_ID.encode()).decode()
    response = await client.get(f"/u/{b64}?document_camera=back")
    assert response.status_code == 303
    created = next(s for s in engine.sessions.values())
    assert response.headers["location"] == f"/es/session/{created.session_token}?document_camera=back"
    assert ("create_unilink_session", WORKFLOW_ID) in engine.calls
    # URL-safe base64 without padding works too, and the page then opens normally.
    response = await client.get(f"/u/{b64.rstrip('=')}", follow_redirects=True)
    assert response.status_code == 200
    assert len(engine.sessions) == 2
    assert _state(response.text)["sessionId"] in engine.sessions


async def test_unilink_errors(app: Starlette, engine: FakeEngine) -> None:
    client = _client(app)
    assert (await client.get("/u/not-base64!")).status_code == 404
    assert (await client.get("/u/" + base64.b64encode(b"not a uuid").decode())).status_code == 404
    unknown = base64.b64encode(str(uuid.uuid4()).encode()).decode()
    response = await client.get(f"/u/{unknown}")
    assert response.status_code == 404  # the engine's refusal, shown as a page
    assert "Not found." in response.text
    assert not engine.sessions


# ---- mounted under a prefix ---------------------------------------------------------------------------------


async def test_pages_work_under_a_mount_prefix(engine: FakeEngine) -> None:
    config = SandboxConfig(api_key="k", public_url="http://testserver/didit-sandbox")
    inner = _pages_app(engine, config)
    app = Starlette(routes=[Mount("/didit-sandbox", app=inner)])
    client = _client(app)
    session = engine.add(callback="https://portal.example/done")
    response = await client.get(f"/didit-sandbox/session/{session.session_token}")
    assert response.status_code == 200
    assert 'src="/didit-sandbox/_hosted/static/hosted.js"' in response.text
    assert 'href="/didit-sandbox/_hosted/static/sandbox.css"' in response.text
    assert "Path=/didit-sandbox" in response.headers["set-cookie"]
    state = _state(response.text)
    assert state["api"] == f"/didit-sandbox/session/{session.session_token}/sandbox"
    assert (await client.get("/didit-sandbox/_hosted/static/hosted.js")).status_code == 200
    assert (await client.get("/didit-sandbox/_hosted/static/sandbox.css")).status_code == 200
    assert (await client.get(f"{state['api']}/state")).json()["sessionId"] == session.session_id
    assert (
        (await _post(client, f"{state['api']}/finish", {"outcome": "approve"}))
        .json()["redirectUrl"]
        .startswith("https://portal.example/done?verificationSessionId=")
    )
    # The unprefixed path is not served by the mounted sandbox.
    assert (await client.get(f"/session/{session.session_token}")).status_code == 404
    b64 = base64.b64encode(WORKFLOW_ID.encode()).decode()
    assert (await client.get(f"/didit-sandbox/u/{b64}")).headers["location"].startswith("/didit-sandbox/es/session/")
    auth = engine.add_auth()
    page = (await client.get(f"/didit-sandbox/authorize/{auth.session_token}")).text
    assert f'action="/didit-sandbox/authorize/{auth.session_token}/confirm"' in page
    response = await client.post(f"/didit-sandbox/authorize/{auth.session_token}/confirm")
    assert response.headers["location"] == f"/didit-sandbox/authorize/{auth.session_token}"


async def test_static_assets_are_served(app: Starlette) -> None:
    client = _client(app)
    js = await client.get("/_hosted/static/hosted.js")
    assert js.status_code == 200
    assert "didit:completed" in js.text
    assert (await client.get("/_hosted/static/missing.js")).status_code == 404


# ---- Auth + Data phone page -----------------------------------------------------------------------------------


async def test_authorize_page_is_the_scan_and_lists_scopes(app: Starlette, engine: FakeEngine) -> None:
    view = engine.add_auth()
    response = await _client(app).get(f"/authorize/{view.session_token}")
    assert response.status_code == 200
    assert engine.auth[view.session_id].status == "retrieved"
    body = response.text
    assert "Sandbox" in body
    assert "Your name" in body
    assert "Your email address" in body
    assert "Whether you are over 18" in body
    assert "Zoë Núñez" in body
    assert "zoe@example.test" in body
    assert 'data-testid="sandbox-share-confirm"' in body
    assert 'data-testid="sandbox-share-decline"' in body
    assert 'data-status="retrieved"' in body
    assert "frame-ancestors *" in response.headers["content-security-policy"]
    assert response.headers["cache-control"] == "no-store"


async def test_authorize_confirm_and_decline(app: Starlette, engine: FakeEngine) -> None:
    client = _client(app)
    confirm, decline = engine.add_auth(), engine.add_auth()
    await client.get(f"/authorize/{confirm.session_token}")
    response = await client.post(f"/authorize/{confirm.session_token}/confirm")
    assert response.status_code == 303
    assert response.headers["location"] == f"/authorize/{confirm.session_token}"
    assert engine.auth[confirm.session_id].status == "confirmed"
    page = (await client.get(f"/authorize/{confirm.session_token}")).text
    assert 'data-status="confirmed"' in page
    assert 'class="actions" hidden' in page  # no buttons once answered
    # A second answer is a harmless no-op that shows the current state.
    assert (await client.post(f"/authorize/{confirm.session_token}/decline")).status_code == 303
    assert engine.auth[confirm.session_id].status == "confirmed"
    await client.get(f"/authorize/{decline.session_token}")
    await client.post(f"/authorize/{decline.session_token}/decline")
    assert engine.auth[decline.session_id].status == "declined"


async def test_authorize_expired_escaping_and_csrf(app: Starlette, engine: FakeEngine) -> None:
    client = _client(app)
    expired = engine.add_auth(status="expired")
    page = (await client.get(f"/authorize/{expired.session_token}")).text
    assert 'data-status="expired"' in page
    assert "expired" in page.lower()
    assert engine.auth[expired.session_id].status == "expired"
    evil = engine.add_auth(
        vendor_data="<img src=x>",
        preview={"names": {"first_name": "<script>x</script>"}},
        scopes=["names", "<i>odd</i>"],
    )
    page = (await client.get(f"/authorize/{evil.session_token}")).text
    assert "<script>x" not in page
    assert "<img src=x>" not in page
    assert "<i>odd" not in page
    assert "&lt;script&gt;x&lt;/script&gt;" in page
    response = await client.post(f"/authorize/{evil.session_token}/confirm", headers={"Origin": "https://evil.example"})
    assert response.status_code == 403
    assert engine.auth[evil.session_id].status == "retrieved"
    assert (await client.post(f"/authorize/{evil.session_token}/other")).status_code == 404
    assert (await client.get(f"/authorize/{evil.session_token}/confirm")).status_code == 405


# ---- through the real sandbox app (create_app), standalone and under the portal's prefix -----------------------

API_KEY = "sbx_hosted_pages_key"
KYC_WORKFLOW = "3f6b2c1a-8d4e-4a7b-9c2d-1e0f5a6b7c01"  # preloaded "kyc" (didit_portal.sandbox.model.workflow_defs)


def _real_app(tmp_path: Any, prefix: str = "") -> tuple[Starlette, Any]:
    config = SandboxConfig(api_key=API_KEY, public_url=f"http://testserver{prefix}", db_path=tmp_path / "sbx.db")
    sandbox = create_app(config)
    app = Starlette(routes=[Mount(prefix, app=sandbox)]) if prefix else sandbox
    return app, sandbox.state.engine


async def _create(client: httpx.AsyncClient, prefix: str = "", **body: Any) -> dict[str, Any]:
    response = await client.post(
        f"{prefix}/v3/session/", json={"workflow_id": KYC_WORKFLOW, **body}, headers={"x-api-key": API_KEY}
    )
    assert response.status_code == 201, response.text
    return response.json()


@pytest.mark.parametrize("prefix", ["", "/didit-sandbox"])
async def test_real_app_hosted_flow(tmp_path: Any, prefix: str) -> None:
    app, real_engine = _real_app(tmp_path, prefix)
    initiator, phone = _client(app), _client(app)
    created = await _create(initiator, prefix, callback="https://portal.example/done?a=1", callback_method="initiator")
    url = created["url"]
    assert url.startswith(f"http://testserver{prefix}/session/")
    page = await initiator.get(url.removeprefix("http://testserver") + "?document_camera=back")
    assert page.status_code == 200
    assert f'src="{prefix}/_hosted/static/hosted.js"' in page.text
    state = _state(page.text)
    assert state["sessionId"] == created["session_id"]
    assert state["steps"] == KYC_STEPS
    assert state["api"] == f"{prefix}/session/{created['session_token']}/sandbox"
    assert (await initiator.get(f"{prefix}/_hosted/static/sandbox.css")).status_code == 200

    await phone.get(url.removeprefix("http://testserver"))
    assert (await _post(phone, f"{state['api']}/start")).json()["status"] == "In Progress"
    finished = await _post(phone, f"{state['api']}/finish", {"outcome": "review"})
    assert finished.status_code == 200, finished.text
    assert finished.json()["status"] == "In Review"
    assert finished.json()["redirectUrl"] is None  # the phone is not the initiator
    # The webhook event was enqueued before the page was told (it posts didit:completed only after this answer).
    events = real_engine.sessions.webhook_log(created["session_id"])
    assert [e["status"] for e in events] == ["In Progress", "In Review"]
    polled = (await initiator.get(f"{state['api']}/state")).json()
    assert polled["redirectUrl"] == (
        f"https://portal.example/done?a=1&verificationSessionId={created['session_id']}&status=In%20Review"
    )
    decision = (
        await initiator.get(f"{prefix}/v3/session/{created['session_id']}/decision/", headers={"x-api-key": API_KEY})
    ).json()
    assert decision["status"] == "In Review"
    # Finished: the engine refuses another outcome and the page endpoint passes the 409 through.
    assert (await _post(phone, f"{state['api']}/finish", {"outcome": "approve"})).status_code == 409


async def test_real_app_routes_do_not_shadow_the_api(tmp_path: Any) -> None:
    app, _ = _real_app(tmp_path)
    client = _client(app)
    created = await _create(client)
    # /{lang}/session/{token} must not catch /v3/session/{id} (slashless v3 paths are the API's 404).
    response = await client.get(f"/v3/session/{created['session_id']}", headers={"x-api-key": API_KEY})
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/json")
    assert (
        await client.get(f"/v3/session/{created['session_id']}/", headers={"x-api-key": API_KEY})
    ).status_code == 200
    assert (await client.get("/session/doesnotexist")).status_code == 404
    assert (await client.get(f"/es/session/{created['session_token']}")).status_code == 200


async def test_real_app_unilink_expired_and_resubmitted(tmp_path: Any) -> None:
    app, _ = _real_app(tmp_path)
    client = _client(app)
    b64 = base64.b64encode(KYC_WORKFLOW.encode()).decode()
    response = await client.get(f"/u/{b64}", follow_redirects=True)
    assert response.status_code == 200
    assert _state(response.text)["status"] == "Not Started"

    expired = await _create(client, vendor_data="expired-user")
    control = {"x-api-key": API_KEY}  # the control API takes the sandbox's key
    expire = await client.post(
        f"/sandbox/sessions/{expired['session_id']}/outcome", json={"outcome": "expire"}, headers=control
    )
    assert expire.json()["status"] == "Expired"
    assert _state((await client.get(f"/session/{expired['session_token']}")).text)["status"] == "Expired"

    redo = await _create(client, vendor_data="redo-user")
    await client.post(f"/sandbox/sessions/{redo['session_id']}/outcome", json={"outcome": "decline"}, headers=control)
    response = await client.patch(
        f"/v3/session/{redo['session_id']}/update-status/",
        headers={"x-api-key": API_KEY},
        json={
            "new_status": "Resubmitted",
            "nodes_to_resubmit": [{"node_id": "feature_liveness", "feature": "LIVENESS"}],
        },
    )
    assert response.status_code == 200, response.text
    state = _state((await client.get(f"/session/{redo['session_token']}")).text)
    assert state["status"] == "Resubmitted"
    assert state["resubmitted"] is True
    assert state["steps"] == ["face"]
    assert (await _post(client, f"{state['api']}/start")).json()["status"] == "In Progress"
    assert (await _post(client, f"{state['api']}/finish", {"outcome": "approve"})).json()["status"] == "Approved"


async def test_real_app_auth_data_phone_page(tmp_path: Any) -> None:
    app, _ = _real_app(tmp_path)
    client = _client(app)
    response = await client.post(
        "/auth/v2/session/", json={"scope": "names email", "vendor_data": "user-42"}, headers={"x-api-key": API_KEY}
    )
    assert response.status_code == 201, response.text
    created = response.json()
    page = await client.get(created["url"].removeprefix("http://testserver"))
    assert page.status_code == 200
    assert 'data-status="retrieved"' in page.text
    assert "Your name" in page.text
    assert "Your email address" in page.text
    response = await client.post(f"/authorize/{created['session_token']}/confirm")
    assert response.status_code == 303
    assert 'data-status="confirmed"' in (await client.get(f"/authorize/{created['session_token']}")).text
