"""A v3 decision's plural arrays: one entry per workflow node, shaped by the node's stored result.

Only the workflow's features produce entries; every other array is ``[]``, never null. Didit's data models:
https://docs.didit.me/reference/data-models.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from didit_portal.sandbox.model.decision import checks, identity
from didit_portal.sandbox.model.decision.context import NO_DATA_STATUSES, NodeContext
from didit_portal.sandbox.model.features import DECISION_ARRAYS, FEATURES, FeatureSpec, nodes_of

_DESCRIPTIONS: dict[str, tuple[str, str]] = {
    "DOCUMENT_EXPIRED": ("Document expired", "The document's expiration date is in the past."),
    "MRZ_VALIDATION_FAILED": ("MRZ validation failed", "The machine-readable zone check digits do not validate."),
    "COULD_NOT_RECOGNIZE_DOCUMENT": ("Document not recognised", "The document could not be recognised."),
    "MINIMUM_AGE_NOT_MET": ("Minimum age not met", "The user is younger than the workflow's minimum age."),
    "LOW_FACE_MATCH_SIMILARITY": (
        "Low face match similarity",
        "The selfie and the document portrait are not similar enough.",
    ),
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
    return {
        "feature": spec.name,
        "risk": risk,
        "log_type": log_type,
        "short_description": short,
        "long_description": long,
        "additional_data": None,
    }


def _build(
    spec: FeatureSpec,
    config: dict[str, Any],
    ctx: NodeContext,
    *,
    slug: str | None,
    is_target: bool,
    plan_status: str | None,
    risk: str | None,
) -> dict[str, Any]:
    """Run the feature's node builder (``plan_status``: the node's status when it decided the outcome)."""
    builders: dict[str, Callable[[], dict[str, Any]]] = {
        "OCR": lambda: identity.id_verification(ctx, slug, is_target, risk),
        "NFC": lambda: identity.nfc(ctx, slug, is_target),
        "LIVENESS": lambda: identity.liveness(ctx, slug, is_target, spec=spec, config=config, plan_status=plan_status),
        "AGE_ESTIMATION": lambda: identity.liveness(
            ctx, slug, is_target, spec=spec, config=config, plan_status=plan_status
        ),
        "FACE_MATCH": lambda: identity.face_match(ctx, slug, is_target, plan_status),
        "PHONE_VERIFICATION": lambda: checks.phone(ctx, slug, is_target),
        "EMAIL_VERIFICATION": lambda: checks.email(ctx, slug, is_target),
        "PROOF_OF_ADDRESS": lambda: checks.proof_of_address(ctx, slug, is_target, plan_status),
        "AML": lambda: checks.aml(ctx, slug, is_target, plan_status),
        "IP_ANALYSIS": lambda: checks.ip_analysis(ctx, slug, is_target),
        "DATABASE_VALIDATION": lambda: checks.database_validation(ctx, slug, is_target),
        "QUESTIONNAIRE": lambda: checks.questionnaire(ctx, slug, is_target),
    }
    return builders[spec.feature]()


def node_entry(
    spec: FeatureSpec, node_id: str, config: dict[str, Any], state: dict[str, Any] | None, ctx: NodeContext
) -> dict[str, Any]:
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
    risk = state.get("risk") if state else None
    data = _build(
        spec, config, ctx, slug=slug, is_target=is_target, plan_status=status if is_target else None, risk=risk
    )
    if status == "Not Finished":
        # Same keys as a finished node, so strict parsers see one shape; lists stay [] (never null).
        data = {k: ([] if isinstance(v, list) else None) for k, v in data.items()}
    warnings = []
    if risk and status in ("Declined", "In Review"):
        warnings.append(warning(spec, risk, "error" if status == "Declined" else "warning"))
    return {"node_id": node_id, "status": status, **data, "warnings": warnings}


def feature_arrays(
    features: list[dict[str, Any]], nodes: dict[str, Any], status: str, ctx: NodeContext
) -> dict[str, list[dict[str, Any]]]:
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


def feature_names(features: list[dict[str, Any]]) -> list[str]:
    """The decision's ``features[]``: Didit's names for the workflow's features, in order."""
    names: list[str] = []
    for f in features:
        name = FEATURES[f["feature"]].name
        if name not in names:
            names.append(name)
    return names
