"""Turn a Didit decision into display cards: one per check, plain strings only (what browser state may hold).

Pure functions. The caller masks the decision first for viewers
(:func:`didit_portal.services.review.masking.mask_document`);
media URLs are never put in cards — a card only names which images exist, and the page fetches fresh URLs from
Didit when a reviewer asks to see them (Didit's presigned URLs expire within hours).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final


@dataclass
class CardField:
    """One labelled value of a card."""

    label: str = ""
    value: str = ""


@dataclass
class CardWarning:
    """A warning Didit attached to a check, with its risk code."""

    risk: str = ""
    log_type: str = ""
    text: str = ""


@dataclass
class AmlHit:
    """One AML hit, summarised."""

    caption: str = ""
    score: str = ""
    datasets: str = ""
    lists: str = ""
    review_status: str = ""
    categories: str = ""


@dataclass
class MediaSlot:
    """An image a check has (its URL is fetched from Didit only when shown)."""

    key: str = ""
    label: str = ""


@dataclass
class MediaLink:
    """A fresh, short-lived media URL, as fetched from Didit at view time."""

    label: str = ""
    url: str = ""


@dataclass
class CheckCard:
    """One check element of a decision, ready to render (strings only)."""

    key: str = ""
    array: str = ""
    title: str = ""
    node_id: str = ""
    status: str = ""
    fields: list[CardField] = field(default_factory=list)
    warnings: list[CardWarning] = field(default_factory=list)
    hits: list[AmlHit] = field(default_factory=list)
    media: list[MediaSlot] = field(default_factory=list)


#: (decision array, card title, fields as (dotted path, label), media keys as (key, label)), in the page's order.
CHECKS: Final[tuple[tuple[str, str, tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]], ...]] = (
    (
        "id_verifications",
        "ID document",
        (
            ("document_type", "Document"),
            ("document_number", "Document number"),
            ("full_name", "Full name"),
            ("date_of_birth", "Date of birth"),
            ("age", "Age"),
            ("gender", "Gender"),
            ("nationality", "Nationality"),
            ("issuing_state_name", "Issued by"),
            ("date_of_issue", "Issued on"),
            ("expiration_date", "Expires on"),
            ("place_of_birth", "Place of birth"),
            ("formatted_address", "Address"),
        ),
        (("portrait_image", "Portrait"), ("front_image", "Front"), ("back_image", "Back")),
    ),
    (
        "nfc_verifications",
        "NFC chip",
        (
            ("authenticity.sod_integrity", "SOD integrity"),
            ("authenticity.dg_integrity", "Data-group integrity"),
            ("chip_data.document_number", "Document number"),
            ("chip_data.surname", "Surname"),
            ("chip_data.name", "Given names"),
            ("chip_data.birth_date", "Date of birth"),
            ("certificate_summary.issuer", "Certificate issuer"),
        ),
        (("portrait_image", "Chip portrait"), ("signature_image", "Signature")),
    ),
    (
        "liveness_checks",
        "Liveness",
        (
            ("method", "Method"),
            ("score", "Score"),
            ("age_estimation", "Estimated age"),
            ("face_quality", "Face quality"),
        ),
        (("reference_image", "Reference"),),
    ),
    (
        "face_matches",
        "Face match",
        (("score", "Similarity"),),
        (("source_image", "Selfie"), ("target_image", "Document portrait")),
    ),
    (
        "aml_screenings",
        "AML screening",
        (
            ("entity_type", "Entity"),
            ("total_hits", "Hits"),
            ("score", "Score"),
            ("screened_data.full_name", "Screened name"),
            ("screened_data.date_of_birth", "Screened date of birth"),
            ("is_ongoing_monitoring_enabled", "Ongoing monitoring"),
        ),
        (),
    ),
    (
        "phone_verifications",
        "Phone",
        (
            ("full_number", "Number"),
            ("country_name", "Country"),
            ("carrier.name", "Carrier"),
            ("carrier.type", "Line type"),
            ("is_disposable", "Disposable"),
            ("is_virtual", "Virtual"),
            ("verification_method", "Method"),
            ("verified_at", "Verified at"),
        ),
        (),
    ),
    (
        "email_verifications",
        "Email",
        (
            ("email", "Email"),
            ("is_breached", "Breached"),
            ("is_disposable", "Disposable"),
            ("is_undeliverable", "Undeliverable"),
            ("verified_at", "Verified at"),
        ),
        (),
    ),
    (
        "poa_verifications",
        "Proof of address",
        (
            ("document_type", "Document"),
            ("issuer", "Issuer"),
            ("issue_date", "Issued on"),
            ("name_on_document", "Name on document"),
            ("poa_formatted_address", "Address"),
            ("name_match_score_id_verification", "Name match with ID"),
        ),
        (("document_file", "Document"),),
    ),
    (
        "ip_analyses",
        "IP analysis",
        (
            ("ip_address", "IP address"),
            ("ip_country", "Country"),
            ("ip_city", "City"),
            ("isp", "ISP"),
            ("is_vpn_or_tor", "VPN or Tor"),
            ("is_data_center", "Data centre"),
            ("device_brand", "Device"),
            ("os_family", "OS"),
            ("browser_family", "Browser"),
        ),
        (),
    ),
    (
        "database_validations",
        "Database validation",
        (("issuing_state", "Country"), ("validation_type", "Validation"), ("match_type", "Match")),
        (),
    ),
    ("questionnaire_responses", "Questionnaire", (("title", "Questionnaire"), ("version", "Version")), ()),
)
EMPTY: Final = "—"


def display(value: Any) -> str:
    """A value as the page shows it.

    Args:
        value: A JSON scalar (lists are joined).

    Returns:
        Text; ``—`` for missing values.
    """
    if value is None or value in ("", []):
        return EMPTY
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, float):
        return f"{value:.2f}".rstrip("0").rstrip(".")
    if isinstance(value, list):
        return ", ".join(display(v) for v in value)  # pyright: ignore[reportUnknownVariableType]
    if isinstance(value, dict):
        return EMPTY
    return str(value)


def _get(element: dict[str, Any], path: str) -> Any:
    value: Any = element
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)  # pyright: ignore[reportUnknownMemberType]
    return value


def _warnings(element: dict[str, Any]) -> list[CardWarning]:
    out = []
    for warning in element.get("warnings") or []:
        if isinstance(warning, dict):
            out.append(
                CardWarning(
                    risk=str(warning.get("risk") or "UNKNOWN"),
                    log_type=str(warning.get("log_type") or "information"),
                    text=str(warning.get("short_description") or warning.get("long_description") or ""),
                )
            )
    return out


def _aml_hits(element: dict[str, Any]) -> list[AmlHit]:
    hits = []
    for hit in element.get("hits") or []:
        if not isinstance(hit, dict):
            continue
        lists = [
            m.get("list")
            for key in ("sanction_matches", "pep_matches", "warning_matches", "adverse_media_matches")
            for m in hit.get(key) or []
            if isinstance(m, dict) and m.get("list")
        ]
        hits.append(
            AmlHit(
                caption=display(hit.get("caption")),
                score=display(hit.get("match_score")),
                datasets=display(hit.get("datasets")),
                lists=display(lists),
                review_status=display(hit.get("review_status")),
                categories=display(_get(hit, "risk_view.categories")),
            )
        )
    return hits


def _questionnaire_fields(element: dict[str, Any]) -> list[CardField]:
    fields = []
    for section in element.get("sections") or []:
        for item in (section or {}).get("items") or []:
            if not isinstance(item, dict):
                continue
            answer = item.get("answer") if isinstance(item.get("answer"), dict) else {}
            value = (answer or {}).get("value", (answer or {}).get("text")) if answer else item.get("value")
            fields.append(CardField(label=display(item.get("title")), value=display(value)))
    return fields


def build_cards(decision: dict[str, Any] | None, *, with_media: bool) -> list[CheckCard]:
    """One card per check element of a decision, in a fixed order.

    Args:
        decision: The decision document (already masked for viewers), or None.
        with_media: Whether to list the images a card has (reviewers); viewers never see images.

    Returns:
        The cards, all values strings.
    """
    cards: list[CheckCard] = []
    if not decision:
        return cards
    for array, title, fields, media in CHECKS:
        elements = decision.get(array) or []
        for index, element in enumerate(elements):
            if not isinstance(element, dict):
                continue
            rows = [CardField(label=label, value=display(_get(element, path))) for path, label in fields]
            if array == "questionnaire_responses":
                rows += _questionnaire_fields(element)
            present = [MediaSlot(key=k, label=label) for k, label in media if with_media and element.get(k)]
            suffix = f" ({index + 1})" if len(elements) > 1 else ""
            cards.append(
                CheckCard(
                    key=f"{array}:{index}",
                    array=array,
                    title=title + suffix,
                    node_id=str(element.get("node_id") or ""),
                    status=str(element.get("status") or "Not Finished"),
                    fields=rows,
                    warnings=_warnings(element),
                    hits=_aml_hits(element) if array == "aml_screenings" else [],
                    media=present,
                )
            )
    return cards


def media_urls(decision: dict[str, Any], card_key: str) -> list[MediaLink]:
    """The current media URLs of one card, from a decision just fetched from Didit.

    Args:
        decision: A fresh decision document (its URLs are valid for a while).
        card_key: ``<array>:<index>`` as :func:`build_cards` made it.

    Returns:
        The card's images that have a URL now.
    """
    array, _, index_text = card_key.partition(":")
    spec = next((c for c in CHECKS if c[0] == array), None)
    if spec is None or not index_text.isdigit():
        return []
    elements = decision.get(array) or []
    index = int(index_text)
    if index >= len(elements) or not isinstance(elements[index], dict):
        return []
    element = elements[index]
    return [
        MediaLink(label=label, url=str(element[key]))
        for key, label in spec[3]
        if isinstance(element.get(key), str) and element[key].startswith(("https://", "http://"))
    ]


def resubmittable_nodes(decision: dict[str, Any] | None) -> list[dict[str, str]]:
    """The nodes a reviewer can ask the user to redo, from the decision's arrays.

    Args:
        decision: The latest decision, or None.

    Returns:
        ``[{node_id, feature, title, status}]``.
    """
    features = {
        "id_verifications": "OCR",
        "nfc_verifications": "NFC",
        "liveness_checks": "LIVENESS",
        "face_matches": "FACE_MATCH",
        "phone_verifications": "PHONE_VERIFICATION",
        "email_verifications": "EMAIL_VERIFICATION",
        "poa_verifications": "PROOF_OF_ADDRESS",
        "aml_screenings": "AML",
        "ip_analyses": "IP_ANALYSIS",
        "database_validations": "DATABASE_VALIDATION",
        "questionnaire_responses": "QUESTIONNAIRE",
    }
    nodes: list[dict[str, str]] = []
    for array, title, *_ in CHECKS:
        for element in (decision or {}).get(array) or []:
            if isinstance(element, dict) and element.get("node_id"):
                nodes.append(
                    {
                        "node_id": str(element["node_id"]),
                        "feature": features[array],
                        "title": title,
                        "status": str(element.get("status") or ""),
                    }
                )
    return nodes
