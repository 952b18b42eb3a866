"""A local imitation of Didit: its HTTP API, its hosted pages and its webhooks (``python -m didit_portal.sandbox``).

Layout: ``engine/`` (sessions, status moves, timers, outbox, decisions, workflows; built by composition),
``routes/`` (Didit's HTTP API as module-level handlers and one route table), ``hosted/`` (the verification page
and the Auth + Data phone page), ``runtime/`` (the background worker and webhook delivery) and ``model/`` (Didit's
data shapes: features, scenarios, persona, decision payloads, validation). :func:`didit_portal.sandbox.app.create_app`
puts them together; :mod:`didit_portal.sandbox.config` holds its settings.
"""
