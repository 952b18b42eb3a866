"""Masking of personal data for viewers and the check cards built from a decision (pure functions)."""

from __future__ import annotations

import json
from dataclasses import asdict

from didit_portal.services.review import checks, masking

PII = [
    "Zoë",
    "Núñez-Øvrebø",
    "X1234567",
    "99887766Q",
    "1991-03-14",
    "zoe.nunez@example.com",
    "+34611222333",
    "611222333",
    "Calle Mayor 1",
    "28013",
    "83.44.120.7",
    "Sevilla",
]


def _decision() -> dict:
    img = "https://media.didit.invalid/ocr_front.png?X-Amz-Expires=3600"
    return {
        "session_id": "s-1",
        "status": "Declined",
        "id_verifications": [
            {
                "node_id": "feature_ocr",
                "status": "Declined",
                "document_type": "Passport",
                "document_number": "X1234567",
                "personal_number": "99887766Q",
                "first_name": "Zoë",
                "last_name": "Núñez-Øvrebø",
                "full_name": "Zoë Núñez-Øvrebø",
                "date_of_birth": "1991-03-14",
                "age": 35,
                "place_of_birth": "Sevilla",
                "address": "Calle Mayor 1, 28013 Madrid",
                "formatted_address": "Calle Mayor 1, 28013 Madrid",
                "parsed_address": {"street_1": "Calle Mayor 1", "postal_code": "28013", "city": "Madrid"},
                "mrz": {"mrz_string": "P<ESPNUNEZ<OVREBO<<ZOE X1234567"},
                "front_image": img,
                "portrait_image": img,
                "back_image": None,
                "warnings": [
                    {
                        "feature": "ID_VERIFICATION",
                        "risk": "DOCUMENT_EXPIRED",
                        "log_type": "error",
                        "short_description": "Document expired",
                    }
                ],
            }
        ],
        "aml_screenings": [
            {
                "node_id": "feature_aml",
                "status": "In Review",
                "entity_type": "person",
                "total_hits": 1,
                "score": 71.0,
                "screened_data": {
                    "full_name": "Zoë Núñez-Øvrebø",
                    "date_of_birth": "1991-03-14",
                    "document_number": "X1234567",
                },
                "hits": [
                    {
                        "caption": "Zoë Núñez-Øvrebø",
                        "match_score": 71.0,
                        "datasets": ["PEP"],
                        "pep_matches": [{"list": "PEP", "position": "Councillor"}],
                        "properties": {"name": ["Zoë Núñez-Øvrebø"], "birthDate": ["1991-03-14"]},
                        "risk_view": {"categories": ["PEP"]},
                        "review_status": "Unreviewed",
                    }
                ],
                "warnings": [{"risk": "POSSIBLE_MATCH_FOUND", "log_type": "warning", "short_description": "Possible"}],
            }
        ],
        "phone_verifications": [
            {
                "node_id": "p",
                "status": "Approved",
                "full_number": "+34611222333",
                "phone_number": "611222333",
                "is_virtual": False,
                "warnings": [],
            }
        ],
        "email_verifications": [
            {
                "node_id": "e",
                "status": "Approved",
                "email": "zoe.nunez@example.com",
                "is_breached": True,
                "warnings": [],
            }
        ],
        "ip_analyses": [
            {
                "node_id": "ip",
                "status": "Approved",
                "ip_address": "83.44.120.7",
                "ip_country": "Spain",
                "is_vpn_or_tor": True,
                "warnings": [],
            }
        ],
        "face_matches": [
            {
                "node_id": "fm",
                "status": "Approved",
                "score": 97.0,
                "source_image": img,
                "target_image": img,
                "warnings": [],
            }
        ],
        "questionnaire_responses": [
            {
                "node_id": "q",
                "status": "Approved",
                "title": "Source of funds",
                "sections": [
                    {
                        "items": [
                            {
                                "title": "Main source",
                                "element_type": "LONG_TEXT",
                                "answer": {"text": "Salary from Zoë's bakery"},
                            }
                        ]
                    }
                ],
                "warnings": [],
            }
        ],
        "reviews": [{"user": "ana@example.com", "new_status": "Declined", "comment": "Zoë's passport expired"}],
    }


def test_masked_decision_holds_no_personal_value_and_no_media() -> None:
    masked = masking.mask_document(_decision())
    dumped = json.dumps(masked, ensure_ascii=False)
    for value in PII:
        assert value not in dumped, value
    assert "https://" not in dumped and "X-Amz" not in dumped
    id_check = masked["id_verifications"][0]
    assert id_check["document_number"] == "••••••67"
    assert id_check["date_of_birth"] == "1991-••-••"
    assert id_check["full_name"].startswith("Z") and "•" in id_check["full_name"]
    # Facts a viewer needs survive: statuses, scores, flags, risk codes.
    assert id_check["status"] == "Declined" and id_check["warnings"][0]["risk"] == "DOCUMENT_EXPIRED"
    assert masked["ip_analyses"][0]["is_vpn_or_tor"] is True and masked["face_matches"][0]["score"] == 97.0


def test_cards_for_a_reviewer_list_images_and_real_values() -> None:
    cards = checks.build_cards(_decision(), with_media=True)
    assert [c.title for c in cards] == [
        "ID document",
        "Face match",
        "AML screening",
        "Phone",
        "Email",
        "IP analysis",
        "Questionnaire",
    ]
    id_card = cards[0]
    fields = {f.label: f.value for f in id_card.fields}
    assert fields["Document number"] == "X1234567" and fields["Full name"] == "Zoë Núñez-Øvrebø"
    assert fields["Issued by"] == "—"
    assert [m.key for m in id_card.media] == ["portrait_image", "front_image"]  # back_image is null
    assert [(w.risk, w.log_type) for w in id_card.warnings] == [("DOCUMENT_EXPIRED", "error")]
    aml = cards[2]
    assert aml.hits[0].lists == "PEP" and aml.hits[0].score == "71"
    assert {f.label: f.value for f in cards[3].fields}["Virtual"] == "No"
    assert {f.label: f.value for f in cards[-1].fields}["Main source"] == "Salary from Zoë's bakery"


def test_cards_for_a_viewer_are_masked_and_have_no_images() -> None:
    cards = checks.build_cards(masking.mask_document(_decision()), with_media=False)
    dumped = json.dumps([asdict(c) for c in cards], ensure_ascii=False)
    for value in PII:
        assert value not in dumped, value
    assert all(not c.media for c in cards)
    assert cards[2].hits and cards[2].hits[0].lists == "PEP"


def test_fresh_media_urls_and_resubmittable_nodes() -> None:
    decision = _decision()
    links = checks.media_urls(decision, "id_verifications:0")
    assert [link.label for link in links] == ["Portrait", "Front"]
    assert all(link.url.startswith("https://media.didit.invalid/") for link in links)
    assert checks.media_urls(decision, "id_verifications:5") == []
    assert checks.media_urls(decision, "nonsense") == []
    nodes = checks.resubmittable_nodes(decision)
    assert {"node_id": "feature_ocr", "feature": "OCR", "title": "ID document", "status": "Declined"} in nodes


def test_identifier_masking_only_hides_emails_and_phones() -> None:
    assert masking.mask_identifier("user-42") == "user-42"
    assert "zoe" not in masking.mask_identifier("zoe@example.com")
    assert masking.mask_identifier("+34 611 222 333").endswith("33")
    assert "611" not in masking.mask_identifier("+34 611 222 333")
