"""Reviewer edits of a session's extracted data, as Didit's console allows, applied over the built decision.

Didit lets a reviewer correct a session's KYC, proof-of-address and NFC data in its console and then sends a
``data.updated`` webhook carrying the updated ``decision`` (https://docs.didit.me/integration/webhooks). The
console edit itself is not part of Didit's API; the sandbox stands it in with its own control call. Only the
small set of text fields below is editable, each written into every finished entry of its decision array.
"""

from __future__ import annotations

from typing import Any

from didit_portal.sandbox.types import EngineError

#: Section of the control call's body -> (decision array, nested object or None, editable fields).
EDITABLE: dict[str, tuple[str, str | None, frozenset[str]]] = {
    "id_verification": (
        "id_verifications",
        None,
        frozenset(
            {
                "first_name",
                "last_name",
                "full_name",
                "date_of_birth",
                "document_number",
                "expiration_date",
                "nationality",
                "place_of_birth",
                "address",
            }
        ),
    ),
    "proof_of_address": ("poa_verifications", None, frozenset({"issuer", "name_on_document", "poa_address"})),
    "nfc": ("nfc_verifications", "chip_data", frozenset({"name", "surname", "document_number", "address"})),
}
_MAX_VALUE = 200


def validate_edits(body: Any) -> dict[str, dict[str, str]]:
    """Check a control-call body: known sections, known fields, short strings; at least one field.

    Raises:
        EngineError: 400 in DRF's shape (field name -> messages).
    """
    if not isinstance(body, dict) or not body:
        raise EngineError(400, {"non_field_errors": [f"Send at least one of: {', '.join(sorted(EDITABLE))}."]})
    edits: dict[str, dict[str, str]] = {}
    for section, fields in body.items():
        if section not in EDITABLE:
            raise EngineError(400, {section: ["This section is not editable."]})
        allowed = EDITABLE[section][2]
        if not isinstance(fields, dict) or not fields:
            raise EngineError(400, {section: ["Expected a non-empty object."]})
        for name, value in fields.items():
            if name not in allowed:
                raise EngineError(400, {section: [f'"{name}" is not an editable field.']})
            if not isinstance(value, str) or not value.strip() or len(value) > _MAX_VALUE:
                raise EngineError(400, {section: [f'"{name}" must be a non-empty string of at most 200 characters.']})
        edits[section] = {str(k): str(v) for k, v in fields.items()}
    return edits


def apply_edits(decision: dict[str, Any], edits: dict[str, dict[str, str]]) -> int:
    """Write stored edits into the decision's finished entries (in place).

    Returns:
        How many entries were changed (0: the session has no finished node of any edited section).
    """
    changed = 0
    for section, fields in edits.items():
        array, nested, _ = EDITABLE[section]
        for entry in decision.get(array, []):
            if entry.get("status") == "Not Finished":
                continue  # a node that has not run has no data to correct
            target = entry.get(nested) if nested else entry
            if isinstance(target, dict):
                target.update(fields)
                changed += 1
    return changed
