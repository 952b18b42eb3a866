"""Pure helpers of the verification page's state."""

from __future__ import annotations

import pytest

from didit_portal.states.verify import safe_return_url, token_from_path


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://shop.example/account?x=1", "https://shop.example/account?x=1"),
        ("http://localhost:8080/back", "http://localhost:8080/back"),
        ("javascript:alert(1)", ""),
        ("JaVaScRiPt:alert(1)", ""),
        ("data:text/html,<script>", ""),
        ("//evil.example", ""),
        ("https:///nohost", ""),
        (None, ""),
        (42, ""),
    ],
)
def test_return_url_only_plain_http(url: object, expected: str) -> None:
    assert safe_return_url(url) == expected


@pytest.mark.parametrize(
    ("path", "token"),
    [
        ("/verify/abc", "abc"),
        ("/verify/abc/done", "abc"),
        ("/share/xyz", "xyz"),
        ("/verify/", ""),
        ("/", ""),
    ],
)
def test_token_from_path(path: str, token: str) -> None:
    assert token_from_path(path) == token
