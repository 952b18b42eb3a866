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
from didit_portal.pages import demo, home, login

api = build_api()

app = rx.App(api_transformer=api)  # the Radix theme is set in rxconfig.py (RadixThemesPlugin)
# Reflex binds the keyword argument (functools.partial + update_wrapper, so the task keeps a name for its logs).
app.register_lifespan_task(run_lifespans, api=api)

app.add_page(home.home, route=routes.HOME, title=home.TITLE, description=home.DESCRIPTION)
app.add_page(demo.demo, route=routes.DEMO, title=demo.TITLE)
app.add_page(login.login, route=routes.LOGIN, title=login.TITLE)
