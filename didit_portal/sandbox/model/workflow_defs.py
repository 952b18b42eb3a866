"""Workflow definitions: the preloaded workflows, the legacy flat create form, and the rules a feature list obeys.

Pure data and checks; :class:`~didit_portal.sandbox.engine.workflows.WorkflowRegistry` stores the workflows.
"""

from __future__ import annotations

import base64
from typing import Any

from didit_portal.sandbox.model.features import FEATURES, KYB_FEATURES, NEEDS_OCR_FIRST
from didit_portal.sandbox.types import EngineError

DEFAULT_FACE_MATCH_CONFIG = {"face_match_score_decline_threshold": 40, "face_match_score_review_threshold": 60}


def feature_entry(feature: str, **config: Any) -> dict[str, Any]:
    """One workflow feature as stored: ``{"feature", "config"}`` (face match gets Didit's default thresholds)."""
    if feature == "FACE_MATCH":
        config = {**DEFAULT_FACE_MATCH_CONFIG, **config}
    return {"feature": feature, "config": config}


#: The ``kyc`` workflow's features; unknown workflow ids are registered with these (sandbox-only, not Didit's).
KYC_FEATURES = [
    feature_entry("OCR"),
    feature_entry("LIVENESS", method="PASSIVE"),
    feature_entry("FACE_MATCH"),
    feature_entry("IP_ANALYSIS"),
]

#: name -> (fixed uuid, label, workflow_type, features). Fixed so tests and scripts can hard-code them.
PRELOADED: dict[str, tuple[str, str, str, list[dict[str, Any]]]] = {
    "kyc": ("3f6b2c1a-8d4e-4a7b-9c2d-1e0f5a6b7c01", "KYC", "kyc", KYC_FEATURES),
    "kyc_aml": ("3f6b2c1a-8d4e-4a7b-9c2d-1e0f5a6b7c02", "KYC + AML", "kyc", [*KYC_FEATURES, feature_entry("AML")]),
    # Adaptive age verification: a selfie estimate; the document (OCR) node only runs as the fallback near the
    # threshold, so it appears in decisions only when it ran.
    "age": (
        "3f6b2c1a-8d4e-4a7b-9c2d-1e0f5a6b7c03",
        "Adaptive Age Verification",
        "adaptive_age_verification",
        [feature_entry("AGE_ESTIMATION", age_threshold=18), feature_entry("OCR", fallback=True)],
    ),
    "biometric": (
        "3f6b2c1a-8d4e-4a7b-9c2d-1e0f5a6b7c04",
        "Biometric Authentication",
        "biometric_authentication",
        [feature_entry("LIVENESS", method="PASSIVE"), feature_entry("FACE_MATCH")],
    ),
    "poa": (
        "3f6b2c1a-8d4e-4a7b-9c2d-1e0f5a6b7c05",
        "Address Verification",
        "address_verification",
        [feature_entry("PROOF_OF_ADDRESS")],
    ),
    "all_features": (
        "3f6b2c1a-8d4e-4a7b-9c2d-1e0f5a6b7c06",
        "All features",
        "kyc",
        [
            feature_entry("OCR"),
            feature_entry("NFC"),
            feature_entry("LIVENESS", method="PASSIVE"),
            feature_entry("FACE_MATCH"),
            feature_entry("AGE_ESTIMATION"),
            feature_entry("PHONE_VERIFICATION"),
            feature_entry("EMAIL_VERIFICATION"),
            feature_entry("PROOF_OF_ADDRESS"),
            feature_entry("QUESTIONNAIRE"),
            feature_entry("AML"),
            feature_entry("IP_ANALYSIS"),
            feature_entry("DATABASE_VALIDATION"),
        ],
    ),
}

