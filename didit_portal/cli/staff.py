"""``python -m didit_portal users …`` and ``audit verify``: staff accounts and the audit chain.

users create --email E --password P --role admin|reviewer|viewer   (or --password-stdin)
users list
users disable --email E
users unlock --email E       lift the account's second-factor lock and its sign-in throttle (audited)
users bootstrap-admin        only when no staff user exists: admin@localhost with a random password, printed once;
                             it must be changed at the first sign-in (and TOTP set up where required)
users require-totp on|off    the admin setting that requires a TOTP second factor for everyone
audit verify [--anchor ID:HASH]
                             exit 0 and the number of rows when the chain holds; 1 and the first bad id otherwise
audit anchor                 print the newest row's ID:HASH, to keep outside the database (detects a cut tail)
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys

from sqlmodel import col, select

from didit_portal.config import startup_check
from didit_portal.db import get_engine, writing
from didit_portal.models import StaffUser, utcnow
from didit_portal.security import configure_keys
from didit_portal.services import audit, settings_store
from didit_portal.services.access import accounts as auth
from didit_portal.services.access import lockout
from didit_portal.services.audit import anchors as audit_anchors

BOOTSTRAP_EMAIL = "admin@localhost"


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the ``users`` and ``audit`` commands.

    Args:
        sub: The main parser's subcommands.
    """
    users = sub.add_parser(
        "users", help="staff accounts (create, list, disable, unlock, bootstrap-admin, require-totp)"
    )
    actions = users.add_subparsers(dest="users_command", required=True)
    create = actions.add_parser("create", help="create a staff account")
    create.add_argument("--email", required=True)
    password = create.add_mutually_exclusive_group(required=True)
    password.add_argument("--password", help=f"at least {auth.MIN_PASSWORD_LENGTH} characters")
    password.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of stdin (keeps it out of `ps`)",
    )
    create.add_argument("--role", required=True, choices=auth.ROLES)
    actions.add_parser("list", help="list staff accounts")
    disable = actions.add_parser("disable", help="disable an account and end its sessions")
    disable.add_argument("--email", required=True)
    unlock = actions.add_parser("unlock", help="lift an account's second-factor lock and sign-in throttle")
    unlock.add_argument("--email", required=True)
    actions.add_parser(
        "bootstrap-admin",
        help=f"create {BOOTSTRAP_EMAIL} with a random password (to change at first sign-in) if no user exists",
    )
    totp = actions.add_parser("require-totp", help="require a TOTP second factor for every staff member")
    totp.add_argument("value", choices=("on", "off"))

    audit_parser = sub.add_parser("audit", help="the audit trail")
    audit_actions = audit_parser.add_subparsers(dest="audit_command", required=True)
    verify = audit_actions.add_parser("verify", help="check the hash chain of the whole trail")
    verify.add_argument("--anchor", help="an ID:HASH printed earlier by `audit anchor`: that row must still be there")
    audit_actions.add_parser("anchor", help="print the newest row's ID:HASH to keep outside the database")


def _err(message: str) -> int:
    print(f"didit_portal: {message}", file=sys.stderr)
    return 1


def _users(args: argparse.Namespace) -> int:
    engine = get_engine()
    command = args.users_command
    if command == "create":
        password = sys.stdin.readline().rstrip("\r\n") if args.password_stdin else args.password
        try:
            with writing(engine) as db:
                user = auth.create_user(db, email=args.email, password=password, role=args.role)
                result = {"id": user.id, "email": user.email, "role": user.role}
        except auth.AuthError as exc:
            return _err(str(exc))
        print(json.dumps(result))
        return 0
    if command == "list":
        now = utcnow()
        with writing(engine) as db:
            rows = [
                {
                    "id": u.id,
                    "email": u.email,
                    "role": u.role,
                    "totp": u.totp_enabled,
                    "disabled": u.disabled_at is not None,
                    "locked": u.locked_until is not None and u.locked_until > now,
                    "must_change_password": u.must_change_password,
                    "last_login_at": u.last_login_at.isoformat() if u.last_login_at else None,
                }
                for u in db.exec(select(StaffUser).order_by(col(StaffUser.id)))
            ]
        print(json.dumps(rows, indent=2))
        return 0
    if command in ("disable", "unlock"):
        with writing(engine) as db:
            change = auth.disable_user if command == "disable" else lockout.unlock_user
            found = change(db, email=args.email)
        return 0 if found else _err("no staff user with that email")
    if command == "bootstrap-admin":
        return _bootstrap_admin()
    with writing(engine) as db:  # require-totp
        auth.set_totp_required(db, value=args.value == "on", actor=None)
    print(json.dumps({settings_store.REQUIRE_TOTP: args.value == "on"}))
    return 0


def _bootstrap_admin() -> int:
    # The password is printed because it is the only way in; it cannot become the long-term one: the account can
    # do nothing but change it at its first sign-in.
    password = secrets.token_urlsafe(18)
    with writing(get_engine()) as db:
        if auth.count_users(db) > 0:
            print("Staff accounts exist: no account created.", file=sys.stderr)
            return 0
        auth.create_user(db, email=BOOTSTRAP_EMAIL, password=password, role="admin", must_change_password=True)
    print(f"Created the first admin: {BOOTSTRAP_EMAIL}")
    print(f"Password (shown once, store it now): {password}")
    print("It must be changed at the first sign-in.")
    return 0


def run(args: argparse.Namespace) -> int:
    """Run a ``users`` or ``audit`` subcommand.

    Args:
        args: Parsed arguments.

    Returns:
        The exit code (0 success; 1 refused or, for ``audit verify``, a broken chain or a missing anchor row).
    """
    settings = startup_check()
    configure_keys(*settings.secret_keys())  # PORTAL_SECRET_KEY_PREVIOUS too, during a rotation
    if args.command == "users":
        return _users(args)
    if args.audit_command == "anchor":
        anchor = audit.latest_anchor(get_engine())
        print(anchor or "the audit trail is empty")
        return 0
    try:
        # Also every anchor the portal wrote to the data folder (services/audit/anchors.py): a cut tail fails.
        anchors = audit_anchors.read_anchors(audit_anchors.anchor_path(settings.portal_data_dir))
        ok, checked, bad = audit.verify_chain(get_engine(), anchor=args.anchor, anchors=anchors)
    except ValueError as exc:
        return _err(str(exc))
    if ok:
        print(f"audit chain OK: {checked} rows checked")
        return 0
    print(f"audit chain BROKEN at id {bad} ({checked} rows checked)")
    return 1
