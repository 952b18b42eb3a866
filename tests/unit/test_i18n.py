"""The end-user pages' string catalogue and language choice."""

from __future__ import annotations

import pytest

from didit_portal import i18n
from didit_portal.didit.schemas import SessionStatus


@pytest.mark.parametrize(
    ("query", "header", "expected"),
    [
        (None, None, "en"),
        ("es", None, "es"),
        ("es-MX", "en-US,en;q=0.9", "es"),
        ("fr", "es-ES,es;q=0.9", "es"),  # unsupported ?lang= falls through to the browser
        (None, "fr-FR,fr;q=0.9,es;q=0.8,en;q=0.7", "es"),
        (None, "en;q=0.5,es;q=0.9", "es"),  # quality order, not position
        (None, "es;q=0,en", "en"),  # q=0 means "not this one"
        (None, "de, fr", "en"),
        (None, "garbage;q=x,,", "en"),
        ("EN", "es", "en"),
    ],
)
def test_pick_language(query: str | None, header: str | None, expected: str) -> None:
    assert i18n.pick_language(query, header) == expected


def test_every_language_has_every_key() -> None:
    for lang, catalogue in i18n.CATALOGUE.items():
        assert set(catalogue) == set(i18n.CATALOGUE["en"]), lang
        assert all(value or key.startswith("next.unknown") for key, value in catalogue.items()), lang


@pytest.mark.parametrize("status", [s.value for s in SessionStatus])
def test_every_didit_status_has_a_message_and_a_next_step_in_both_languages(status: str) -> None:
    english = i18n.status_message("en", status)
    spanish = i18n.status_message("es", status)
    assert all(english) and all(spanish)
    assert english != spanish
    assert english != i18n.status_message("en", "")  # not the "unknown" fallback


def test_in_progress_elsewhere_says_continue_on_the_phone() -> None:
    here = i18n.status_message("en", "In Progress")[1]
    there = i18n.status_message("en", "In Progress", on_phone=True)[1]
    assert here != there
    assert "phone" in there.lower()
    assert "móvil" in i18n.status_message("es", "In Progress", on_phone=True)[1]


def test_unknown_status_and_language_fall_back() -> None:
    assert i18n.status_message("en", "Nonsense")[0] == i18n.t("en", "status.unknown")
    assert i18n.t("xx", "verify.title") == "Verify your identity"
    assert i18n.t("es", "no.such.key") == "no.such.key"


def test_strings_by_prefix() -> None:
    strings = i18n.strings("es", "verify.")
    assert strings["title"] == "Verifica tu identidad"
    assert "share.title" not in strings and "title" in strings


def test_scope_words_are_plain_and_deduplicated() -> None:
    assert i18n.scope_words("en", "names email picture pictures") == [
        "Your name",
        "Your email address",
        "Your profile picture",
    ]
    assert i18n.scope_words("es", "phone") == ["Tu número de teléfono"]
    assert i18n.scope_words("en", "unknown_scope") == ["unknown_scope"]
