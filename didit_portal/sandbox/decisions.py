"""Realistic v3 decision payloads (contract §2.3).

One plural-array entry per workflow node, shaped by each node's stored result (status, scenario, risk code) and
the session's persona.

Only the workflow's features produce entries; every other array is ``[]``, never null. Scores are floats, and
whole ones stay integral floats (``97.0``) so that Didit's V2 signature canonicalisation has work to do; the NFC
certificate serial is a float near 1e38, as Didit sends it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from didit_portal.sandbox.persona import Persona, media_url, persona_for
from didit_portal.sandbox.workflows import DECISION_ARRAYS, FEATURES, FeatureSpec, nodes_of

#: Statuses whose decision carries no node data at all (nothing collected, or wiped by expiry).
NO_DATA_STATUSES = frozenset({"Not Started", "Expired"})
NFC_SERIAL = 1.1812083616449413e38

_DESCRIPTIONS: dict[str, tuple[str, str]] = {
    "DOCUMENT_EXPIRED": ("Document expired", "The document's expiration date is in the past."),
    "MRZ_VALIDATION_FAILED": ("MRZ validation failed", "The machine-readable zone check digits do not validate."),
    "COULD_NOT_RECOGNIZE_DOCUMENT": ("Document not recognised", "The document could not be recognised."),
    "MINIMUM_AGE_NOT_MET": ("Minimum age not met", "The user is younger than the workflow's minimum age."),
    "LOW_FACE_MATCH_SIMILARITY": ("Low face match similarity",
                                  "The selfie and the document portrait are not similar enough."),
    "LIVENESS_FACE_ATTACK": ("Liveness attack", "A presentation attack was detected during the selfie."),
    "LOW_LIVENESS_SCORE": ("Low liveness score", "The liveness score is below the workflow's threshold."),
    "AML_MATCH_CONFIRMED": ("AML match", "The person matches an entry on a sanctions list."),
    "POSSIBLE_MATCH_FOUND": ("Possible AML match", "The person may match a watchlist entry."),
    "IP_ADDRESS_IN_BLOCKLIST": ("IP address blocklisted", "The user's IP address is on a blocklist."),
    "POA_ADDRESS_MISMATCH": ("Address mismatch", "The proof of address does not match the expected address."),
    "POA_PARTIAL_MATCH": ("Address partly matches", "The proof of address matches the expected address only partly."),
    "NFC_CHIP_FAILED": ("NFC chip not verified", "The document chip failed cryptographic authentication."),
    "DATABASE_NO_MATCH": ("No database match", "No matching record was found in the government database."),
    "POSSIBLE_DUPLICATED_USER": ("Possible duplicated user", "Another session has a document with the same data."),
}


@dataclass(frozen=True)
class NodeContext:
    """What a node builder needs besides the node's own result."""

    public_url: str
    session_id: str
    persona: Persona
    expected: dict[str, Any] | None
    finished_at: str | None


def warning(spec: FeatureSpec, risk: str, log_type: str) -> dict[str, Any]:
    """One warning in Didit's captured shape.

    Args:
        spec: The node's feature.
        risk: The risk code.
        log_type: ``information``, ``warning`` or ``error``.

    Returns:
        The warning object.
    """
    short, long = _DESCRIPTIONS.get(risk, (risk.replace("_", " ").capitalize(), risk.replace("_", " ").capitalize()))
    return {"feature": spec.name, "risk": risk, "log_type": log_type, "short_description": short,
            "long_description": long, "additional_data": None}


def _years_ago(years: int) -> str:
    today = date.today()
    try:
        return today.replace(year=today.year - years).isoformat()
    except ValueError:  # 29 February
        return (today - timedelta(days=365 * years)).isoformat()


def _parsed_address(p: Persona, street: str | None = None) -> dict[str, Any]:
    street = street or p.street
    formatted = f"{street}, {p.postal_code} {p.city}, {p.country_name}"
    return {"street_1": street, "street_2": None, "city": p.city, "region": p.region, "postal_code": p.postal_code,
            "country": "ES", "label": "Home", "address_type": "residential", "category": "home",
            "is_verified": True, "formatted_address": formatted,
            "document_location": {"latitude": 40.4189, "longitude": -3.6919}, "raw_results": {}}


