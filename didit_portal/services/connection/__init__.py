"""The Didit connection kept in the portal (``/admin/settings``): credentials, checks, the webhook destination.

* :mod:`.credentials` — the API key and webhook secrets entered in the browser, encrypted at rest, with the
  webhook secret's rotation grace period; what the Didit client and the webhook receiver actually use
  (environment variables win).
* :mod:`.check` — "test connection": Didit's health endpoint, then the key.
* :mod:`.destination` — "connect in one click": this portal's webhook URL registered at Didit.
* :mod:`.portal_settings` — four-eyes, require TOTP, session timeouts, and the mode for the next start.
"""
