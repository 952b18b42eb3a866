"""The Reflex app: a table of contents.

It creates the app, mounts the backend HTTP routes (webhook inbox, business API and, in sandbox mode, the
embedded Didit sandbox) on the same origin, runs their background runtimes for the app's lifetime, and
registers every page. The settings were checked and the Radix theme configured in ``rxconfig.py``, which Reflex
loads before this module.
"""

from __future__ import annotations

import reflex as rx

from didit_portal import realtime, routes
from didit_portal.api.app import build_api, run_lifespans
from didit_portal.api.security_headers import security_headers
from didit_portal.pages import account as account_page
from didit_portal.pages import admin_queue, admin_session, demo, home, login, share, verify
from didit_portal.pages import audit as audit_page
from didit_portal.pages import settings as settings_page
from didit_portal.pages import webhooks as webhooks_page
from didit_portal.pages import workflows as workflows_page
from didit_portal.services import tasks
from didit_portal.services.audit import anchors as audit_anchors
from didit_portal.services.review import confirm
from didit_portal.services.workflows import sync as workflow_sync
from didit_portal.states import queue as queue_state
from didit_portal.states import session_detail as session_state
from didit_portal.states import share as share_state
from didit_portal.states import verify as verify_state
from didit_portal.states.base import StaffState
from didit_portal.states.queue import QueueState
from didit_portal.states.session_detail import SessionDetailState
from didit_portal.states.settings import SettingsState
from didit_portal.states.share import ShareState
from didit_portal.states.verify import VerifyState
from didit_portal.states.webhooks import WebhooksState

api = build_api()

# Transformers apply in order: the API app mounts Reflex's backend, then the security-headers middleware wraps
# the result (pages, websocket and routes), adding CSP & co. on the end-user pages.
app = rx.App(api_transformer=[api, security_headers])  # the Radix theme is set in rxconfig.py (RadixThemesPlugin)
# Live pages (the only hooks into Reflex's internals): staff session cookies stay in this worker's memory, out of
# the state Reflex stores (.states/ or Redis), and disconnected tabs are forgotten.
realtime.install(app)
# How a session change reaches each kind of page; realtime.running hears the changes and finds the tabs.
realtime.register_pusher("verify", verify_state.push)
realtime.register_pusher("share", share_state.push)
realtime.register_pusher("queue", queue_state.push)
realtime.register_pusher("session", session_state.push)
# Reflex binds the keyword argument (functools.partial + update_wrapper, so the task keeps a name for its logs).
app.register_lifespan_task(run_lifespans, api=api)
app.register_lifespan_task(realtime.running)
app.register_lifespan_task(tasks.spawned)  # "start again" tasks end with the app
# Staff action → Didit → webhook back: the webhook's status confirms the reviewer's action.
app.register_lifespan_task(confirm.running, engine=api.state.engine)
# The audit chain's anchor, at start-up and daily, to the data folder and the log (out of the database's reach).
app.register_lifespan_task(audit_anchors.anchoring, engine=api.state.engine, data_dir=api.state.data_dir)
# The Didit account's workflows, at start-up and hourly. Every worker runs its own (one sync at a time in each);
# harmless duplicates until a later issue gives periodic work a lease.
app.register_lifespan_task(workflow_sync.periodic, engine=api.state.engine)

app.add_page(home.home, route=routes.HOME, title=home.TITLE, description=home.DESCRIPTION)
app.add_page(demo.demo, route=routes.DEMO, title=demo.TITLE)
app.add_page(login.login, route=routes.LOGIN, title=login.TITLE, on_load=login.ON_LOAD)
app.add_page(
    admin_queue.queue_page,
    route=routes.ADMIN,
    title=admin_queue.TITLE,
    on_load=[StaffState.check_access("viewer"), QueueState.load],
)
app.add_page(
    admin_session.session_page,
    route=routes.ADMIN_SESSION,
    title=admin_session.TITLE,
    on_load=[StaffState.check_access("viewer"), SessionDetailState.load],
)
app.add_page(audit_page.audit_page, route=routes.ADMIN_AUDIT, title=audit_page.TITLE, on_load=audit_page.ON_LOAD)
app.add_page(
    workflows_page.workflows_page,
    route=routes.ADMIN_WORKFLOWS,
    title=workflows_page.TITLE,
    on_load=workflows_page.ON_LOAD,
)
app.add_page(
    settings_page.settings_page,
    route=routes.ADMIN_SETTINGS,
    title=settings_page.TITLE,
    on_load=[StaffState.check_access("admin"), SettingsState.load],
)
app.add_page(
    webhooks_page.webhooks_page,
    route=routes.ADMIN_WEBHOOKS,
    title=webhooks_page.TITLE,
    on_load=[StaffState.check_access("admin"), WebhooksState.load],
)
app.add_page(
    account_page.account_page, route=routes.ADMIN_ACCOUNT, title=account_page.TITLE, on_load=account_page.ON_LOAD
)
app.add_page(verify.verify_page, route=routes.VERIFY, title=verify.TITLE, on_load=VerifyState.load)
app.add_page(verify.done_page, route=routes.VERIFY_DONE, title=verify.DONE_TITLE, on_load=VerifyState.load)
app.add_page(share.share_page, route=routes.SHARE, title=share.TITLE, on_load=ShareState.load)