def _id_verification(ctx: NodeContext, slug: str | None, is_target: bool, risk: str | None) -> dict[str, Any]:
    p = ctx.persona
    url = ctx.public_url
    dob, issue, expiry = p.date_of_birth, p.date_of_issue, p.expiration_date
    if is_target and risk == "DOCUMENT_EXPIRED":
        issue, expiry = "2010-01-10", "2020-01-09"
    if is_target and risk == "MINIMUM_AGE_NOT_MET":
        dob = _years_ago(15)
    age = Persona(date_of_birth=dob).age()
    mrz_surname = "NUNEZ<OVREBO"
    mrz_line1 = f"P<{p.issuing_state}{mrz_surname}<<ZOE".ljust(44, "<")[:44]
    mrz_line2 = f"{p.document_number}<4{p.nationality}{dob[2:4]}{dob[5:7]}{dob[8:10]}1F{expiry[2:4]}{expiry[5:7]}"
    mrz_line2 = (mrz_line2 + f"{expiry[8:10]}9").ljust(42, "<")[:42] + "06"
    entry = {
        "document_type": "Passport", "document_number": p.document_number, "personal_number": p.personal_number,
        "first_name": p.first_name, "last_name": p.last_name, "full_name": p.full_name, "gender": p.gender,
        "date_of_birth": dob, "age": age, "date_of_issue": issue, "expiration_date": expiry,
        "issuing_state": p.issuing_state, "issuing_state_name": p.issuing_state_name, "nationality": p.nationality,
        "place_of_birth": p.place_of_birth, "marital_status": "UNKNOWN", "address": p.address,
        "formatted_address": p.address, "parsed_address": _parsed_address(p),
        "mrz": {"surname": p.last_name.upper(), "name": p.first_name.upper(), "country": p.issuing_state,
                "nationality": p.nationality, "birth_date": dob, "expiry_date": expiry, "sex": p.gender,
                "document_type": "P", "document_number": p.document_number, "personal_number": p.personal_number,
                "mrz_type": "TD3", "mrz_string": f"{mrz_line1}\n{mrz_line2}",
                "errors": ["Check digit mismatch"] if is_target and slug == "decline_mrz_validation" else []},
        "extra_fields": {}, "extra_files": [],
        "portrait_image": media_url(url, ctx.session_id, "ocr_portrait"),
        "front_image": media_url(url, ctx.session_id, "ocr_front"),
        "back_image": media_url(url, ctx.session_id, "ocr_back"),
        "full_front_image": media_url(url, ctx.session_id, "ocr_full_front"),
        "full_back_image": media_url(url, ctx.session_id, "ocr_full_back"),
        "front_video": None, "back_video": None,
        "front_image_camera_front": None, "back_image_camera_front": None,
        "front_image_camera_front_face_match_score": None, "back_image_camera_front_face_match_score": None,
        "front_image_quality_score": {"overall_score": 92.0, "focus_score": 95.0, "brightness_score": 88.0,
                                      "brightness_issue": None, "resolution_score": 100.0,
                                      "is_document_fully_visible": True},
        "back_image_quality_score": {"overall_score": 90.0, "focus_score": 93.0, "brightness_score": 86.0,
                                     "brightness_issue": None, "resolution_score": 100.0,
                                     "is_document_fully_visible": True},
        "matches": [],
    }
    if is_target and slug == "decline_could_not_recognize_document":
        for key in ("document_type", "document_number", "personal_number", "first_name", "last_name", "full_name",
                    "gender", "date_of_birth", "age", "date_of_issue", "expiration_date", "issuing_state",
                    "issuing_state_name", "nationality", "place_of_birth", "address", "formatted_address",
                    "parsed_address", "mrz", "portrait_image"):
            entry[key] = None
    return entry


def _nfc(ctx: NodeContext, slug: str | None, is_target: bool) -> dict[str, Any]:
    p = ctx.persona
    ok = not is_target
    return {
        "portrait_image": media_url(ctx.public_url, ctx.session_id, "nfc_portrait"),
        "signature_image": media_url(ctx.public_url, ctx.session_id, "nfc_signature"),
        "authenticity": {"sod_integrity": ok, "dg_integrity": ok},
        "certificate_summary": {"issuer": "C=ES,O=DIRECCION GENERAL DE LA POLICIA,CN=CSCA SPAIN",
                                "subject": "C=ES,O=DIRECCION GENERAL DE LA POLICIA,CN=DS SPAIN",
                                "serial_number": NFC_SERIAL, "not_valid_before": "2020-06-01T00:00:00Z",
                                "not_valid_after": "2031-09-01T00:00:00Z"},
        "chip_data": {"document_type": "P", "document_number": p.document_number, "name": p.first_name,
                      "surname": p.last_name, "sex": p.gender, "nationality": p.nationality,
                      "country": p.issuing_state, "birth_date": p.date_of_birth, "expiry_date": p.expiration_date,
                      "place_of_birth": p.place_of_birth, "address": p.address, "optional_data": p.personal_number,
                      "mrz_string": None, "mrz_type": "TD3", "dgs": ["DG1", "DG2", "DG11", "DG12", "DG14"],
                      "dg1_hash": "4f1c0e2d9b7a", "dg2_hash": "8e3d2c1b0a99", "sod_hash": "1a2b3c4d5e6f"},
    }


