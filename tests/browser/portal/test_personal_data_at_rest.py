"""After a reviewer has looked at a person and signed out, nothing outside the encrypted columns names them (issue
10, item 6).

The database encrypts decisions; Reflex persists each tab's state (``.states/`` here, Redis with several workers),
and a reviewer's session page holds the person's name and document number. The portal seals that store and
empties the tab at sign-out: no file under the project folder or the portal's data folder, and no Redis key,
holds the last name or the document number in clear. (The embedded sandbox's own database is Didit's side of the
line: it stands in for Didit's servers, which keep the person's data, and is left out.)
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from playwright.sync_api import Page, expect

from tests.browser.portal.conftest import REPO, Portal
from tests.browser.portal.test_review_workspace import _finished_session, _sign_in, staff  # noqa: F401 -- fixture

pytestmark = pytest.mark.browser

#: Folders under the project that hold code, tools and caches, not data the portal writes.
_NOT_DATA = {".git", ".venv", ".tools", ".cache", ".reflex-home", "node_modules", ".web", "__pycache__"}


def _files(root: Path) -> Iterator[Path]:
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if d not in _NOT_DATA]
        for name in names:
            path = Path(folder) / name
            if path.is_file() and not path.is_symlink():
                yield path


def _holding(markers: list[bytes], roots: list[Path], since: float) -> list[str]:
    found = []
    for root in roots:
        for path in _files(root):
            if path.name.startswith("sandbox.db") or path.stat().st_mtime < since:
                continue
            blob = path.read_bytes()
            found += [f"{path}: {m.decode()}" for m in markers if m in blob]
    return found


def test_no_clear_personal_data_after_a_reviewer_signs_out(
    portal: Portal,
    staff: dict[str, str],  # noqa: F811
    page_factory: Callable[..., Page],
) -> None:
    started = time.time()
    session_id = _finished_session(portal, "approve", f"at-rest-{uuid.uuid4().hex[:8]}")
    page = _sign_in(page_factory, portal, staff["reviewer"])
    page.goto(f"{portal.origin}/admin/sessions/{session_id}", wait_until="networkidle")
    person = page.get_by_test_id("session-person")
    expect(person).to_contain_text("Document number")
    name = person.get_by_text("Name", exact=True).locator("xpath=following-sibling::*[1]").inner_text().strip()
    document = (
        person.get_by_text("Document number", exact=True).locator("xpath=following-sibling::*[1]").inner_text().strip()
    )
    last_name = name.split()[-1]
    assert len(last_name) >= 3 and len(document) >= 5, (name, document)
    page.wait_for_timeout(2500)  # Reflex writes a tab's state about 2 s after it changed: let it write the page
    page.get_by_test_id("logout-submit").click()
    page.wait_for_url("**/login**")
    page.wait_for_timeout(2500)  # and after sign-out
    markers = [last_name.encode(), document.encode()]
    leaks = _holding(markers, [REPO, portal.data_dir], since=started)
    assert not leaks, leaks
    keys = redis.Redis.from_url("redis://127.0.0.1:6379/0")
    for key in keys.scan_iter(count=1000):
        if keys.type(key) == b"string":
            value = keys.get(key) or b""
            assert not any(m in value for m in markers), key
