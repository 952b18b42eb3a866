"""Sandbox scenarios: the slug catalogue and its resolution per workflow.

Didit documents the ``sandbox_scenario`` slugs ``approve`` and ``decline_aml_hit``
(https://docs.didit.me/integration/api-full-flow; Didit's sandbox docs:
https://docs.didit.me/integration/sandbox-testing); the other slugs (the sandbox's outcomes and didit-sdk 0.4.0's
list), the catalogue's shape and the resolution rules below are the sandbox's own.

A slug (or bare outcome) resolves to a plan for one workflow: which node fails, with which risk code, ending in
which status.

Risk codes: Didit's documented codes where one exists (``DOCUMENT_EXPIRED``, ``MRZ_VALIDATION_FAILED``); otherwise
didit-sdk 0.4.0's names, as provisional codes [C]. Codes marked [I] below are the sandbox's own choice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from didit_portal.sandbox.types import EngineError

#: Outcome slugs, in the catalogue's order.
OUTCOMES: tuple[str, ...] = ("approve", "decline", "review", "abandon", "expire", "kyc_expire", "resubmit")
OUTCOME_STATUS: dict[str, str] = {
    "approve": "Approved",
    "decline": "Declined",
    "review": "In Review",
    "abandon": "Abandoned",
    "expire": "Expired",
    "kyc_expire": "Kyc Expired",
    "resubmit": "Resubmitted",
}

#: The node a generic decline / review targets when the workflow has it (a sandbox rule), else the first node.
_DECLINE_TARGET, _REVIEW_TARGET = "OCR", "FACE_MATCH"

#: Risk code of a generic decline per feature.
DECLINE_RISK: dict[str, str] = {
    "OCR": "DOCUMENT_EXPIRED",
    "NFC": "NFC_CHIP_FAILED",
    "LIVENESS": "LOW_LIVENESS_SCORE",
    "FACE_MATCH": "LOW_FACE_MATCH_SIMILARITY",
    "AGE_ESTIMATION": "MINIMUM_AGE_NOT_MET",
    "PHONE_VERIFICATION": "PHONE_NUMBER_NOT_VERIFIED",  # [I]
    "EMAIL_VERIFICATION": "EMAIL_NOT_VERIFIED",  # [I]
    "PROOF_OF_ADDRESS": "POA_ADDRESS_MISMATCH",
    "QUESTIONNAIRE": "QUESTIONNAIRE_REJECTED",  # [I]
    "AML": "AML_MATCH_CONFIRMED",
    "IP_ANALYSIS": "IP_ADDRESS_IN_BLOCKLIST",
    "DATABASE_VALIDATION": "DATABASE_NO_MATCH",
}
#: Risk code of a generic review per feature.
REVIEW_RISK: dict[str, str] = {
    "OCR": "POSSIBLE_DUPLICATED_USER",
    "NFC": "NFC_CHIP_FAILED",
    "LIVENESS": "LOW_LIVENESS_SCORE",
    "FACE_MATCH": "LOW_FACE_MATCH_SIMILARITY",
    "AGE_ESTIMATION": "AGE_NEAR_THRESHOLD",  # [I]
    "PHONE_VERIFICATION": "VIRTUAL_PHONE_NUMBER",  # [I]
    "EMAIL_VERIFICATION": "BREACHED_EMAIL",  # [I]
    "PROOF_OF_ADDRESS": "POA_PARTIAL_MATCH",
    "QUESTIONNAIRE": "QUESTIONNAIRE_NEEDS_REVIEW",  # [I]
    "AML": "POSSIBLE_MATCH_FOUND",
    "IP_ANALYSIS": "DUPLICATED_IP_ADDRESS",
    "DATABASE_VALIDATION": "DATABASE_PARTIAL_MATCH",  # [I]
}


@dataclass(frozen=True)
class Scenario:
    """One catalogue entry."""

    slug: str
    outcome: str
    features: tuple[str, ...]  #: workflow features it targets, in preference order
    risk: str | None
    description: str
    label: str | None = None  #: the feature as the catalogue names it

    def as_json(self) -> dict[str, Any]:
        """The catalogue row (the sandbox's own shape for ``GET /v1/sandbox/scenarios/``)."""
        return {
            "slug": self.slug,
            "outcome": self.outcome,
            "status": OUTCOME_STATUS[self.outcome],
            "feature": self.label or (self.features[0] if self.features else None),
            "risk": self.risk,
            "description": self.description,
        }


SCENARIOS: dict[str, Scenario] = {
    s.slug: s
    for s in (
        Scenario("approve", "approve", (), None, "Every feature passes."),
        Scenario("decline", "decline", (), None, "The document (or the first feature) is declined."),
        Scenario("review", "review", (), None, "Face match is borderline (or the first feature needs review)."),
        Scenario("abandon", "abandon", (), None, "The user leaves after the first step."),
        Scenario("expire", "expire", (), None, "The session expires without data."),
        Scenario("kyc_expire", "kyc_expire", (), None, "An approved session passes its KYC expiry."),
        Scenario("resubmit", "resubmit", (), None, "A reviewer asks for failed steps to be redone."),
        Scenario(
            "decline_document_expired",
            "decline",
            ("OCR",),
            "DOCUMENT_EXPIRED",
            "The document's expiration_date is in the past.",
        ),
        Scenario(
            "decline_mrz_validation",
            "decline",
            ("OCR",),
            "MRZ_VALIDATION_FAILED",
            "The MRZ check digits do not validate.",
        ),
        Scenario(
            "decline_could_not_recognize_document",
            "decline",
            ("OCR",),
            "COULD_NOT_RECOGNIZE_DOCUMENT",
            "The document could not be recognised.",
        ),
        Scenario(
            "decline_minimum_age",
            "decline",
            ("AGE_ESTIMATION", "OCR"),
            "MINIMUM_AGE_NOT_MET",
            "The user is under the workflow's minimum age.",
            "AGE_ESTIMATION",
        ),
        Scenario(
            "decline_face_match_low_similarity",
            "decline",
            ("FACE_MATCH",),
            "LOW_FACE_MATCH_SIMILARITY",
            "Selfie and document portrait match below 40.",
        ),
        Scenario(
            "decline_liveness_attack",
            "decline",
            ("LIVENESS",),
            "LIVENESS_FACE_ATTACK",
            "A presentation attack is detected.",
        ),
        Scenario(
            "decline_aml_hit",
            "decline",
            ("AML",),
            "AML_MATCH_CONFIRMED",
            "The AML screening finds a sanctions hit (total_hits >= 1).",
        ),
        Scenario(
            "decline_ip_blocklist",
            "decline",
            ("IP_ANALYSIS",),
            "IP_ADDRESS_IN_BLOCKLIST",
            "The user's IP address is on a blocklist.",
        ),
        Scenario(
            "decline_poa_address_mismatch",
            "decline",
            ("PROOF_OF_ADDRESS",),
            "POA_ADDRESS_MISMATCH",
            "The proof of address does not match the expected address.",
            "POA",
        ),
        Scenario(
            "decline_nfc_chip_not_verified",
            "decline",
            ("NFC",),
            "NFC_CHIP_FAILED",
            "The NFC chip fails authentication.",
        ),
        Scenario(
            "decline_database_no_match",
            "decline",
            ("DATABASE_VALIDATION",),
            "DATABASE_NO_MATCH",
            "No record in the government database.",
        ),
        Scenario(
            "review_aml_possible_match",
            "review",
            ("AML",),
            "POSSIBLE_MATCH_FOUND",
            "A possible AML match needs review.",
        ),
        Scenario(
            "review_face_match_borderline",
            "review",
            ("FACE_MATCH",),
            "LOW_FACE_MATCH_SIMILARITY",
            "Face match score between 40 and 60.",
        ),
        Scenario(
            "review_poa_partial_match",
            "review",
            ("PROOF_OF_ADDRESS",),
            "POA_PARTIAL_MATCH",
            "The proof of address matches only partly.",
            "POA",
        ),
        Scenario(
            "decline_kyb_registry_mismatch",
            "decline",
            ("KYB_REGISTRY",),
            "REGISTRY_MISMATCH",
            "KYB only: the company registry data differ (400 on user workflows).",
            "KYB_REGISTRY",
        ),
    )
}


@dataclass(frozen=True)
class OutcomePlan:
    """What an outcome does to one workflow: the final status, and which node fails with which code."""

    outcome: str
    status: str
    feature: str | None = None  #: the node that is declined / put in review
    risk: str | None = None
    slug: str | None = None  #: the scenario that shaped the node's data (None: generic)


def catalog() -> dict[str, Any]:
    """The ``GET /v1/sandbox/scenarios/`` body."""
    return {"scenarios": [s.as_json() for s in SCENARIOS.values()], "outcomes": list(OUTCOMES)}


def validate_slug(slug: Any, *, business: bool = False) -> str:
    """Check a ``sandbox_scenario`` value at session creation.

    Args:
        slug: The requested slug.
        business: Whether the workflow is a KYB one (the sandbox has none, so always False today).

    Returns:
        The slug.

    Raises:
        EngineError: 400 for an unknown slug, or a KYB slug on a user workflow.
    """
    if not isinstance(slug, str) or slug not in SCENARIOS:
        raise EngineError(400, {"sandbox_scenario": [f"Unknown scenario '{slug}'."]})
    if "KYB_REGISTRY" in SCENARIOS[slug].features and not business:
        raise EngineError(400, {"sandbox_scenario": [f"Scenario '{slug}' applies to business (KYB) workflows only."]})
    return slug


def _first(preferred: str, features: list[str], risks: dict[str, str]) -> str | None:
    if preferred in features:
        return preferred
    return next((f for f in features if f in risks), None)


def plan(slug_or_outcome: str, features: list[str]) -> OutcomePlan:
    """Resolve a slug (or bare outcome) for a workflow.

    If the workflow lacks the scenario's feature, the generic outcome applies (a sandbox rule).

    Args:
        slug_or_outcome: A catalogue slug.
        features: The workflow's feature enums, in order.

    Returns:
        The plan.
    """
    scenario = SCENARIOS.get(slug_or_outcome)
    if scenario is None:
        raise EngineError(400, {"outcome": [f'"{slug_or_outcome}" is not a valid choice.']})
    outcome = scenario.outcome
    status = OUTCOME_STATUS[outcome]
    target = next((f for f in scenario.features if f in features), None)
    if target is not None:
        return OutcomePlan(outcome, status, target, scenario.risk, scenario.slug)
    if outcome == "decline":
        feature = _first(_DECLINE_TARGET, features, DECLINE_RISK)
        return OutcomePlan(outcome, status, feature, DECLINE_RISK.get(feature or ""))
    if outcome == "review":
        feature = _first(_REVIEW_TARGET, features, REVIEW_RISK)
        return OutcomePlan(outcome, status, feature, REVIEW_RISK.get(feature or ""))
    return OutcomePlan(outcome, status)
