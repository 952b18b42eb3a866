"""The Reflex app: a table of contents.

It creates the app, mounts the backend HTTP routes (webhook inbox, business API and, in sandbox mode, the
embedded Didit sandbox) on the same origin, runs their background runtimes for the app's lifetime, and
registers every page. The settings were checked and the Radix theme configured in ``rxconfig.py``, which Reflex
loads before this module.
"""

from __future__ import annotations

import reflex as rx

from didit_portal import routes
from didit_portal.api.app import build_api, run_lifespans
from didit_portal.api.security_headers import security_headers
from didit_portal.pages import admin_queue, admin_session, demo, home, login, share, verify
from didit_portal.pages import audit as audit_page
from didit_portal.realtime import cookies as socket_cookies
from didit_portal.realtime import tabs as live
from didit_portal.states import admin_live
from didit_portal.states.base import StaffState
from didit_portal.states.queue import QueueState
from didit_portal.states.session_detail import SessionDetailState
from didit_portal.states.share import ShareState
from didit_portal.states.verify import VerifyState

api = build_api()

# Transformers apply in order: the API app mounts Reflex's backend, then the security-headers middleware wraps
# the result (pages, websocket and routes), adding CSP & co. on the end-user pages.
app = rx.App(api_transformer=[api, security_headers])  # the Radix theme is set in rxconfig.py (RadixThemesPlugin)
# Staff session cookies stay in this worker's memory, out of the state Reflex stores (.states/ or Redis).
socket_cookies.install(app)
# Reflex binds the keyword argument (functools.partial + update_wrapper, so the task keeps a name for its logs).
app.register_lifespan_task(run_lifespans, api=api)
# Live pages: this worker hears session changes and pushes them to the tabs that show them.
app.register_lifespan_task(live.running, rx_app=app)
# Staff pages: the queue's rows and open sessions follow webhooks; reviewer actions get confirmed.
app.register_lifespan_task(admin_live.running, rx_app=app)

app.add_page(home.home, route=routes.HOME, title=home.TITLE, description=home.DESCRIPTION)
app.add_page(demo.demo, route=routes.DEMO, title=demo.TITLE)
app.add_page(login.login, route=routes.LOGIN, title=login.TITLE, on_load=login.ON_LOAD)
app.add_page(admin_queue.queue_page, route=routes.ADMIN, title=admin_queue.TITLE,
             on_load=[StaffState.check_access("viewer"), QueueState.load])
app.add_page(admin_session.session_page, route=routes.ADMIN_SESSION, title=admin_session.TITLE,
             on_load=[StaffState.check_access("viewer"), SessionDetailState.load])
app.add_page(audit_page.audit_page, route=routes.ADMIN_AUDIT, title=audit_page.TITLE, on_load=audit_page.ON_LOAD)
app.add_page(verify.verify_page, route=routes.VERIFY, title=verify.TITLE, on_load=VerifyState.load)
app.add_page(verify.done_page, route=routes.VERIFY_DONE, title=verify.DONE_TITLE, on_load=VerifyState.load)
app.add_page(share.share_page, route=routes.SHARE, title=share.TITLE, on_load=ShareState.load)
