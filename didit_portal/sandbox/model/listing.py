"""``GET /v3/sessions/``: filters, list rows and LimitOffset paging with exact counts.

Didit: https://docs.didit.me/sessions-api/list-sessions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from didit_portal.sandbox.isotime import iso, parse_iso
from didit_portal.sandbox.model.decision import NO_DATA_STATUSES, context_for
from didit_portal.sandbox.model.features import nodes_of
from didit_portal.sandbox.model.persona import media_url
from didit_portal.sandbox.types import STATUSES, EngineError

DEFAULT_LIMIT = 50
MAX_LIMIT = 100


def _int_param(params: Mapping[str, str], key: str, default: int) -> int:
    # DRF's LimitOffsetPagination ignores a malformed limit/offset and falls back to its default.
    try:
        value = int(params.get(key, default))
    except (TypeError, ValueError):
        return default
    return value if value >= 0 else default


def paging(params: Mapping[str, str]) -> tuple[int, int]:
    """``(limit, offset)`` from the query: limit defaults to 50 and is capped at 100."""
    limit = _int_param(params, "limit", DEFAULT_LIMIT) or DEFAULT_LIMIT
    return min(limit, MAX_LIMIT), _int_param(params, "offset", 0)


def _node_state(s: dict[str, Any], node_id: str) -> dict[str, Any] | None:
    if s["status"] in NO_DATA_STATUSES:
        return None
    return s["data"].get("nodes", {}).get(node_id)


#: A finished node: its workflow config and its stored result.
_Done = tuple[dict[str, Any], dict[str, Any]]


def _node_results(s: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, _Done]]:
    """The row's ``features`` (name and status per node) and the finished nodes by feature."""
    features: list[dict[str, Any]] = []
    done: dict[str, _Done] = {}
    for node_id, spec, config in nodes_of(s["data"]["features"]):
        state = _node_state(s, node_id)
        if config.get("fallback") and state is None:
            continue
        features.append({"feature": spec.name, "status": state["status"] if state else "Not Finished"})
        if state is not None:
            done[spec.feature] = (config, state)
    return features, done


def _additional_details(done: dict[str, _Done]) -> dict[str, Any]:
    """The row's ``additional_details``: AML hits, liveness and face-match scores of the finished nodes."""
    aml, liveness, face = done.get("AML"), done.get("LIVENESS"), done.get("FACE_MATCH")
    liveness_detail = face_detail = None
    if liveness is not None:
        config, state = liveness
        liveness_detail = {"method": config.get("method", "PASSIVE"), "score": 8.0 if state.get("target") else 91.0}
    if face is not None:
        state = face[1]
        face_detail = {"score": (21.0 if state["status"] == "Declined" else 50.0) if state.get("target") else 97.0}
    return {
        "aml": {"total_hits": 1 if aml[1].get("target") else 0, "entity_type": "person"} if aml else None,
        "liveness": liveness_detail,
        "face_match": face_detail,
    }


def _verified(done: _Done | None) -> bool:
    return bool(done and done[1]["status"] == "Approved")


def row(s: dict[str, Any], public_url: str) -> dict[str, Any]:
    """One list row for a stored session."""
    data = s["data"]
    persona = context_for(public_url, s["session_id"], data).persona
    features, done = _node_results(s)
    ocr = "OCR" in done
    phone, email = done.get("PHONE_VERIFICATION"), done.get("EMAIL_VERIFICATION")
    contact = data.get("contact_details") or {}
    return {
        "session_id": s["session_id"],
        "session_kind": "user",
        "session_number": s["session_number"],
        "session_url": data["url"],
        "portrait_image": media_url(public_url, s["session_id"], "ocr_portrait") if ocr else None,
        "document_type": "Passport" if ocr else None,
        "full_name": persona.full_name if ocr else None,
        "country": persona.issuing_state if ocr else None,
        "status": s["status"],
        "vendor_data": s["vendor_data"],
        "didit_internal_id": s["session_id"],
        "created_at": iso(s["created_at"]),
        "workflow_label": data["workflow_label"],
        "workflow_id": s["workflow_id"],
        "environment": "sandbox",
        "features": features,
        "phone_number": {"number": persona.phone if phone else contact.get("phone"), "is_verified": _verified(phone)},
        "email_address": {"email": persona.email if email else contact.get("email"), "is_verified": _verified(email)},
        "additional_details": _additional_details(done),
    }


def _matches_search(s: dict[str, Any], text: str, public_url: str) -> bool:
    needle = text.casefold()
    r = row(s, public_url)
    haystack = [s["session_id"], str(s["session_number"]), s["vendor_data"] or "", r["full_name"] or ""]
    return any(needle in h.casefold() for h in haystack)


def filter_sessions(sessions: list[dict[str, Any]], params: Mapping[str, str], public_url: str) -> list[dict[str, Any]]:
    """Apply Didit's documented list filters (see the module docstring) to sessions already sorted newest first.

    Raises:
        EngineError: 400 for an invalid ``session_kind``, ``status``, ``country`` or date.
    """
    kind = params.get("session_kind", "user")
    if kind not in ("user", "business", "all"):
        raise EngineError(400, {"session_kind": [f'"{kind}" is not a valid choice.']})
    wanted_status: set[str] | None = None
    if params.get("status"):
        wanted_status = {part.strip() for part in params["status"].split(",") if part.strip()}
        bad = sorted(wanted_status - set(STATUSES))
        if bad:
            raise EngineError(
                400, {"status": [f"Select a valid choice. {b} is not one of the available choices." for b in bad]}
            )
    bounds: dict[str, float] = {}
    for key in ("date_from", "date_to"):
        if params.get(key):
            parsed = parse_iso(params[key])
            if parsed is None:
                raise EngineError(400, {key: ["Enter a valid date/time."]})
            bounds[key] = parsed
    country = params.get("country")
    if country is not None and (len(country) != 3 or not country.isalpha()):
        raise EngineError(400, {"country": ["Enter a valid ISO 3166-1 alpha-3 country code."]})
    out = []
    for s in sessions:
        if kind == "business":
            continue  # the sandbox has user (KYC) sessions only
        if params.get("vendor_data") is not None and s["vendor_data"] != params["vendor_data"]:
            continue
        if params.get("workflow_id") and s["workflow_id"] != params["workflow_id"]:
            continue
        if wanted_status is not None and s["status"] not in wanted_status:
            continue
        if "date_from" in bounds and s["created_at"] < bounds["date_from"]:
            continue
        if "date_to" in bounds and s["created_at"] > bounds["date_to"]:
            continue
        if country is not None and row(s, public_url)["country"] != country.upper():
            continue
        if params.get("search") and not _matches_search(s, params["search"], public_url):
            continue
        out.append(s)
    return out
