"""The sandbox's hosted pages: Didit's verification page and the Auth + Data phone page.

Both imitate what Didit serves (https://docs.didit.me/integration/web-sdks/incontext-iframe and
https://docs.didit.me/auth-and-data/data-api-reference/full-flow); their buttons and test hooks are the sandbox's own.

``verification`` (with ``verification_api`` and ``page_state``) serves ``/session/{token}``; ``authorize``
serves ``/authorize/{token}``; ``common`` and ``render`` are what both share; ``table`` lists the routes;
``templates/`` and ``static/`` hold the HTML, CSS and script.
"""

from didit_portal.sandbox.hosted.common import DEVICE_COOKIE, HostedContext, bind_hosted
from didit_portal.sandbox.hosted.table import HOSTED_ROUTES

__all__ = ["DEVICE_COOKIE", "HOSTED_ROUTES", "HostedContext", "bind_hosted"]