def _liveness(ctx: NodeContext, slug: str | None, is_target: bool, *, spec: FeatureSpec,
              config: dict[str, Any], plan_status: str | None) -> dict[str, Any]:
    age = float(ctx.persona.age())
    score = 91.0
    if spec.feature == "AGE_ESTIMATION" and is_target:
        age = 14.0 if plan_status == "Declined" else float(config.get("age_threshold", 18))
    if spec.feature == "LIVENESS" and is_target:
        score = 8.0 if slug == "decline_liveness_attack" or plan_status == "Declined" else 55.0
    name = "liveness" if spec.feature == "LIVENESS" else "age_estimation"
    return {"method": config.get("method", "PASSIVE"), "score": score,
            "reference_image": media_url(ctx.public_url, ctx.session_id, f"{name}_reference"), "video_url": None,
            "age_estimation": age, "face_quality": 88.0, "face_luminance": 52.0, "matches": []}


def _face_match(ctx: NodeContext, slug: str | None, is_target: bool, plan_status: str | None) -> dict[str, Any]:
    score = 97.0
    if is_target:
        score = 21.0 if plan_status == "Declined" else 50.0
    return {"score": score, "source_image": media_url(ctx.public_url, ctx.session_id, "face_selfie"),
            "target_image": media_url(ctx.public_url, ctx.session_id, "ocr_portrait"),
            "source_image_session_id": None}


def _lifecycle(ctx: NodeContext, sent: str, verified: str) -> list[dict[str, Any]]:
    at = ctx.finished_at
    return [{"type": sent, "timestamp": at, "fee": 0.1, "details": {"status": "Success"}},
            {"type": verified, "timestamp": at, "fee": 0.0, "details": {"code_tried": "123456", "status": "Approved"}}]


def _phone(ctx: NodeContext, slug: str | None, is_target: bool) -> dict[str, Any]:
    phone = ctx.persona.phone
    prefix = "+34" if phone.startswith("+34") else phone[:3]
    return {"phone_number_prefix": prefix, "phone_number": phone[len(prefix):], "full_number": phone,
            "country_code": "ES", "country_name": "Spain", "carrier": {"name": "Movistar", "type": "mobile"},
            "is_disposable": False, "is_virtual": is_target, "verification_method": "sms",
            "verification_attempts": 1, "verified_at": None if is_target else ctx.finished_at,
            "lifecycle": _lifecycle(ctx, "PHONE_VERIFICATION_MESSAGE_SENT", "VALID_CODE_ENTERED")}


def _email(ctx: NodeContext, slug: str | None, is_target: bool) -> dict[str, Any]:
    return {"email": ctx.persona.email, "is_breached": is_target, "breaches": [], "is_disposable": False,
            "is_undeliverable": False, "verification_attempts": 1,
            "verified_at": None if is_target else ctx.finished_at,
            "lifecycle": _lifecycle(ctx, "EMAIL_VERIFICATION_MESSAGE_SENT", "VALID_CODE_ENTERED")}


def _poa(ctx: NodeContext, slug: str | None, is_target: bool, plan_status: str | None) -> dict[str, Any]:
    p = ctx.persona
    expected_address = (ctx.expected or {}).get("address")
    street = p.street
    name_score = 100.0
    if is_target:
        declined = plan_status == "Declined"
        street, name_score = ("Avenida de América 7", 35.0) if declined else ("Calle de Alcalá 44", 80.0)
    parsed = _parsed_address(p, street)
    return {"document_type": "UTILITY_BILL", "document_language": "es",
            "document_file": media_url(ctx.public_url, ctx.session_id, "poa_document"),
            "document_metadata": {"content_type": "image/png", "file_size": 48213, "creation_date": "2026-01-02",
                                  "modified_date": "2026-01-02"},
            "issuer": "Iberdrola Clientes S.A.U.", "issuing_state": "ESP", "issue_date": "2026-01-02",
            "expiration_date": None, "name_on_document": p.full_name, "name_match_score_id_verification": name_score,
            "name_match_score_expected_details": name_score if ctx.expected else None,
            "poa_address": parsed["formatted_address"], "poa_formatted_address": parsed["formatted_address"],
            "poa_parsed_address": parsed, "expected_details_address": expected_address,
            "expected_details_formatted_address": expected_address,
            "expected_details_parsed_address": None, "extra_fields": {"bank_iban": None}, "extra_files": []}


