"""axe-core on the end-user pages: no serious or critical violation, light and dark, desktop and phone."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from tests.browser.portal.test_verify_pages import DESKTOP, MOBILE, open_page

if TYPE_CHECKING:
    from tests.browser.portal.conftest import LinkFactory, Portal

pytestmark = pytest.mark.browser


def serious_violations(page: Page) -> list[str]:
    """Serious and critical axe violations on the whole page (the shared header's "Sandbox" badge included)."""
    results = Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
        for v in results.response["violations"]
        if v.get("impact") in {"serious", "critical"}
    ]


@pytest.mark.parametrize("viewport", [DESKTOP, MOBILE], ids=["desktop", "mobile"])
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_end_user_pages_have_no_serious_axe_violation(
    portal: Portal,
    links: LinkFactory,
    page_factory: Callable[..., Page],
    viewport: dict[str, int],
    scheme: str,
) -> None:
    link = links.verification(f"axe-{scheme}-{viewport['width']}", return_url="https://shop.example/")
    share = links.share("names email")
    pages = {
        "verify": (link["path"], "verify-status"),
        "done": (link["path"] + "/done", "verify-status"),
        "share": (share["path"], "share-status"),
        "verify-es": (link["path"] + "?lang=es", "verify-status"),
    }
    problems: list[str] = []
    for name, (path, ready) in pages.items():
        page = open_page(page_factory, portal.origin + path, viewport=viewport, color_scheme=scheme)
        expect(page.get_by_test_id(ready)).to_be_visible()
        expect(page.get_by_test_id("sandbox-badge")).to_be_visible()  # checked too: no longer excluded
        problems += [f"{name}: {problem}" for problem in serious_violations(page)]
    assert not problems, "\n".join(problems)
