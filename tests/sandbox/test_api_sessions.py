"""Contract tests of the v3 sessions API over HTTP.

Didit: https://docs.didit.me/sessions-api/create-session and siblings, and https://docs.didit.me/integration/api-errors;
plus the sandbox's own rules (routes with exact slashes, deterministic ids with ``--seed``).
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest
from sbx_helpers import KEY, ORIGIN, WF, create_session, outcome
from starlette.applications import Starlette
from starlette.routing import Mount

from didit_portal.sandbox.app import create_app
from didit_portal.sandbox.model.decision import NFC_SERIAL
from didit_portal.sandbox.model.features import DECISION_ARRAYS
from didit_portal.sandbox.types import STATUSES

PERMISSION = {"detail": "You do not have permission to perform this action."}
TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{12}$")


def _walk(value: Any, path: str = "") -> list[tuple[str, Any]]:
    out = [(path, value)]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _walk(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _walk(v, f"{path}[{i}]")
    return out


async def test_create_returns_didit_shape(api: httpx.AsyncClient) -> None:
    body = await create_session(
        api, vendor_data="user-42", metadata={"plan": "gold"}, callback="myapp://done", language="es"
    )
    assert set(body) == {
        "session_id",
        "session_number",
        "session_token",
        "url",
        "vendor_data",
        "metadata",
        "status",
        "workflow_id",
        "workflow_version",
        "callback",
        "session_kind",
    }
    assert uuid.UUID(body["session_id"]).version == 4
    assert TOKEN_RE.match(body["session_token"])
    assert body["url"] == f"{ORIGIN}/es/session/{body['session_token']}"
    assert body["status"] == "Not Started"
    assert body["session_number"] == 1
    assert body["callback"] == "myapp://done"
    assert body["session_kind"] == "user"
    second = await create_session(api)
    assert second["session_number"] == 2
    assert second["url"] == f"{ORIGIN}/session/{second['session_token']}"


async def test_every_response_has_a_request_id(api: httpx.AsyncClient) -> None:
    for response in (
        await api.get("/system/healthcheck"),
        await api.get("/v3/session/nope/"),
        await api.post("/v3/session/", json={}),
        await api.get("/v3/sessions"),
    ):
        assert re.match(r"^[0-9a-f]{32}$", response.headers["x-request-id"])


@pytest.mark.parametrize("headers", [{}, {"x-api-key": "wrong"}])
async def test_missing_or_wrong_key_is_403(api: httpx.AsyncClient, headers: dict[str, str]) -> None:
    async with httpx.AsyncClient(transport=api._transport, base_url=ORIGIN, headers=headers) as anon:
        for method, path in (
            ("POST", "/v3/session/"),
            ("GET", "/v3/sessions/"),
            ("GET", "/v3/workflows/"),
            ("GET", f"/v3/session/{uuid.uuid4()}/decision/"),
        ):
            response = await anon.request(method, path, json={} if method == "POST" else None)
            assert response.status_code == 403
            assert response.json() == PERMISSION


async def test_auth_split_gives_401_for_a_wrong_key_only(make_config: Any) -> None:
    app = create_app(make_config(auth_split=True))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=ORIGIN) as c:
        wrong = await c.get("/v3/sessions/", headers={"x-api-key": "nope"})
        assert wrong.status_code == 401
        assert "detail" in wrong.json()
        missing = await c.get("/v3/sessions/")
        assert missing.status_code == 403


async def test_unknown_session_is_404_everywhere(api: httpx.AsyncClient) -> None:
    sid = str(uuid.uuid4())
    for method, path in (
        ("GET", f"/v3/session/{sid}/"),
        ("GET", f"/v3/session/{sid}/decision/"),
        ("PATCH", f"/v3/session/{sid}/update-status/"),
        ("DELETE", f"/v3/session/{sid}/delete/"),
        ("GET", f"/v3/session/{sid}/generate-pdf/"),
        ("GET", f"/v3/sessions/{sid}/reviews/"),
        ("GET", f"/v3/session/{sid}/webhooks/"),
    ):
        response = await api.request(method, path, json={"new_status": "Approved"} if method == "PATCH" else None)
        assert response.status_code == 404, path
        assert response.json() == {"detail": "Not found."}


async def test_slashes_301_and_404(api: httpx.AsyncClient) -> None:
    moved = await api.get("/v3/sessions?limit=2")
    assert moved.status_code == 301
    assert moved.headers["location"] == f"{ORIGIN}/v3/sessions/?limit=2"
    body = await create_session(api)
    for path in (
        "/v3/session",
        f"/v3/session/{body['session_id']}",
        f"/v3/session/{body['session_id']}/decision",
        "/v3/workflows",
        "/v3/session/imports/",
        "/v3/session/imports/abc/errors/",
    ):
        response = await api.get(path)
        assert response.status_code == 404, path
        assert response.json() == {"detail": "Not found."}
    assert (await api.post("/v3/session", json={"workflow_id": WF["kyc"]})).status_code == 404
    assert (await api.post("/v3/session/imports/", json={})).status_code == 404


async def test_validation_errors_use_drf_shapes(api: httpx.AsyncClient) -> None:
    missing = await api.post("/v3/session/", json={})
    assert missing.status_code == 400
    assert missing.json() == {"workflow_id": ["This field is required."]}
    bad = await api.post(
        "/v3/session/",
        json={
            "workflow_id": "not-a-uuid",
            "callback_method": "sideways",
            "language": "xx",
            "metadata": [1],
            "contact_details": {"phone": "12345", "email": "nope"},
            "expected_details": {"date_of_birth": "15/05/1990", "expected_document_types": ["P", "XX"]},
        },
    )
    assert bad.status_code == 400
    errors = bad.json()
    assert errors["callback_method"] == ['"sideways" is not a valid choice.']
    assert errors["language"] == ['"xx" is not a valid choice.']
    assert errors["metadata"] == ["Must be a JSON object."]
    assert set(errors["contact_details"]) == {"phone", "email"}
    assert set(errors["expected_details"]) == {"date_of_birth", "expected_document_types"}
    assert errors["expected_details"]["expected_document_types"] == ['"XX" is not a valid choice.']
    assert (await api.post("/v3/session/", json={"workflow_id": "not-a-uuid"})).json() == {
        "workflow_id": ["Must be a valid UUID."]
    }
    as_list = await api.post("/v3/session/", json=[1, 2])
    assert as_list.status_code == 400 and "non_field_errors" in as_list.json()
    broken = await api.post("/v3/session/", content=b"{nope", headers={"content-type": "application/json"})
    assert broken.status_code == 400 and broken.json()["detail"].startswith("JSON parse error")
    unknown_scenario = await api.post("/v3/session/", json={"workflow_id": WF["kyc"], "sandbox_scenario": "zzz"})
    assert unknown_scenario.json() == {"sandbox_scenario": ["Unknown scenario 'zzz'."]}
    kyb = await api.post(
        "/v3/session/", json={"workflow_id": WF["kyc"], "sandbox_scenario": "decline_kyb_registry_mismatch"}
    )
    assert kyb.status_code == 400 and "sandbox_scenario" in kyb.json()


async def test_document_types_are_normalised(api: httpx.AsyncClient) -> None:
    body = await create_session(api, expected_details={"expected_document_types": ["p", "ID", "P"]})
    decision = (await api.get(f"/v3/session/{body['session_id']}/decision/")).json()
    assert decision["expected_details"]["expected_document_types"] == ["P", "ID"]


async def test_unknown_workflow_registers_kyc_or_400_when_strict(api: httpx.AsyncClient, make_config: Any) -> None:
    wf_id = str(uuid.uuid4())
    body = await create_session(api, workflow_id=wf_id)
    assert body["workflow_id"] == wf_id
    listed = (await api.get("/v3/workflows/")).json()
    assert any(w["uuid"] == wf_id and w["workflow_type"] == "kyc" for w in listed)
    strict = create_app(make_config(strict_workflows=True, db_path=make_config().db_path.with_name("s.db")))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=strict), base_url=ORIGIN, headers={"x-api-key": KEY}
    ) as c:
        refused = await c.post("/v3/session/", json={"workflow_id": str(uuid.uuid4())})
        assert refused.status_code == 400 and "workflow_id" in refused.json()
        assert (await c.post("/v3/session/", json={"workflow_id": WF["kyc"]})).status_code == 201


async def test_vendor_data_idempotency(api: httpx.AsyncClient) -> None:
    first = await create_session(api, vendor_data="user-7", metadata={"v": 1}, callback="https://a.example/1")
    again = await api.post(
        "/v3/session/",
        json={
            "workflow_id": WF["kyc"],
            "vendor_data": "user-7",
            "metadata": {"v": 2},
            "callback": "https://a.example/2",
        },
    )
    assert again.status_code == 201
    second = again.json()
    assert second["session_id"] == first["session_id"]
    assert second["session_token"] == first["session_token"]
    assert second["metadata"] == {"v": 2}
    assert second["callback"] == "https://a.example/2"
    fetched = (await api.get(f"/v3/session/{first['session_id']}/")).json()
    assert fetched["metadata"] == {"v": 2} and fetched["callback"] == "https://a.example/2"
    # Another workflow, or another user, gets a new session.
    assert (await create_session(api, vendor_data="user-7", workflow_id=WF["kyc_aml"]))["session_id"] != first[
        "session_id"
    ]
    assert (await create_session(api, vendor_data="user-8"))["session_id"] != first["session_id"]
    # In Progress is still unfinished: reused, with its real status.
    api.app.state.engine.hosted.start(first["session_id"], "dev-1")
    in_progress = await create_session(api, vendor_data="user-7")
    assert in_progress["session_id"] == first["session_id"] and in_progress["status"] == "In Progress"
    # Once final, never reused.
    assert (await outcome(api, first["session_id"], "approve")).status_code == 200
    fresh = await create_session(api, vendor_data="user-7")
    assert fresh["session_id"] != first["session_id"] and fresh["status"] == "Not Started"


async def test_idempotency_ignores_sessions_pinned_to_an_older_version(api: httpx.AsyncClient) -> None:
    first = await create_session(api, vendor_data="user-v", workflow_id=WF["poa"])
    patched = await api.patch(f"/v3/workflows/{WF['poa']}/", json={"workflow_label": "POA v2"})
    assert patched.status_code == 200 and patched.json()["version"] == first["workflow_version"] + 1
    second = await create_session(api, vendor_data="user-v", workflow_id=WF["poa"])
    assert second["session_id"] != first["session_id"]
    assert second["workflow_version"] == first["workflow_version"] + 1


async def test_get_returns_create_shape_with_callback_method(api: httpx.AsyncClient) -> None:
    body = await create_session(api, callback_method="both")
    got = (await api.get(f"/v3/session/{body['session_id']}/")).json()
    assert got["callback_method"] == "both"
    assert {k: got[k] for k in body} == body


async def test_decision_shape_never_has_null_arrays(api: httpx.AsyncClient) -> None:
    body = await create_session(api, workflow_id=WF["all_features"], vendor_data="u", metadata={"m": 1})
    fresh = (await api.get(f"/v3/session/{body['session_id']}/decision/")).json()
    assert all(fresh[a] == [] for a in DECISION_ARRAYS)  # Not Started: nothing collected yet
    await outcome(api, body["session_id"], "approve")
    decision = (await api.get(f"/v3/session/{body['session_id']}/decision/")).json()
    assert decision["environment"] == "sandbox" and decision["status"] == "Approved"
    for array in DECISION_ARRAYS:
        assert isinstance(decision[array], list)
    list_keys = {
        "warnings",
        "matches",
        "hits",
        "breaches",
        "lifecycle",
        "extra_files",
        "dgs",
        "validations",
        "sections",
        "items",
        "choices",
        "reviews",
        "features",
        "datasets",
        "pep_matches",
        "sanction_matches",
        "warning_matches",
        "adverse_media_matches",
        "linked_entities",
    }
    for path, value in _walk(decision):
        if path.rsplit(".", 1)[-1].split("[")[0] in list_keys and not path.endswith("]"):
            assert isinstance(value, list), f"{path} is {value!r}, not a list"
    assert len(decision["liveness_checks"]) == 2  # LIVENESS and AGE_ESTIMATION nodes
    face = decision["face_matches"][0]
    assert face["score"] == 97.0 and isinstance(face["score"], float)
    nfc = decision["nfc_verifications"][0]
    assert nfc["certificate_summary"]["serial_number"] == NFC_SERIAL
    person = decision["id_verifications"][0]
    assert person["node_id"] == "feature_ocr" and not person["full_name"].isascii()
    assert person["portrait_image"].startswith(f"{ORIGIN}/media/")
    image = await api.get(person["portrait_image"].removeprefix(ORIGIN))
    assert image.status_code == 200 and image.content.startswith(b"\x89PNG")
    assert all(node["warnings"] == [] for a in DECISION_ARRAYS for node in decision[a])
    assert decision["features"][0] == "ID_VERIFICATION"


async def test_only_workflow_features_produce_entries(api: httpx.AsyncClient) -> None:
    body = await create_session(api, workflow_id=WF["poa"])
    await outcome(api, body["session_id"], "approve")
    decision = (await api.get(f"/v3/session/{body['session_id']}/decision/")).json()
    assert [a for a in DECISION_ARRAYS if decision[a]] == ["poa_verifications"]


@pytest.mark.parametrize(
    ("name", "array", "risk", "status"),
    [
        ("decline", "id_verifications", "DOCUMENT_EXPIRED", "Declined"),
        ("review", "face_matches", "LOW_FACE_MATCH_SIMILARITY", "In Review"),
    ],
)
async def test_decline_and_review_warn_on_their_target(
    api: httpx.AsyncClient, name: str, array: str, risk: str, status: str
) -> None:
    body = await create_session(api)
    await outcome(api, body["session_id"], name)
    decision = (await api.get(f"/v3/session/{body['session_id']}/decision/")).json()
    node = decision[array][0]
    assert node["status"] == status
    assert node["warnings"][0]["risk"] == risk
    assert node["warnings"][0]["log_type"] == ("error" if status == "Declined" else "warning")
    if name == "review":
        assert 40 <= node["score"] <= 60
    else:
        assert node["expiration_date"] < "2021"
    others = [n for a in DECISION_ARRAYS for n in decision[a] if n is not node]
    assert all(n["status"] == "Approved" for n in others)


async def test_list_paging_invariants(api: httpx.AsyncClient) -> None:
    ids = [(await create_session(api, vendor_data=f"p{i}"))["session_id"] for i in range(7)]
    seen: list[str] = []
    url: str | None = "/v3/sessions/?limit=3"
    pages = 0
    while url:
        page = (await api.get(url.removeprefix(ORIGIN))).json()
        pages += 1
        assert page["count"] == 7
        assert page["results"] or page["next"] is None
        seen += [r["session_id"] for r in page["results"]]
        if page["next"] is None:
            assert len(seen) == page["count"]
        else:
            assert page["next"].startswith(f"{ORIGIN}/v3/sessions/?")
        url = page["next"]
    assert pages == 3
    assert seen == list(reversed(ids))  # newest first
    middle = (await api.get("/v3/sessions/?limit=3&offset=3")).json()
    assert middle["previous"] == f"{ORIGIN}/v3/sessions/?limit=3"
    last = (await api.get("/v3/sessions/?limit=3&offset=6")).json()
    assert "offset=3" in last["previous"] and last["next"] is None
    capped = (await api.get("/v3/sessions/?limit=500")).json()
    assert len(capped["results"]) == 7 and capped["next"] is None
    row = capped["results"][0]
    for key in (
        "session_id",
        "session_kind",
        "session_number",
        "session_url",
        "portrait_image",
        "document_type",
        "full_name",
        "country",
        "status",
        "vendor_data",
        "didit_internal_id",
        "created_at",
        "workflow_label",
        "features",
        "phone_number",
        "email_address",
        "additional_details",
        "workflow_id",
        "environment",
    ):
        assert key in row
    assert row["status"] in STATUSES and row["environment"] == "sandbox"


async def test_list_filters(api: httpx.AsyncClient) -> None:
    a = await create_session(api, vendor_data="alice")
    b = await create_session(api, vendor_data="bob", workflow_id=WF["poa"])
    await outcome(api, a["session_id"], "approve")

    async def ids(query: str) -> list[str]:
        response = await api.get(f"/v3/sessions/?{query}")
        assert response.status_code == 200, response.text
        return [r["session_id"] for r in response.json()["results"]]

    assert await ids("vendor_data=alice") == [a["session_id"]]
    assert await ids("status=Approved") == [a["session_id"]]
    assert await ids("status=Approved%2CNot%20Started") == [b["session_id"], a["session_id"]]
    assert await ids(f"workflow_id={WF['poa']}") == [b["session_id"]]
    assert await ids("country=ESP") == [a["session_id"]]
    assert await ids("search=bob") == [b["session_id"]]
    assert await ids("session_kind=business") == []
    assert await ids("date_from=2000-01-01T00:00:00%2B00:00&date_to=2100-01-01") == [b["session_id"], a["session_id"]]
    assert await ids("date_from=2100-01-01") == []
    assert (await api.get("/v3/sessions/?status=Done")).status_code == 400
    assert (await api.get("/v3/sessions/?date_from=yesterday")).status_code == 400


async def test_update_status_rules(api: httpx.AsyncClient) -> None:
    body = await create_session(api)
    sid = body["session_id"]
    path = f"/v3/session/{sid}/update-status/"
    # Status is checked before the body: Not Started refuses even a garbage body.
    early = await api.patch(path, json={"new_status": "Nope"})
    assert early.status_code == 400 and "detail" in early.json()
    await outcome(api, sid, "review")
    assert (await api.patch(path, json={"new_status": "In Review"})).json() == {
        "new_status": ['"In Review" is not a valid choice.']
    }
    assert (await api.patch(path, json={})).json() == {"new_status": ["This field is required."]}
    assert (await api.patch(path, json={"new_status": "Approved", "send_email": True})).json() == {
        "email_address": ["This field is required when send_email is true."]
    }
    ok = await api.patch(path, json={"new_status": "Approved", "comment": "looks fine"})
    assert ok.status_code == 200 and ok.json()["session_id"] == sid
    assert (await api.patch(path, json={"new_status": "Approved"})).status_code == 400  # must differ
    assert (await api.patch(path, json={"new_status": "Declined"})).status_code == 200  # overturn
    decision = (await api.get(f"/v3/session/{sid}/decision/")).json()
    assert decision["status"] == "Declined"
    assert [(r["user"], r["new_status"], r["comment"]) for r in decision["reviews"]] == [
        ("api", "Approved", "looks fine"),
        ("api", "Declined", None),
    ]


async def test_resubmit_default_and_explicit_nodes(api: httpx.AsyncClient) -> None:
    body = await create_session(api, workflow_id=WF["kyc_aml"])
    sid = body["session_id"]
    await outcome(api, sid, "decline")
    path = f"/v3/session/{sid}/update-status/"
    bad = await api.patch(
        path, json={"new_status": "Resubmitted", "nodes_to_resubmit": [{"node_id": "feature_nope", "feature": "OCR"}]}
    )
    assert bad.status_code == 400 and "nodes_to_resubmit" in bad.json()
    mismatch = await api.patch(
        path, json={"new_status": "Resubmitted", "nodes_to_resubmit": [{"node_id": "feature_ocr", "feature": "AML"}]}
    )
    assert mismatch.status_code == 400
    ok = await api.patch(path, json={"new_status": "Resubmitted", "comment": "blurry"})
    assert ok.status_code == 200
    got = (await api.get(f"/v3/session/{sid}/")).json()
    assert got["status"] == "Resubmitted"
    assert got["url"] == body["url"]  # the same URL works again
    assert got["resubmit_info"]["nodes_to_resubmit"] == [{"node_id": "feature_ocr", "feature": "OCR"}]
    assert got["resubmit_info"]["reasons"] == {"feature_ocr": "blurry"}
    decision = (await api.get(f"/v3/session/{sid}/decision/")).json()
    assert decision["id_verifications"][0]["status"] == "Not Finished"
    assert decision["id_verifications"][0]["document_number"] is None
    assert decision["face_matches"][0]["status"] == "Approved"  # untouched nodes keep their data
    assert (await api.patch(path, json={"new_status": "Resubmitted"})).status_code == 400  # already Resubmitted
    hosted = api.app.state.engine.hosted.session_by_id(sid)
    assert hosted.resubmit_steps == ["document_selection", "document_front", "document_back"]
    # The user redoes the step; the new result only touches the redone nodes.
    assert (await outcome(api, sid, "approve")).json()["status"] == "Approved"
    final = (await api.get(f"/v3/session/{sid}/decision/")).json()
    assert final["id_verifications"][0]["status"] == "Approved"
    # Explicit nodes with didit-sdk's alias names; AML is a backend node and re-runs at once.
    explicit = await api.patch(
        path,
        json={
            "new_status": "Resubmitted",
            "nodes_to_resubmit": [
                {"node_id": "feature_face_match", "feature": "FACE"},
                {"node_id": "feature_aml", "feature": "AML"},
            ],
        },
    )
    assert explicit.status_code == 200
    after = (await api.get(f"/v3/session/{sid}/decision/")).json()
    assert after["face_matches"][0]["status"] == "Not Finished"
    assert after["aml_screenings"][0]["status"] == "Approved"


async def test_resubmit_with_nothing_to_redo_is_400(api: httpx.AsyncClient) -> None:
    body = await create_session(api)
    await outcome(api, body["session_id"], "approve")
    await api.patch(f"/v3/session/{body['session_id']}/update-status/", json={"new_status": "Declined"})
    response = await api.patch(f"/v3/session/{body['session_id']}/update-status/", json={"new_status": "Resubmitted"})
    assert response.status_code == 400
    assert response.json() == {"nodes_to_resubmit": ["There are no nodes to resubmit."]}


async def test_reviews_feed(api: httpx.AsyncClient) -> None:
    body = await create_session(api)
    sid = body["session_id"]
    await outcome(api, sid, "approve")
    note = await api.post(f"/v3/sessions/{sid}/reviews/", json={"comment": "checked"})
    assert note.status_code == 201 and note.json()["comment"] == "checked"
    moved = await api.post(f"/v3/sessions/{sid}/reviews/", json={"comment": "hmm", "new_status": "In Review"})
    assert moved.status_code == 201
    assert (await api.get(f"/v3/session/{sid}/")).json()["status"] == "In Review"
    newest_first = (await api.get(f"/v3/sessions/{sid}/reviews/")).json()
    assert newest_first["count"] == 2 and newest_first["results"][0]["comment"] == "hmm"
    oldest_first = (await api.get(f"/v3/sessions/{sid}/reviews/?ordering=created_at")).json()
    assert oldest_first["results"][0]["comment"] == "checked"
    assert (await api.post(f"/v3/sessions/{sid}/reviews/", json={})).status_code == 400


async def test_pdf_is_a_real_pdf(api: httpx.AsyncClient) -> None:
    body = await create_session(api)
    await outcome(api, body["session_id"], "approve")
    response = await api.get(f"/v3/session/{body['session_id']}/generate-pdf/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.content.startswith(b"%PDF-") and response.content.rstrip().endswith(b"%%EOF")
    assert b"/Count 1" in response.content  # one page


async def test_delete_and_batch_delete(api: httpx.AsyncClient) -> None:
    a, b, c = [await create_session(api) for _ in range(3)]
    assert (await api.delete(f"/v3/session/{a['session_id']}/delete/")).status_code == 204
    assert (await api.get(f"/v3/session/{a['session_id']}/")).status_code == 404
    neither = await api.post("/v3/sessions/delete/", json={})
    assert neither.status_code == 400 and isinstance(neither.json(), list)
    some = await api.post("/v3/sessions/delete/", json={"session_numbers": [b["session_number"]]})
    assert some.status_code == 200 and some.json() == {"deleted": 1}
    everything = await api.post("/v3/sessions/delete/", json={"delete_all": True})
    assert everything.json() == {"deleted": 1}
    assert (await api.get(f"/v3/session/{c['session_id']}/")).status_code == 404
    assert (await api.get("/v3/sessions/")).json()["count"] == 0


async def test_workflows_management(api: httpx.AsyncClient) -> None:
    listed = (await api.get("/v3/workflows/")).json()
    assert {w["uuid"] for w in listed} >= set(WF.values())
    kyc = next(w for w in listed if w["uuid"] == WF["kyc"])
    assert [f["feature"] for f in kyc["features"]] == ["OCR", "LIVENESS", "FACE_MATCH", "IP_ANALYSIS"]
    assert kyc["session_expiration_time"] == 1440 and kyc["status"] == "published"
    created = await api.post(
        "/v3/workflows/",
        json={
            "workflow_label": "Mine",
            "features": [
                {"feature": "OCR"},
                {"feature": "FACE_MATCH", "config": {"face_match_score_decline_threshold": 30}},
            ],
        },
    )
    assert created.status_code == 201
    wf = created.json()
    assert uuid.UUID(wf["uuid"]) and wf["version"] == 1 and wf["workflow_url"].startswith(f"{ORIGIN}/u/")
    assert wf["features"][1]["config"]["face_match_score_decline_threshold"] == 30
    assert (await api.get(f"/v3/workflows/{wf['uuid']}/")).json()["workflow_label"] == "Mine"
    bad_order = await api.post("/v3/workflows/", json={"workflow_label": "x", "features": [{"feature": "NFC"}]})
    assert bad_order.status_code == 400 and "features" in bad_order.json()
    assert (await api.post("/v3/workflows/", json={"features": [{"feature": "OCR"}]})).status_code == 400
    assert (await api.post("/v3/workflows/", json={"workflow_label": "x", "features": []})).status_code == 400
    legacy = await api.post(
        "/v3/workflows/", json={"workflow_label": "Flat", "workflow_type": "kyc", "is_aml_enabled": True}
    )
    assert [f["feature"] for f in legacy.json()["features"]][-1] == "AML"
    session = await create_session(api, workflow_id=wf["uuid"])
    assert (await api.delete(f"/v3/workflows/{wf['uuid']}/")).status_code == 204
    assert (await api.get(f"/v3/workflows/{wf['uuid']}/")).status_code == 404
    assert (await api.get(f"/v3/session/{session['session_id']}/")).status_code == 200  # keeps running
    gone = await api.post("/v3/session/", json={"workflow_id": wf["uuid"]})
    assert gone.status_code == 400


async def test_biometric_workflow_needs_a_portrait(api: httpx.AsyncClient) -> None:
    refused = await api.post("/v3/session/", json={"workflow_id": WF["biometric"]})
    assert refused.status_code == 400 and "portrait_image" in refused.json()
    png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC"
    assert (
        await api.post("/v3/session/", json={"workflow_id": WF["biometric"], "portrait_image": png})
    ).status_code == 201
    not_image = await api.post("/v3/session/", json={"workflow_id": WF["biometric"], "portrait_image": "aGVsbG8="})
    assert not_image.status_code == 400
    # A user with an approved liveness session may authenticate without a portrait.
    kyc = await create_session(api, vendor_data="returning")
    await outcome(api, kyc["session_id"], "approve")
    assert (
        await api.post("/v3/session/", json={"workflow_id": WF["biometric"], "vendor_data": "returning"})
    ).status_code == 201


async def test_healthcheck_needs_no_auth(api: httpx.AsyncClient) -> None:
    async with httpx.AsyncClient(transport=api._transport, base_url=ORIGIN) as anon:
        response = await anon.get("/system/healthcheck")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["timestamp"].endswith("Z")
    assert (await api.get("/system/healthcheck/")).status_code == 404


async def test_seeded_ids_are_deterministic(make_config: Any, tmp_path: Any) -> None:
    results = []
    for run in range(2):
        app = create_app(make_config(seed=7, db_path=tmp_path / f"seed{run}.db"))
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url=ORIGIN, headers={"x-api-key": KEY}
        ) as c:
            body = await create_session(c)
            events = (await outcome(c, body["session_id"], "approve")).json()["event_ids"]
            results.append((body["session_id"], body["session_token"], events))
    assert results[0] == results[1]
    assert uuid.UUID(results[0][0]) == uuid.uuid5(uuid.UUID("6f1d3c0e-2b7a-4c59-8e43-5a9d0b1c2e3f"), "7:session:1")


async def test_works_mounted_under_a_prefix_like_the_portal(make_config: Any) -> None:
    sandbox = create_app(make_config(public_url="http://portal.test/didit-sandbox"))
    portal = Starlette(routes=[Mount("/didit-sandbox", app=sandbox)])
    async with (
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=portal), base_url="http://portal.test", headers={"x-api-key": KEY}
        ) as c,
        sandbox.state.runtime,
    ):
        created = (await c.post("/didit-sandbox/v3/session/", json={"workflow_id": WF["kyc"]})).json()
        await c.post("/didit-sandbox/v3/session/", json={"workflow_id": WF["kyc"]})
        assert created["url"].startswith("http://portal.test/didit-sandbox/session/")
        page = (await c.get("/didit-sandbox/v3/sessions/?limit=1")).json()
        assert page["next"] == "http://portal.test/didit-sandbox/v3/sessions/?limit=1&offset=1"
        moved = await c.get("/didit-sandbox/v3/sessions")
        assert moved.status_code == 301
        assert moved.headers["location"] == "http://portal.test/didit-sandbox/v3/sessions/"
        assert (await c.get("/didit-sandbox/system/healthcheck")).status_code == 200
        assert sandbox.state.runtime.running
    assert not sandbox.state.runtime.running