def _aml_hit(p: Persona, confirmed: bool) -> dict[str, Any]:
    score = 0.96 if confirmed else 0.71
    return {"id": "NK-SBX-8842", "url": "https://sandbox.didit.invalid/aml/NK-SBX-8842", "caption": p.full_name,
            "match": confirmed, "score": score, "match_score": score * 100, "risk_score": 88.0 if confirmed else 41.0,
            "review_status": "Unreviewed", "datasets": ["Sanctions"] if confirmed else ["PEP"],
            "first_seen": "2021-04-01T00:00:00Z", "last_seen": "2026-01-01T00:00:00Z",
            "properties": {"name": [p.full_name], "alias": [], "birthDate": [p.date_of_birth]},
            "risk_view": {"crimes": [], "countries": [p.nationality],
                          "categories": ["Sanction"] if confirmed else ["PEP"], "custom_list": []},
            "score_breakdown": {"name_score": score * 100, "dob_score": 100.0, "country_score": 100.0},
            "pep_matches": [] if confirmed else [{"list": "PEP", "position": "Municipal councillor"}],
            "sanction_matches": [{"list": "Sandbox Sanctions List", "program": "SBX"}] if confirmed else [],
            "warning_matches": [], "adverse_media_matches": [], "adverse_media_details": None, "linked_entities": []}


def _aml(ctx: NodeContext, slug: str | None, is_target: bool, plan_status: str | None) -> dict[str, Any]:
    p = ctx.persona
    hits = [_aml_hit(p, plan_status == "Declined")] if is_target else []
    return {"entity_type": "person", "total_hits": len(hits), "score": hits[0]["match_score"] if hits else 0.0,
            "screened_data": {"full_name": p.full_name, "date_of_birth": p.date_of_birth,
                              "nationality": p.nationality, "document_number": p.document_number},
            "is_ongoing_monitoring_enabled": False, "next_ongoing_monitoring_bill_date": None, "hits": hits}


def _ip(ctx: NodeContext, slug: str | None, is_target: bool) -> dict[str, Any]:
    here = {"latitude": 40.4165, "longitude": -3.70256}
    near = {"distance": 2.1, "direction": "NE"}
    return {"ip_address": ctx.persona.ip_address, "ip_country": "Spain", "ip_country_code": "ES",
            "ip_state": "Madrid", "ip_city": "Madrid", "latitude": here["latitude"], "longitude": here["longitude"],
            "isp": "Telefonica de Espana", "organization": "Telefonica de Espana", "is_vpn_or_tor": is_target,
            "is_data_center": False, "time_zone": "Europe/Madrid", "time_zone_offset": "+0100",
            "device_brand": "Apple", "device_model": "iPhone", "device_fingerprint": "sbx-5f2c9e1a7b3d",
            "browser_family": "Mobile Safari", "os_family": "iOS", "platform": "mobile",
            "ip": {"location": here, "distance_from_id_document": near, "distance_from_poa_document": near},
            "id_document": {"location": {"latitude": 40.4189, "longitude": -3.6919}, "distance_from_ip": near},
            "poa_document": {"location": {"latitude": 40.4189, "longitude": -3.6919}, "distance_from_ip": near}}


def _database(ctx: NodeContext, slug: str | None, is_target: bool) -> dict[str, Any]:
    p = ctx.persona
    match = "no_match" if is_target else "full_match"
    return {"issuing_state": p.issuing_state, "validation_type": "one_by_one", "match_type": match,
            "screened_data": {"full_name": p.full_name, "date_of_birth": p.date_of_birth,
                              "identification_number": p.personal_number},
            "validations": [{"validation": {"full_name": match, "date_of_birth": match,
                                            "identification_number": match},
                             "source_data": {} if is_target else {"full_name": p.full_name,
                                                                   "date_of_birth": p.date_of_birth}}]}


