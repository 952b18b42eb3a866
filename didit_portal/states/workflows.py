"""State of ``/admin/workflows`` (admins only): the Didit account's workflows, creating one, defaults per purpose.

Thin: every handler checks the role first, then calls :mod:`didit_portal.services.workflows`, which checks again,
talks to Didit and writes the audit rows. Only what the page shows lives here (one row per workflow; an account
has a handful).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import reflex as rx

from didit_portal.config import get_settings
from didit_portal.db import get_engine, reading, writing
from didit_portal.didit.factory import shared_client
from didit_portal.services.workflows import defaults, sync, templates
from didit_portal.states.base import StaffState, requires


def _rows() -> list[dict[str, str]]:
    engine = get_engine()
    found = sync.listed(engine)
    with reading(engine) as db:
        counts = sync.session_counts(db, [row.workflow_id for row in found])
    titles = {key: t.title for key, t in templates.TEMPLATES.items()}
    return [
        {
            "id": row.workflow_id,
            "label": row.label,
            "type": titles.get(row.workflow_type or "", row.workflow_type or "—"),
            "features": ", ".join(row.features or []) or "—",
            "is_default": "Yes" if row.is_default else "No",
            "sessions": str(counts.get(row.workflow_id, 0)),
        }
        for row in found
    ]


class WorkflowsState(StaffState):
    """The workflows, the create form's template, defaults, and the messages of each part."""

    rows: list[dict[str, str]] = []
    #: Purpose → chosen workflow id (``""``: none, Didit's default applies).
    defaults: dict[str, str] = {}
    #: Labels of purposes whose chosen workflow Didit no longer lists.
    defaults_gone: list[str] = []
    #: Preset → space-separated scopes.
    presets: dict[str, str] = {}
    #: ``DIDIT_WORKFLOW_ID`` is set: it wins over the defaults (the page says so).
    env_workflow: str = ""
    template: str = "kyc"
    syncing: bool = False
    sync_message: str = ""
    sync_error: str = ""
    creating: bool = False
    create_errors: list[str] = []
    create_message: str = ""
    #: Bumped after a create: the form is rendered anew, empty.
    form_key: int = 0
    defaults_message: str = ""
    defaults_error: str = ""
    presets_message: str = ""
    presets_errors: list[str] = []

    @rx.var
    def offered(self) -> list[str]:
        """The option groups the chosen template offers (the form shows only these).

        Returns:
            E.g. ``["aml", "documents", "face_match", "liveness", "nfc"]`` for KYC.
        """
        chosen = templates.TEMPLATES.get(self.template)
        return sorted(chosen.options) if chosen else []

    def _refresh(self) -> None:
        self.rows = _rows()
        with reading() as db:
            self.defaults = defaults.workflow_defaults(db)
            self.presets = {
                name: " ".join(defaults.default_scope_preset(db, name) or []) for name in defaults.SCOPE_PRESETS
            }
        known = {row["id"] for row in self.rows}
        self.defaults_gone = [
            defaults.PURPOSES[p][0] for p, chosen in self.defaults.items() if chosen and chosen not in known
        ]
        self.env_workflow = get_settings().didit_workflow_id or ""

    @rx.event
    @requires("admin")
    def load(self) -> None:
        """Page load: check access, show the local record and the defaults."""
        if self._guard("admin") is None:
            self.rows = []
            return
        self.sync_message = self.sync_error = self.create_message = ""
        self.create_errors = []
        self._refresh()

    @rx.event
    @requires("admin")
    async def sync_now(self) -> AsyncIterator[None]:
        """Ask Didit for its workflows now (``workflow-sync``); audited as ``workflow.sync``."""
        principal = self._require("admin")
        self.syncing, self.sync_message, self.sync_error = True, "", ""
        yield
        try:
            report = await sync.sync_workflows(
                get_engine(), shared_client(), actor=principal, trigger="staff", ip=self._client_ip()
            )
        finally:
            self.syncing = False
        if report.error:
            self.sync_error = report.error
        else:
            self.sync_message = (
                f"Synced {report.total} workflows: {report.added} new, {report.changed} changed, "
                f"{report.removed} removed."
            )
        self._refresh()

    @rx.event
    @requires("admin")
    def choose_template(self, template: str) -> None:
        """Show the chosen template's options in the create form.

        Args:
            template: A Didit ``workflow_type`` of :data:`~didit_portal.services.workflows.templates.TEMPLATES`.
        """
        self._require("admin")
        if template in templates.TEMPLATES:
            self.template = template

    @rx.event
    @requires("admin")
    async def create(self, form: dict[str, Any]) -> AsyncIterator[None]:
        """Create a workflow at Didit from the form (``workflow-create``); Didit's refusals show on the form.

        Args:
            form: The form's fields (:func:`~didit_portal.services.workflows.templates.options_from_form`).
        """
        principal = self._require("admin")
        self.create_message, self.create_errors = "", []
        try:
            options = templates.options_from_form(form)
        except templates.OptionsError as exc:
            self.create_errors = exc.messages
            return
        self.creating = True
        yield
        try:
            workflow_id = await sync.create_workflow(
                get_engine(), shared_client(), templates.build_body(options), actor=principal, ip=self._client_ip()
            )
        except sync.WorkflowCreateError as exc:
            self.create_errors = exc.messages
            return
        finally:
            self.creating = False
        self.create_message = f"Didit created “{options.label}” ({workflow_id})."
        self.form_key += 1
        self.template = "kyc"
        self._refresh()

    @rx.event
    @requires("admin")
    def choose_default(self, purpose: str, workflow_id: str) -> None:
        """Make a workflow the default for a purpose (``workflow-default``), or clear it with ``""``.

        Args:
            purpose: One of :data:`~didit_portal.services.workflows.defaults.PURPOSES`.
            workflow_id: A workflow of the local record, or ``""`` for Didit's default.
        """
        principal = self._require("admin")
        self.defaults_message = self.defaults_error = ""
        try:
            with writing() as db:
                defaults.set_default_workflow(db, purpose, workflow_id or None, actor=principal, ip=self._client_ip())
        except defaults.DefaultsError as exc:
            self.defaults_error = str(exc)
        else:
            label = defaults.PURPOSES[purpose][0]
            self.defaults_message = f"{label}: default saved."
        self._refresh()

    @rx.event
    @requires("admin")
    def save_presets(self, form: dict[str, Any]) -> None:
        """Save the Auth + Data scope presets (all or nothing).

        Args:
            form: Preset name → space-separated scopes.
        """
        principal = self._require("admin")
        self.presets_message, self.presets_errors = "", []
        try:
            with writing() as db:
                for name in defaults.SCOPE_PRESETS:
                    if name in form:
                        defaults.set_scope_preset(db, name, str(form[name]), actor=principal, ip=self._client_ip())
        except defaults.DefaultsError as exc:
            self.presets_errors = [str(exc)]  # nothing was saved: the transaction rolled back
        else:
            self.presets_message = "Scope presets saved."
        self._refresh()
