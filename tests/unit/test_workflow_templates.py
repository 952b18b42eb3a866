"""services/workflows/templates.py: the create form → Didit's ``POST /v3/workflows/`` body (pure)."""

from __future__ import annotations

import uuid

import pytest

from didit_portal.sandbox.model.features import NEEDS_OCR_FIRST
from didit_portal.services.workflows.templates import (
    DOCUMENT_TYPES,
    TEMPLATES,
    OptionsError,
    build_body,
    feature_names,
    options_from_form,
)

ALL_DOCS = {f"doc_{code}": "on" for code in DOCUMENT_TYPES}


def _names(body: dict) -> list[str]:
    return [f["feature"] for f in body["features"]]


def test_kyc_with_every_option_keeps_didits_order_and_config() -> None:
    form = {
        "template": "kyc",
        "label": "  Onboarding   KYC ",
        "doc_P": "on",
        "doc_ID": "on",
        "countries": "esp, usa ESP",
        "liveness_method": "active_3d",
        "face_match_decline": "35",
        "face_match_review": "70",
        "nfc": "on",
        "aml": "on",
        "phone": "on",
        "email": True,
        "ip_analysis": "on",
        "max_retry_attempts": "5",
    }
    body = build_body(options_from_form(form))
    assert body["workflow_label"] == "Onboarding KYC"
    assert body["workflow_type"] == "kyc"
    assert body["max_retry_attempts"] == 5
    names = _names(body)
    assert names == [
        "OCR",
        "NFC",
        "LIVENESS",
        "FACE_MATCH",
        "PHONE_VERIFICATION",
        "EMAIL_VERIFICATION",
        "AML",
        "IP_ANALYSIS",
    ]
    # Didit's rule: OCR before FACE_MATCH, NFC, DATABASE_VALIDATION (and person AML).
    for feature in (*NEEDS_OCR_FIRST, "AML"):
        if feature in names:
            assert names.index("OCR") < names.index(feature)
    features = {f["feature"]: f.get("config") for f in body["features"]}
    assert features["OCR"] == {
        "documents_allowed": {c: {"P": {"enabled": 1}, "ID": {"enabled": 1}} for c in ("ESP", "USA")}
    }
    assert features["LIVENESS"] == {"face_liveness_method": "active_3d"}
    assert features["FACE_MATCH"] == {"face_match_score_decline_threshold": 35, "face_match_score_review_threshold": 70}


def test_defaults_send_no_document_restriction() -> None:
    body = build_body(options_from_form({"template": "kyc", "label": "K", **ALL_DOCS}))
    assert body["features"][0] == {"feature": "OCR"}  # Didit's default: every country and type
    assert _names(body) == ["OCR", "LIVENESS", "FACE_MATCH"]  # unchecked boxes post nothing: no IP analysis
    assert body["max_retry_attempts"] == 3


@pytest.mark.parametrize(
    ("template", "first"),
    [
        ("adaptive_age_verification", ["AGE_ESTIMATION"]),
        ("biometric_authentication", ["LIVENESS", "FACE_MATCH"]),
        ("address_verification", ["PROOF_OF_ADDRESS"]),
        ("questionnaire_verification", ["QUESTIONNAIRE"]),
    ],
)
def test_other_templates_ignore_kyc_only_options(template: str, first: list[str]) -> None:
    questionnaire = str(uuid.uuid4())
    form = {
        "template": template,
        "label": "x",
        "aml": "on",
        "nfc": "on",
        "ip_analysis": "on",
        "questionnaire_uuid": questionnaire,
    }
    body = build_body(options_from_form(form))
    assert _names(body) == [*first, "IP_ANALYSIS"]
    assert body["workflow_type"] == template
    if template == "questionnaire_verification":
        assert body["features"][0]["config"] == {"questionnaire_uuid": questionnaire}


def test_every_template_is_offered() -> None:
    assert [t.title for t in TEMPLATES.values()] == [
        "KYC",
        "Adaptive Age Verification",
        "Biometric Authentication",
        "Address Verification",
        "Questionnaire",
    ]


@pytest.mark.parametrize(
    ("form", "needle"),
    [
        ({"template": "nope", "label": "x"}, "templates"),
        ({"template": "kyc", "label": "   ", **ALL_DOCS}, "label"),
        ({"template": "kyc", "label": "x", **ALL_DOCS, "max_retry_attempts": "11"}, "Retry attempts"),
        ({"template": "kyc", "label": "x", **ALL_DOCS, "max_retry_attempts": "two"}, "whole number"),
        ({"template": "kyc", "label": "x", **ALL_DOCS, "face_match_decline": "80"}, "decline threshold"),
        ({"template": "kyc", "label": "x", **ALL_DOCS, "liveness_method": "blink"}, "liveness method"),
        ({"template": "kyc", "label": "x"}, "document type"),
        ({"template": "kyc", "label": "x", "doc_P": "on"}, "issuing countries"),
        ({"template": "kyc", "label": "x", **ALL_DOCS, "countries": "Spain"}, "three-letter"),
        ({"template": "questionnaire_verification", "label": "x"}, "questionnaire"),
        ({"template": "questionnaire_verification", "label": "x", "questionnaire_uuid": "q1"}, "UUID"),
    ],
)
def test_bad_choices_are_refused_before_didit_is_asked(form: dict, needle: str) -> None:
    with pytest.raises(OptionsError) as caught:
        options_from_form(form)
    assert any(needle in message for message in caught.value.messages), caught.value.messages


def test_feature_names_reads_both_shapes() -> None:
    assert feature_names(["OCR", "LIVENESS"]) == ["OCR", "LIVENESS"]  # Didit's list
    assert feature_names([{"feature": "OCR", "config": {}}, {"x": 1}]) == ["OCR"]  # the sandbox's objects
    assert feature_names(None) == []
