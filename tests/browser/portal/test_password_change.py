"""Changing a password in Chromium against the real portal: the forced change at a first sign-in, and the account
page's change, which signs the user out everywhere else.

Issue 10 item 4. Each test makes its own account with the CLI (the shared ``staff_accounts`` keep their password);
the forced change is the first admin's flag (``users bootstrap-admin`` sets it), put on a fresh account here.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import Page, expect

from tests.browser.portal.conftest import _PORTAL_SETTINGS, REPO, VENV_BIN

if TYPE_CHECKING:
    from tests.browser.portal.conftest import Portal

pytestmark = pytest.mark.browser

FIRST_PASSWORD = "the-printed-first-password"
NEW_PASSWORD = "a-password-only-i-know-now"


def _create(portal: Portal, email: str, *, must_change: bool = False) -> None:
    env = {key: value for key, value in os.environ.items() if key not in _PORTAL_SETTINGS}
    env.update(
        PORT=portal.origin.rsplit(":", 1)[1], PORTAL_DATA_DIR=str(portal.data_dir), PUBLIC_BASE_URL=portal.origin
    )
    command = [str(VENV_BIN / "python"), "-m", "didit_portal", "users", "create", "--email", email]
    result = subprocess.run(
        [*command, "--password-stdin", "--role", "admin"],
        cwd=REPO,
        env=env,
        input=FIRST_PASSWORD + "\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    if must_change:  # as `users bootstrap-admin` leaves its account (that command runs only on an empty database)
        with contextlib.closing(sqlite3.connect(portal.data_dir / "portal.db")) as db, db:
            changed = db.execute("UPDATE staff_user SET must_change_password = 1 WHERE email = ?", (email,)).rowcount
        assert changed == 1


def _sign_in(page: Page, portal: Portal, email: str, password: str, path: str = "/login") -> None:
    page.goto(portal.origin + path)
    # Wait for the page's state: a tab that was signed in a moment ago first gets its stored state back (the
    # signed-in panel), which would replace a form filled in the meantime.
    expect(page.get_by_test_id("login-submit")).to_be_enabled()
    page.get_by_test_id("login-email").fill(email)
    page.get_by_test_id("login-password").fill(password)
    page.get_by_test_id("login-submit").click()


def _change(page: Page, current: str, new: str) -> None:
    page.get_by_test_id("password-current").fill(current)
    page.get_by_test_id("password-new").fill(new)
    page.get_by_test_id("password-submit").click()


def test_a_first_sign_in_must_choose_a_new_password(
    portal: Portal, page_factory: Callable[..., Page], shots_dir: Path
) -> None:
    email = "first-admin@example.org"
    _create(portal, email, must_change=True)
    page = page_factory()
    _sign_in(page, portal, email, FIRST_PASSWORD, path="/login?next=/admin/audit")
    expect(page).to_have_url(re.compile(r"/login/?\?step=change&next=/admin/audit$"))
    expect(page.get_by_test_id("password-change-required")).to_be_visible()
    page.screenshot(path=shots_dir / "password-forced-change.png", full_page=True)
    # Nothing else is reachable meanwhile: a staff page sends the session back to this step.
    page.goto(portal.origin + "/admin")
    expect(page).to_have_url(re.compile(r"/login/?\?next=/admin$"))
    expect(page.get_by_test_id("password-current")).to_be_visible()
    expect(page.get_by_test_id("queue-table")).to_have_count(0)
    _change(page, "not-the-password-at-all", NEW_PASSWORD)
    expect(page).to_have_url(re.compile(r"error=current"))
    expect(page.get_by_test_id("login-error")).to_contain_text("current password is not right")
    _change(page, FIRST_PASSWORD, NEW_PASSWORD)
    expect(page).to_have_url(re.compile(r"/admin/?$"))
    expect(page.get_by_test_id("staff-email")).to_have_text(email)
    # The printed password is gone for good; the new one signs in.
    page.get_by_test_id("logout-submit").click()
    expect(page).to_have_url(re.compile(r"/login/?$"))
    _sign_in(page, portal, email, FIRST_PASSWORD)
    expect(page.get_by_test_id("login-error")).to_be_visible()
    _sign_in(page, portal, email, NEW_PASSWORD)
    expect(page).to_have_url(re.compile(r"/admin/?$"))


def test_changing_the_password_signs_out_every_other_browser(
    portal: Portal, page_factory: Callable[..., Page], shots_dir: Path
) -> None:
    email = "changes-password@example.org"
    _create(portal, email)
    laptop, phone = page_factory(), page_factory()
    for page in (laptop, phone):
        _sign_in(page, portal, email, FIRST_PASSWORD)
        expect(page.get_by_test_id("staff-email")).to_have_text(email)
    laptop.get_by_test_id("account-link").click()
    expect(laptop).to_have_url(re.compile(r"/admin/account/?$"))
    _change(laptop, "not-the-password-at-all", NEW_PASSWORD)
    expect(laptop.get_by_test_id("password-error")).to_be_visible()
    assert phone.request.get(f"{portal.origin}/api/auth/me").status == 200  # a refused change ends nothing
    _change(laptop, FIRST_PASSWORD, NEW_PASSWORD)
    expect(laptop.get_by_test_id("password-changed")).to_be_visible()
    laptop.screenshot(path=shots_dir / "password-changed.png", full_page=True)
    expect(laptop.get_by_test_id("staff-email")).to_have_text(email)  # this browser stays signed in
    assert laptop.request.get(f"{portal.origin}/api/auth/me").status == 200
    assert phone.request.get(f"{portal.origin}/api/auth/me").status == 401  # the other one is signed out
    phone.goto(portal.origin + "/admin/audit")
    expect(phone).to_have_url(re.compile(r"/login/?\?next=/admin/audit$"))