def _questionnaire(ctx: NodeContext, slug: str | None, is_target: bool) -> dict[str, Any]:
    return {"questionnaire_id": "9a1e5c37-2f4b-4d8e-a6c1-3b7d0e9f2a11", "title": "Source of funds", "version": 1,
            "sections": [{"title": "About you", "items": [
                {"uuid": "c2f0a9e4-6b1d-4e3a-9c57-1d2e3f4a5b6c", "value": "employment",
                 "title": "Main source of funds", "element_type": "SINGLE_CHOICE",
                 "choices": [{"value": "employment", "label": "Employment"},
                             {"value": "savings", "label": "Savings"}],
                 "answer": {"value": "employment"}},
                {"uuid": "d3a1b0f5-7c2e-4f4b-8d68-2e3f4a5b6c7d", "value": None, "title": "Anything else?",
                 "element_type": "LONG_TEXT", "choices": [], "answer": {"text": "Nada más, gracias."}},
            ]}]}


def node_entry(spec: FeatureSpec, node_id: str, config: dict[str, Any], state: dict[str, Any] | None,
               ctx: NodeContext) -> dict[str, Any]:
    """Build one array element for a node.

    Args:
        spec: The node's feature.
        node_id: The node id.
        config: The node's workflow config.
        state: The node's stored result ``{status, slug, risk, target}``; None when the node has not run.
        ctx: Session context.

    Returns:
        The element; a node that has not run is ``Not Finished`` with empty data.
    """
    status = state["status"] if state else "Not Finished"
    slug = state.get("slug") if state else None
    is_target = bool(state and state.get("target"))
    plan_status = status if is_target else None
    builders = {
        "OCR": lambda: _id_verification(ctx, slug, is_target, state.get("risk") if state else None),
        "NFC": lambda: _nfc(ctx, slug, is_target),
        "LIVENESS": lambda: _liveness(ctx, slug, is_target, spec=spec, config=config, plan_status=plan_status),
        "AGE_ESTIMATION": lambda: _liveness(ctx, slug, is_target, spec=spec, config=config, plan_status=plan_status),
        "FACE_MATCH": lambda: _face_match(ctx, slug, is_target, plan_status),
        "PHONE_VERIFICATION": lambda: _phone(ctx, slug, is_target),
        "EMAIL_VERIFICATION": lambda: _email(ctx, slug, is_target),
        "PROOF_OF_ADDRESS": lambda: _poa(ctx, slug, is_target, plan_status),
        "AML": lambda: _aml(ctx, slug, is_target, plan_status),
        "IP_ANALYSIS": lambda: _ip(ctx, slug, is_target),
        "DATABASE_VALIDATION": lambda: _database(ctx, slug, is_target),
        "QUESTIONNAIRE": lambda: _questionnaire(ctx, slug, is_target),
    }
    data = builders[spec.feature]()
    if status == "Not Finished":
        # Same keys as a finished node, so strict parsers see one shape; lists stay [] (never null).
        data = {k: ([] if isinstance(v, list) else None) for k, v in data.items()}
    warnings = []
    if state and state.get("risk") and status in ("Declined", "In Review"):
        warnings.append(warning(spec, state["risk"], "error" if status == "Declined" else "warning"))
    return {"node_id": node_id, "status": status, **data, "warnings": warnings}


def feature_arrays(features: list[dict[str, Any]], nodes: dict[str, Any], status: str,
                   ctx: NodeContext) -> dict[str, list[dict[str, Any]]]:
    """Every plural array of a decision for the session's current node results.

    Args:
        features: The session's workflow features.
        nodes: Stored node results by node id.
        status: The session status.
        ctx: Session context.

    Returns:
        Array name -> elements, with every array of :data:`DECISION_ARRAYS` present.
    """
    arrays: dict[str, list[dict[str, Any]]] = {name: [] for name in DECISION_ARRAYS}
    if status in NO_DATA_STATUSES:
        return arrays
    for node_id, spec, config in nodes_of(features):
        state = nodes.get(node_id)
        if config.get("fallback") and state is None:
            continue  # a fallback node that never ran is not part of this session's flow
        arrays[spec.array].append(node_entry(spec, node_id, config, state, ctx))
    return arrays


def context_for(public_url: str, session_id: str, data: dict[str, Any]) -> NodeContext:
    """The :class:`NodeContext` of a stored session."""
    return NodeContext(public_url=public_url, session_id=session_id,
                       persona=persona_for(data.get("expected_details"), data.get("contact_details")),
                       expected=data.get("expected_details"), finished_at=data.get("finished_at_iso"))


def feature_names(features: list[dict[str, Any]]) -> list[str]:
    """The decision's ``features[]``: Didit's names for the workflow's features, in order."""
    names: list[str] = []
    for f in features:
        name = FEATURES[f["feature"]].name
        if name not in names:
            names.append(name)
    return names
