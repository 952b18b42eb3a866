"""``GET /v3/sessions/`` (contract §2.2): filters, list rows and LimitOffset paging with exact counts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from didit_portal.sandbox.decisions import NO_DATA_STATUSES, context_for
from didit_portal.sandbox.persona import media_url
from didit_portal.sandbox.types import STATUSES, EngineError
from didit_portal.sandbox.util import iso, parse_iso
from didit_portal.sandbox.workflows import nodes_of

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


def row(s: dict[str, Any], public_url: str) -> dict[str, Any]:
    """One list row for a stored session."""
    data = s["data"]
    ctx = context_for(public_url, s["session_id"], data)
    persona = ctx.persona
    features: list[dict[str, Any]] = []
    ocr = phone = email = aml = liveness = face = None
    for node_id, spec, config in nodes_of(data["features"]):
        state = _node_state(s, node_id)
        if config.get("fallback") and state is None:
            continue
        features.append({"feature": spec.name, "status": state["status"] if state else "Not Finished"})
        done = state is not None
        if spec.feature == "OCR" and done:
            ocr = state
        elif spec.feature == "PHONE_VERIFICATION" and done:
            phone = state
        elif spec.feature == "EMAIL_VERIFICATION" and done:
            email = state
        elif spec.feature == "AML" and done:
            aml = state
        elif spec.feature == "LIVENESS" and done:
            liveness = (config, state)
        elif spec.feature == "FACE_MATCH" and done:
            face = state
    contact = data.get("contact_details") or {}
    face_score = None
    if face is not None:
        face_score = (21.0 if face["status"] == "Declined" else 50.0) if face.get("target") else 97.0
    return {
        "session_id": s["session_id"], "session_kind": "user", "session_number": s["session_number"],
        "session_url": data["url"],
        "portrait_image": media_url(public_url, s["session_id"], "ocr_portrait") if ocr else None,
        "document_type": "Passport" if ocr else None, "full_name": persona.full_name if ocr else None,
        "country": persona.issuing_state if ocr else None, "status": s["status"], "vendor_data": s["vendor_data"],
        "didit_internal_id": s["session_id"], "created_at": iso(s["created_at"]),
        "workflow_label": data["workflow_label"], "workflow_id": s["workflow_id"], "environment": "sandbox",
        "features": features,
        "phone_number": {"number": persona.phone if phone else contact.get("phone"),
                         "is_verified": bool(phone and phone["status"] == "Approved")},
        "email_address": {"email": persona.email if email else contact.get("email"),
                          "is_verified": bool(email and email["status"] == "Approved")},
        "additional_details": {
            "aml": {"total_hits": 1 if aml and aml.get("target") else 0, "entity_type": "person"} if aml else None,
            "liveness": {"method": liveness[0].get("method", "PASSIVE"),
                         "score": 8.0 if liveness[1].get("target") else 91.0} if liveness else None,
            "face_match": {"score": face_score} if face is not None else None,
        },
    }


def _matches_search(s: dict[str, Any], text: str, public_url: str) -> bool:
    needle = text.casefold()
    r = row(s, public_url)
    haystack = [s["session_id"], str(s["session_number"]), s["vendor_data"] or "", r["full_name"] or ""]
    return any(needle in h.casefold() for h in haystack)


def filter_sessions(sessions: list[dict[str, Any]], params: Mapping[str, str],
                    public_url: str) -> list[dict[str, Any]]:
    """Apply the list filters (contract §2.2) to sessions already sorted newest first.

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
            raise EngineError(400, {"status": [f"Select a valid choice. {b} is not one of the available choices."
                                               for b in bad]})
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

