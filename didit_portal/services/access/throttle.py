"""Sign-in throttling: a delay that grows with failed sign-ins (per address, per account and address, in total).

Why not a lock per account: anyone who knows an email (the first admin is always ``admin@localhost``) could keep
that account locked for ever with one wrong password per lock period. Instead every failed sign-in counts in
three buckets, each with its own :class:`Rule`:

* ``account_ip``: this email from this client address (password guessing against one account). The account's
  owner, signing in from elsewhere, is not slowed down by it.
* ``ip``: this client address, whatever the email (password spraying across accounts). IPv6 clients count by
  their /64, which one subscriber usually holds whole.
* ``global``: every failed sign-in (spraying from many addresses): a budget that, once spent, slows everyone
  down by at most :data:`GLOBAL_LONGEST` rather than locking anyone out.

:func:`admit` runs in a short transaction of its own *before* any password hash is computed (argon2 costs
64 MiB per hash): a blocked attempt answers 429 without hashing. It counts the attempt as a failure in advance,
so concurrent requests see each other and a burst of parallel posts cannot all reach the hash;
:func:`forgive` takes the count back when the password was right. The state lives in the ``signin_throttle``
table, so every worker and instance shares it; its keys are keyed hashes
(:func:`didit_portal.security.lookup_hash`), never an address or an email.
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import delete, or_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from didit_portal.models import SigninThrottle, StaffUser, utcnow
from didit_portal.security import lookup_hash
from didit_portal.services import audit
from didit_portal.services.access.accounts import normalise_email

ACCOUNT_IP: Final = "account_ip"
IP: Final = "ip"
GLOBAL: Final = "global"
GLOBAL_LONGEST: Final = timedelta(minutes=1)


@dataclass(frozen=True)
class Rule:
    """How one kind of bucket slows failures down.

    Attributes:
        after: Failures allowed before the first delay (the attempt that reaches it starts one).
        first: The first delay; each further failure doubles it.
        longest: The delay never grows beyond this.
        forget: A bucket without failures for this long starts again from zero.
    """

    after: int
    first: timedelta
    longest: timedelta
    forget: timedelta

    def delay(self, failures: int) -> timedelta | None:
        """The delay after ``failures`` failures in a row.

        Args:
            failures: Failures counted so far, the newest included.

        Returns:
            None below :attr:`after`; then :attr:`first`, doubling, up to :attr:`longest`.
        """
        if failures < self.after:
            return None
        return min(self.first * 2 ** min(failures - self.after, 30), self.longest)


#: The rules in force (tests replace entries to use small numbers).
RULES: dict[str, Rule] = {
    ACCOUNT_IP: Rule(after=5, first=timedelta(minutes=1), longest=timedelta(hours=1), forget=timedelta(hours=24)),
    IP: Rule(after=20, first=timedelta(seconds=5), longest=timedelta(minutes=15), forget=timedelta(hours=1)),
    GLOBAL: Rule(after=100, first=timedelta(seconds=1), longest=GLOBAL_LONGEST, forget=timedelta(minutes=15)),
}


@dataclass(frozen=True)
class Lock:
    """A delay that an attempt started (audited as ``auth.lock`` once the attempt has failed)."""

    scope: str
    seconds: int
    failures: int


@dataclass(frozen=True)
class Counted:
    """One bucket an admitted attempt was counted in, and the block it set there (to undo on success)."""

    key: str
    set_until: datetime | None
    before_until: datetime | None


@dataclass(frozen=True)
class Admission:
    """The answer of :func:`admit`.

    Attributes:
        retry_after: Seconds to wait (the attempt was refused without hashing), 0 when admitted.
        counted: The buckets the attempt was counted in.
        locks: The delays this attempt started, should it fail.
    """

    retry_after: int = 0
    counted: tuple[Counted, ...] = ()
    locks: tuple[Lock, ...] = ()

    @property
    def admitted(self) -> bool:
        """Whether the attempt may go on to the password check."""
        return self.retry_after == 0


def client_address(ip: str | None) -> str:
    """The form of a client address that is counted: IPv6 by its /64, IPv4-mapped IPv6 as IPv4.

    Args:
        ip: The address the connection came from (None when unknown).

    Returns:
        The address or network as text, or ``unknown``.
    """
    try:
        address = ipaddress.ip_address((ip or "").strip())
    except ValueError:
        return "unknown"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{address}/64", strict=False))
    return str(address)


def account_hash(email: str) -> str:
    """The keyed hash by which an account's buckets are found (``users unlock``).

    Args:
        email: As typed (normalised here).

    Returns:
        64 hex characters.
    """
    return lookup_hash(f"signin-account\n{normalise_email(email)[:320]}")


def _buckets(email: str, ip: str | None) -> list[tuple[str, str, str | None]]:
    address = client_address(ip)
    account = account_hash(email)
    pair = lookup_hash("signin-account-ip\n" + account + "\n" + address)
    by_address = lookup_hash("signin-ip\n" + address)
    buckets = [
        (ACCOUNT_IP, f"{ACCOUNT_IP}:{pair}", account),
        (IP, f"{IP}:{by_address}", None),
        (GLOBAL, GLOBAL, None),
    ]
    return sorted(buckets, key=lambda bucket: bucket[1])  # one lock order for every transaction: no deadlock


def _scope(key: str) -> str:
    return key.split(":", 1)[0]


def _locked_row(db: Session, key: str, account: str | None) -> SigninThrottle:
    insert = pg_insert if db.get_bind().dialect.name == "postgresql" else sqlite_insert
    for _ in range(3):  # a concurrent prune may delete the row between the insert and the select: insert again
        db.execute(
            insert(SigninThrottle)
            .values(key=key, account_hash=account, failures=0)
            .on_conflict_do_nothing(index_elements=["key"])
        )
        row = db.exec(
            select(SigninThrottle)
            .where(SigninThrottle.key == key)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).first()
        if row is not None:
            return row
    raise RuntimeError("signin_throttle row vanished three times")  # pragma: no cover -- needs three races in a row


def admit(db: Session, *, email: str, ip: str | None, now: datetime | None = None) -> Admission:
    """Decide whether a sign-in attempt may be checked, and count it as a failure in advance.

    Commit the transaction before hashing anything, so concurrent attempts see this one.

    Args:
        db: Open session.
        email: The email as typed (any string: unknown accounts count the same).
        ip: The client address.
        now: Clock override.

    Returns:
        The admission: refused with ``retry_after`` seconds while any bucket is blocked (nothing counted then),
        else admitted with the buckets counted and the delays a failure would start.
    """
    now = now or utcnow()
    rows = [(scope, _locked_row(db, key, account)) for scope, key, account in _buckets(email, ip)]
    waits = [row.blocked_until - now for _, row in rows if row.blocked_until is not None and row.blocked_until > now]
    if waits:
        return Admission(retry_after=max(1, math.ceil(max(waits).total_seconds())))
    counted: list[Counted] = []
    locks: list[Lock] = []
    for scope, row in rows:
        rule = RULES[scope]
        if row.last_failure_at is not None and now - row.last_failure_at >= rule.forget:
            row.failures = 0
        before = row.blocked_until
        row.failures += 1
        row.last_failure_at = now
        delay = rule.delay(row.failures)
        row.blocked_until = now + delay if delay is not None else before
        if delay is not None:
            locks.append(Lock(scope=scope, seconds=int(delay.total_seconds()), failures=row.failures))
        counted.append(Counted(key=row.key, set_until=row.blocked_until, before_until=before))
        db.add(row)
    return Admission(counted=tuple(counted), locks=tuple(locks))


def forgive(db: Session, admission: Admission) -> None:
    """Take an admitted attempt's count back: its password was right.

    The (account, address) bucket starts again from zero; the others lose this attempt and the block it set,
    unless another failure has moved the block since.

    Args:
        db: Open session.
        admission: What :func:`admit` returned for the attempt.
    """
    for counted in admission.counted:
        row = db.exec(select(SigninThrottle).where(SigninThrottle.key == counted.key).with_for_update()).first()
        if row is None:
            continue
        if _scope(row.key) == ACCOUNT_IP:
            db.delete(row)
            continue
        row.failures = max(0, row.failures - 1)
        if row.blocked_until == counted.set_until:
            row.blocked_until = counted.before_until
        db.add(row)


def record_locks(db: Session, admission: Admission, *, email: str, ip: str | None, now: datetime | None = None) -> None:
    """Write one ``auth.lock`` audit row per delay a failed attempt started.

    Args:
        db: Open session.
        admission: What :func:`admit` returned for the attempt, which has failed.
        email: The email as typed (the row names the account when it exists, never the typed text).
        ip: The client address.
        now: Clock override.
    """
    if not admission.locks:
        return
    user_id = db.exec(select(StaffUser.id).where(StaffUser.email == normalise_email(email))).first()
    for lock in admission.locks:
        target = (
            {"target_type": "staff_user", "target_id": str(user_id)}
            if lock.scope == ACCOUNT_IP and user_id is not None
            else {}
        )
        detail = {"scope": lock.scope, "seconds": lock.seconds, "failures": lock.failures}
        audit.record(db, actor=None, action="auth.lock", detail=detail, ip=ip, now=now, **target)


def forget_account(db: Session, *, email: str) -> int:
    """Delete the (account, address) buckets of one account (``users unlock``).

    Args:
        db: Open session.
        email: The account's email.

    Returns:
        How many buckets were deleted.
    """
    rows = list(db.exec(select(SigninThrottle).where(SigninThrottle.account_hash == account_hash(email))))
    for row in rows:
        db.delete(row)
    return len(rows)


def prune(db: Session, *, now: datetime | None = None) -> None:
    """Delete buckets that no longer hold anything back (forgotten, or emptied by successes).

    Rows another transaction holds are skipped (``SKIP LOCKED`` on PostgreSQL), so pruning never waits and never
    takes part in a deadlock; run it in a transaction of its own.

    Args:
        db: Open session.
        now: Clock override.
    """
    now = now or utcnow()
    cutoff = now - max(rule.forget for rule in RULES.values())
    stale = (
        select(SigninThrottle.key)
        .where(
            or_(col(SigninThrottle.last_failure_at) < cutoff, col(SigninThrottle.failures) <= 0),
            or_(col(SigninThrottle.blocked_until).is_(None), col(SigninThrottle.blocked_until) < now),
        )
        .limit(500)
        .with_for_update(skip_locked=True)
    )
    db.execute(delete(SigninThrottle).where(col(SigninThrottle.key).in_(stale)))
