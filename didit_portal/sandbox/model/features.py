"""Didit's workflow features: how each one shows up in decisions, on the hosted page and in a price list.

Didit's workflow docs (https://docs.didit.me/management-api/workflows/create) name the features; the decision's
plural arrays are Didit's ``GET /v3/session/{id}/decision/`` shape (https://docs.didit.me/reference/data-models).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FeatureSpec:
    """How one workflow feature shows up in decisions and on the hosted page."""

    feature: str  #: workflow enum, e.g. ``OCR``
    name: str  #: name in the decision's ``features[]`` and in warnings, e.g. ``ID_VERIFICATION``
    array: str  #: the decision's plural array, e.g. ``id_verifications``
    node_id: str  #: the sandbox's node id, e.g. ``feature_ocr``
    steps: tuple[str, ...]  #: hosted steps, in order; empty for native-only and backend features
    backend: bool = False  #: runs server-side (AML, IP, database): re-runs at once after a resubmission
    price: float = 0.0


FEATURES: dict[str, FeatureSpec] = {
    spec.feature: spec
    for spec in (
        FeatureSpec(
            "OCR",
            "ID_VERIFICATION",
            "id_verifications",
            "feature_ocr",
            ("document_selection", "document_front", "document_back"),
            price=0.15,
        ),
        FeatureSpec("NFC", "NFC", "nfc_verifications", "feature_nfc", (), price=0.1),
        FeatureSpec("LIVENESS", "LIVENESS", "liveness_checks", "feature_liveness", ("face",), price=0.1),
        FeatureSpec("FACE_MATCH", "FACE_MATCH", "face_matches", "feature_face_match", ("face",), price=0.05),
        FeatureSpec(
            "AGE_ESTIMATION", "AGE_ESTIMATION", "liveness_checks", "feature_age_estimation", ("face",), price=0.1
        ),
        FeatureSpec("PHONE_VERIFICATION", "PHONE", "phone_verifications", "feature_phone", ("phone",), price=0.1),
        FeatureSpec(
            "EMAIL_VERIFICATION", "EMAIL_VERIFICATION", "email_verifications", "feature_email", ("email",), price=0.03
        ),
        FeatureSpec("PROOF_OF_ADDRESS", "POA", "poa_verifications", "feature_poa", ("poa",), price=0.2),
        FeatureSpec(
            "QUESTIONNAIRE",
            "QUESTIONNAIRE",
            "questionnaire_responses",
            "feature_questionnaire",
            ("questionnaire",),
            price=0.0,
        ),
        FeatureSpec("AML", "AML", "aml_screenings", "feature_aml", (), backend=True, price=0.2),
        FeatureSpec("IP_ANALYSIS", "IP_ANALYSIS", "ip_analyses", "feature_ip_analysis", (), backend=True, price=0.0),
        FeatureSpec(
            "DATABASE_VALIDATION",
            "DATABASE_VALIDATION",
            "database_validations",
            "feature_database_validation",
            (),
            backend=True,
            price=0.3,
        ),
    )
}

#: Every plural array a v3 decision carries (Didit's data models, above); those the workflow lacks are ``[]``,
#: never null, because strict clients such as didit-sdk reject null.
DECISION_ARRAYS: tuple[str, ...] = (
    "id_verifications",
    "nfc_verifications",
    "liveness_checks",
    "face_matches",
    "phone_verifications",
    "email_verifications",
    "poa_verifications",
    "aml_screenings",
    "ip_analyses",
    "database_validations",
    "questionnaire_responses",
    "signatures",
    "bank_verifications",
)

#: Names a client may use for a feature in ``nodes_to_resubmit`` (didit-sdk's aliases; the field is Didit's:
#: https://docs.didit.me/sessions-api/update-status).
FEATURE_ALIASES: dict[str, str] = {
    "ID_VERIFICATION": "OCR",
    "OCR_BACK": "OCR",
    "POA": "PROOF_OF_ADDRESS",
    "PHONE": "PHONE_VERIFICATION",
    "EMAIL": "EMAIL_VERIFICATION",
}
KYB_FEATURES = frozenset({"KYB_REGISTRY", "KYB_DOCUMENTS", "KYB_KEY_PEOPLE", "KYB"})
#: OCR must come before these (Didit's workflow docs, above).
NEEDS_OCR_FIRST = frozenset({"FACE_MATCH", "NFC", "DATABASE_VALIDATION"})


def nodes_of(features: list[dict[str, Any]]) -> list[tuple[str, FeatureSpec, dict[str, Any]]]:
    """Return a workflow's nodes in order: ``(node_id, spec, config)``."""
    return [(FEATURES[f["feature"]].node_id, FEATURES[f["feature"]], f.get("config") or {}) for f in features]


def hosted_steps(features: list[dict[str, Any]]) -> list[str]:
    """The hosted page's steps for a workflow, in order and without repeats (fallback nodes excluded)."""
    steps: list[str] = []
    for _node_id, spec, config in nodes_of(features):
        if config.get("fallback"):
            continue
        for step in spec.steps:
            if step not in steps:
                steps.append(step)
    return steps


def resolve_feature_name(name: str) -> str | None:
    """Map a client's feature name (or didit-sdk alias) to the workflow enum; None when unknown."""
    name = name.strip().upper()
    name = FEATURE_ALIASES.get(name, name)
    return name if name in FEATURES or name == "FACE" else None
