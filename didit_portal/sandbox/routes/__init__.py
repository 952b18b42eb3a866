"""Didit's HTTP API as the sandbox serves it: module-level handlers per API area and one route table.

``table`` lists every path; ``v3_sessions``, ``v3_webhooks``, ``v3_workflows``, ``v2_auth``, ``auth_data`` and
``control`` hold the handlers; ``http`` and ``guard`` are the plumbing (services, JSON, authentication, rate
limits); ``tokens`` and ``ratelimit`` implement Didit's client tokens and limits.
"""

from didit_portal.sandbox.routes.table import API_ROUTES

__all__ = ["API_ROUTES"]