#: The older flat create form: ``workflow_type`` picks a template, ``is_*_enabled`` flags add features.
TEMPLATES: dict[str, list[dict[str, Any]]] = {
    "kyc": [feature_entry("OCR"), feature_entry("LIVENESS", method="PASSIVE"), feature_entry("FACE_MATCH")],
    "adaptive_age_verification": PRELOADED["age"][3],
    "biometric_authentication": PRELOADED["biometric"][3],
    "address_verification": PRELOADED["poa"][3],
    "questionnaire": [feature_entry("QUESTIONNAIRE")],
}
FLAGS = {
    "is_nfc_enabled": "NFC",
    "is_liveness_enabled": "LIVENESS",
    "is_face_match_enabled": "FACE_MATCH",
    "is_aml_enabled": "AML",
    "is_phone_verification_enabled": "PHONE_VERIFICATION",
    "is_email_verification_enabled": "EMAIL_VERIFICATION",
    "is_ip_analysis_enabled": "IP_ANALYSIS",
    "is_database_validation_enabled": "DATABASE_VALIDATION",
    "is_age_estimation_enabled": "AGE_ESTIMATION",
    "is_poa_enabled": "PROOF_OF_ADDRESS",
    "is_questionnaire_enabled": "QUESTIONNAIRE",
}


def unilink_url(public_url: str, workflow_id: str) -> str:
    """The workflow's UniLink: ``/u/{base64(workflow_id)}``.

    Didit: https://docs.didit.me/integration/web-sdks/incontext-iframe.
    """
    return f"{public_url}/u/{base64.urlsafe_b64encode(workflow_id.encode()).decode().rstrip('=')}"


def validate_features(raw: Any, workflow_type: str | None = None) -> list[dict[str, Any]]:
    """Check a management-API feature list: known, no KYB, no repeats, OCR before what needs it.

    Args:
        raw: The body's ``features`` (objects with ``feature`` and ``config``, or bare names).
        workflow_type: The workflow's type. A ``biometric_authentication`` workflow matches the face against the
            session's ``portrait_image``, not a document, so its FACE_MATCH needs no OCR before it (Didit's
            workflow types: https://docs.didit.me/reference/workflows).

    Returns:
        The features as stored.

    Raises:
        EngineError: 400 ``{"features": [...]}`` for the first problem found.
    """
    if not isinstance(raw, list) or not raw:
        raise EngineError(400, {"features": ["At least one feature is required."]})
    needs_ocr = NEEDS_OCR_FIRST - {"FACE_MATCH"} if workflow_type == "biometric_authentication" else NEEDS_OCR_FIRST
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for item in raw:
        feature = item.get("feature") if isinstance(item, dict) else item
        if not isinstance(feature, str):
            raise EngineError(400, {"features": ["Each feature must be an object with a 'feature' name."]})
        feature = feature.strip().upper()
        if feature in KYB_FEATURES:
            # [I] the sandbox imitates user (KYC) workflows only.
            raise EngineError(400, {"features": [f"KYB feature '{feature}' is not available in the sandbox."]})
        if feature not in FEATURES:
            raise EngineError(400, {"features": [f'"{feature}" is not a valid choice.']})
        if feature in seen:
            raise EngineError(400, {"features": [f"Feature '{feature}' appears twice."]})
        if feature in needs_ocr and "OCR" not in seen:
            raise EngineError(400, {"features": [f"OCR must come before {feature}."]})
        seen.add(feature)
        config = item.get("config") if isinstance(item, dict) else None
        if config is not None and not isinstance(config, dict):
            raise EngineError(400, {"features": ["'config' must be an object."]})
        out.append(feature_entry(feature, **(config or {})))
    return out


def check_int_range(body: dict[str, Any], key: str, low: int, high: int, errors: dict[str, list[str]]) -> None:
    """Record a DRF error in ``errors`` when ``body[key]`` is present but not an integer in ``[low, high]``."""
    if key in body:
        value = body[key]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            errors[key] = [f"Ensure this value is an integer between {low} and {high}."]


def features_from_body(body: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """The workflow type and features of a create body: an explicit list, or the flat form's template and flags.

    Args:
        body: The management API's create body (a dict).

    Returns:
        ``(workflow_type, features)``.

    Raises:
        EngineError: 400 for an invalid feature list or an unknown ``workflow_type``.
    """
    wf_type = body.get("workflow_type") or "kyc"
    if "features" in body:
        return str(wf_type), validate_features(body["features"], str(wf_type))
    if wf_type not in TEMPLATES:
        raise EngineError(400, {"workflow_type": [f'"{wf_type}" is not a valid choice.']})
    features = [dict(f) for f in TEMPLATES[wf_type]]
    for flag, feature in FLAGS.items():
        if body.get(flag) and all(f["feature"] != feature for f in features):
            features.append(feature_entry(feature))
    return str(wf_type), validate_features(features, str(wf_type))
