"""``python -m didit_portal keys rotate``: move every stored secret to the current ``PORTAL_SECRET_KEY``.

A rotation, step by step (README, "Rotating PORTAL_SECRET_KEY"):

1. set ``PORTAL_SECRET_KEY_PREVIOUS`` to the current key and ``PORTAL_SECRET_KEY`` to a new one; restart;
2. run ``python -m didit_portal keys rotate`` (the portal may keep running);
3. re-issue the business-API tokens it reports, then remove ``PORTAL_SECRET_KEY_PREVIOUS`` and restart.

Run without ``PORTAL_SECRET_KEY_PREVIOUS`` it binds every value written before row binding to its row and moves
the audit trail's plain-hash rows onto the keyed chain, under the one key.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from typing import Any

from didit_portal.config import startup_check
from didit_portal.db import get_engine
from didit_portal.security import DecryptionError, configure_keys
from didit_portal.services import audit
from didit_portal.services.lifecycle.key_rotation import rotate


def add_parser(sub: Any) -> None:
    """Register the ``keys`` command.

    Args:
        sub: The main parser's subparsers.
    """
    keys = sub.add_parser("keys", help="PORTAL_SECRET_KEY rotation")
    actions = keys.add_subparsers(dest="keys_command", required=True)
    actions.add_parser(
        "rotate",
        help="re-encrypt and re-hash every row under PORTAL_SECRET_KEY (reads PORTAL_SECRET_KEY_PREVIOUS too)",
    )


def run(args: argparse.Namespace) -> int:
    """Run a ``keys`` subcommand.

    Args:
        args: Parsed arguments.

    Returns:
        0 when done; 1 when a value opens under no configured key or the audit chain is broken (one line on
        stderr; what was already moved stays moved, and running again resumes).
    """
    settings = startup_check()
    keys = settings.secret_keys()
    configure_keys(*keys)
    try:
        report = rotate(get_engine(), settings.portal_data_dir)
    except DecryptionError as exc:
        print(f"keys rotate: {exc}; is PORTAL_SECRET_KEY_PREVIOUS set to the key it replaced?", file=sys.stderr)
        return 1
    except audit.ChainBrokenError as exc:
        print(f"keys rotate: {exc}; the audit trail was left as it is", file=sys.stderr)
        return 1
    print(json.dumps(dataclasses.asdict(report)))
    if report.api_tokens_to_reissue and len(keys) > 1:
        print(
            f"{report.api_tokens_to_reissue} API token(s) still verify only through PORTAL_SECRET_KEY_PREVIOUS: "
            "create new ones (`tokens create`), switch your backends to them, revoke the old ones, then remove "
            "PORTAL_SECRET_KEY_PREVIOUS.",
            file=sys.stderr,
        )
    return 0
