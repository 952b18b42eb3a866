"""Decision nodes of the identity document and the face: ID verification (OCR), NFC, liveness, face match.

Scores are floats, and whole ones stay integral floats (``97.0``) so that Didit's V2 signature canonicalisation
has work to do; the NFC certificate serial is a float near 1e38, as Didit sends it (Didit's data models:
https://docs.didit.me/reference/data-models).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from didit_portal.sandbox.model.decision.context import NodeContext, parsed_address
from didit_portal.sandbox.model.features import FeatureSpec
from didit_portal.sandbox.model.persona import Persona, media_url

NFC_SERIAL = 1.1812083616449413e38

#: Fields an unrecognised document leaves empty.
_UNRECOGNISED = (
    "document_type",
    "document_number",
    "personal_number",
    "first_name",
    "last_name",
    "full_name",
    "gender",
    "date_of_birth",
    "age",
    "date_of_issue",
    "expiration_date",
    "issuing_state",
    "issuing_state_name",
    "nationality",
    "place_of_birth",
    "address",
    "formatted_address",
    "parsed_address",
    "mrz",
    "portrait_image",
)


def _years_ago(years: int) -> str:
    today = date.today()
    try:
        return today.replace(year=today.year - years).isoformat()
    except ValueError:  # 29 February
        return (today - timedelta(days=365 * years)).isoformat()


def _mrz(p: Persona, dob: str, expiry: str, *, bad_check_digits: bool) -> dict[str, Any]:
    """The passport's TD3 machine-readable zone, consistent with the (possibly altered) dates."""
    line1 = f"P<{p.issuing_state}NUNEZ<OVREBO<<ZOE".ljust(44, "<")[:44]
    line2 = f"{p.document_number}<4{p.nationality}{dob[2:4]}{dob[5:7]}{dob[8:10]}1F{expiry[2:4]}{expiry[5:7]}"
    line2 = (line2 + f"{expiry[8:10]}9").ljust(42, "<")[:42] + "06"
    return {
        "surname": p.last_name.upper(),
        "name": p.first_name.upper(),
        "country": p.issuing_state,
        "nationality": p.nationality,
        "birth_date": dob,
        "expiry_date": expiry,
        "sex": p.gender,
        "document_type": "P",
        "document_number": p.document_number,
        "personal_number": p.personal_number,
        "mrz_type": "TD3",
        "mrz_string": f"{line1}\n{line2}",
        "errors": ["Check digit mismatch"] if bad_check_digits else [],
    }


def _document_fields(p: Persona, dob: str, issue: str, expiry: str) -> dict[str, Any]:
    """What OCR read from the document's data page."""
    return {
        "document_type": "Passport",
        "document_number": p.document_number,
        "personal_number": p.personal_number,
        "first_name": p.first_name,
        "last_name": p.last_name,
        "full_name": p.full_name,
        "gender": p.gender,
        "date_of_birth": dob,
        "age": Persona(date_of_birth=dob).age(),
        "date_of_issue": issue,
        "expiration_date": expiry,
        "issuing_state": p.issuing_state,
        "issuing_state_name": p.issuing_state_name,
        "nationality": p.nationality,
        "place_of_birth": p.place_of_birth,
        "marital_status": "UNKNOWN",
        "address": p.address,
        "formatted_address": p.address,
        "parsed_address": parsed_address(p),
    }


def _document_media(ctx: NodeContext) -> dict[str, Any]:
    """The document's images (sandbox media URLs), its absent videos and its image-quality scores."""
    url, sid = ctx.public_url, ctx.session_id
    return {
        "portrait_image": media_url(url, sid, "ocr_portrait"),
        "front_image": media_url(url, sid, "ocr_front"),
        "back_image": media_url(url, sid, "ocr_back"),
        "full_front_image": media_url(url, sid, "ocr_full_front"),
        "full_back_image": media_url(url, sid, "ocr_full_back"),
        "front_video": None,
        "back_video": None,
        "front_image_camera_front": None,
        "back_image_camera_front": None,
        "front_image_camera_front_face_match_score": None,
        "back_image_camera_front_face_match_score": None,
        "front_image_quality_score": {
            "overall_score": 92.0,
            "focus_score": 95.0,
            "brightness_score": 88.0,
            "brightness_issue": None,
            "resolution_score": 100.0,
            "is_document_fully_visible": True,
        },
        "back_image_quality_score": {
            "overall_score": 90.0,
            "focus_score": 93.0,
            "brightness_score": 86.0,
            "brightness_issue": None,
            "resolution_score": 100.0,
            "is_document_fully_visible": True,
        },
    }


