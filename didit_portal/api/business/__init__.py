"""The business API under ``/api/v1``: the operator's backend creates verification and data-sharing links.

A FastAPI sub-app (its OpenAPI document at ``/api/v1/openapi.json``), mounted into the portal's Starlette app by
:func:`didit_portal.api.app.build_api`. Laid out by what each module holds:

- :mod:`.app`: :func:`business_app`, the FastAPI app (routers, error handlers, guard, Didit client lifetime);
- :mod:`.guard`: :class:`~.guard.BearerFirst`, the bearer check and the body cap, before FastAPI reads a body;
- :mod:`.deps`: the ``Annotated`` dependencies handlers declare (settings, engine, Didit client, calling token
  with the scope the operation needs);
- :mod:`.verifications`, :mod:`.data_requests`: one ``APIRouter`` per resource, module-level handlers;
- :mod:`.schemas`: request and response bodies (their JSON schemas make the OpenAPI document);
- :mod:`.errors`: the ``{error, message, fields?}`` error body and how every failure maps onto it.

Every route needs ``Authorization: Bearer <token>`` (tokens from ``python -m didit_portal tokens create``) holding
the operation's scope; a token reaches only the links it created.
Handlers are thin: the work is in :mod:`didit_portal.services.links.verification`.
"""

from didit_portal.api.business.app import business_app

__all__ = ["business_app"]