def id_verification(ctx: NodeContext, slug: str | None, is_target: bool, risk: str | None) -> dict[str, Any]:
    """An ``id_verifications`` entry; a targeted node shows the failure its risk code or scenario names."""
    p = ctx.persona
    dob, issue, expiry = p.date_of_birth, p.date_of_issue, p.expiration_date
    if is_target and risk == "DOCUMENT_EXPIRED":
        issue, expiry = "2010-01-10", "2020-01-09"
    if is_target and risk == "MINIMUM_AGE_NOT_MET":
        dob = _years_ago(15)
    mrz = _mrz(p, dob, expiry, bad_check_digits=is_target and slug == "decline_mrz_validation")
    # Keys in Didit's order: the data page, the MRZ, extra fields, then the images.
    entry = {
        **_document_fields(p, dob, issue, expiry),
        "mrz": mrz,
        "extra_fields": {},
        "extra_files": [],
        **_document_media(ctx),
        "matches": [],
    }
    if is_target and slug == "decline_could_not_recognize_document":
        entry.update(dict.fromkeys(_UNRECOGNISED))
    return entry


def nfc(ctx: NodeContext, slug: str | None, is_target: bool) -> dict[str, Any]:
    """An ``nfc_verifications`` entry; a targeted node fails the chip's integrity checks."""
    p = ctx.persona
    ok = not is_target
    return {
        "portrait_image": media_url(ctx.public_url, ctx.session_id, "nfc_portrait"),
        "signature_image": media_url(ctx.public_url, ctx.session_id, "nfc_signature"),
        "authenticity": {"sod_integrity": ok, "dg_integrity": ok},
        "certificate_summary": {
            "issuer": "C=ES,O=DIRECCION GENERAL DE LA POLICIA,CN=CSCA SPAIN",
            "subject": "C=ES,O=DIRECCION GENERAL DE LA POLICIA,CN=DS SPAIN",
            "serial_number": NFC_SERIAL,
            "not_valid_before": "2020-06-01T00:00:00Z",
            "not_valid_after": "2031-09-01T00:00:00Z",
        },
        "chip_data": {
            "document_type": "P",
            "document_number": p.document_number,
            "name": p.first_name,
            "surname": p.last_name,
            "sex": p.gender,
            "nationality": p.nationality,
            "country": p.issuing_state,
            "birth_date": p.date_of_birth,
            "expiry_date": p.expiration_date,
            "place_of_birth": p.place_of_birth,
            "address": p.address,
            "optional_data": p.personal_number,
            "mrz_string": None,
            "mrz_type": "TD3",
            "dgs": ["DG1", "DG2", "DG11", "DG12", "DG14"],
            "dg1_hash": "4f1c0e2d9b7a",
            "dg2_hash": "8e3d2c1b0a99",
            "sod_hash": "1a2b3c4d5e6f",
        },
    }


def liveness(
    ctx: NodeContext,
    slug: str | None,
    is_target: bool,
    *,
    spec: FeatureSpec,
    config: dict[str, Any],
    plan_status: str | None,
) -> dict[str, Any]:
    """A ``liveness_checks`` entry for a LIVENESS or AGE_ESTIMATION node (a targeted one scores low)."""
    age = float(ctx.persona.age())
    score = 91.0
    if spec.feature == "AGE_ESTIMATION" and is_target:
        age = 14.0 if plan_status == "Declined" else float(config.get("age_threshold", 18))
    if spec.feature == "LIVENESS" and is_target:
        score = 8.0 if slug == "decline_liveness_attack" or plan_status == "Declined" else 55.0
    name = "liveness" if spec.feature == "LIVENESS" else "age_estimation"
    return {
        "method": config.get("method", "PASSIVE"),
        "score": score,
        "reference_image": media_url(ctx.public_url, ctx.session_id, f"{name}_reference"),
        "video_url": None,
        "age_estimation": age,
        "face_quality": 88.0,
        "face_luminance": 52.0,
        "matches": [],
    }


def face_match(ctx: NodeContext, slug: str | None, is_target: bool, plan_status: str | None) -> dict[str, Any]:
    """A ``face_matches`` entry: 97 when approved, 50 in review, 21 when declined."""
    score = 97.0
    if is_target:
        score = 21.0 if plan_status == "Declined" else 50.0
    return {
        "score": score,
        "source_image": media_url(ctx.public_url, ctx.session_id, "face_selfie"),
        "target_image": media_url(ctx.public_url, ctx.session_id, "ocr_portrait"),
        "source_image_session_id": None,
    }
