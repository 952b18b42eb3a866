"""Daily anchors of the audit chain, kept where the database cannot reach them.

The chain proves that nothing before its newest row was changed; it cannot tell that rows were cut off the end,
nor that the whole chain was rewritten by someone who also held the key. An anchor (the newest row's
``id:hash``) kept outside the database closes that gap. The portal writes one at start-up and then once a day
(:func:`anchoring`, a lifespan task) to two places an attacker holding only the database cannot rewrite unseen:

* ``audit_anchors`` in the data folder (0600, append-only by this code): ``audit verify`` checks every anchor in
  it, so a cut or rewritten tail fails verification on the machine itself;
* the log, one ``audit anchor <id>:<hash>`` line: logs usually leave the machine (journald, a collector), so a
  copy survives even someone who can edit the data folder.

``keys rotate`` rewrites every hash (:func:`~didit_portal.services.audit.rechain`); it then appends a
``rekeyed`` anchor, and only anchors from the last one on are checked.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.engine import Engine

from didit_portal.services import audit
from didit_portal.services.tasks import running_task

log = logging.getLogger(__name__)

#: The anchor file's name in the data folder.
ANCHOR_FILE = "audit_anchors"
#: How often a running portal anchors the chain.
EVERY = timedelta(days=1)
_REKEYED = "rekeyed"


def anchor_path(data_dir: Path) -> Path:
    """The anchor file of a data folder.

    Args:
        data_dir: ``PORTAL_DATA_DIR``.

    Returns:
        Its ``audit_anchors`` file (it may not exist yet).
    """
    return Path(data_dir) / ANCHOR_FILE


def read_anchors(path: Path) -> list[str]:
    """The anchors to check: every one since the last ``rekeyed`` line (all, when there was no rekeying).

    Args:
        path: The anchor file.

    Returns:
        ``id:hash`` strings, oldest first; empty when the file does not exist.
    """
    try:
        lines = path.read_text(encoding="ascii").splitlines()
    except FileNotFoundError:
        return []
    anchors: list[str] = []
    for line in lines:
        parts = line.split()
        if len(parts) >= 2:
            if parts[2:3] == [_REKEYED]:
                anchors = []
            anchors.append(parts[1])
    return anchors


def write_anchor(engine: Engine, path: Path, *, rekeyed: bool = False, now: datetime | None = None) -> str | None:
    """Append the chain's newest ``id:hash`` to the anchor file (unless it is already the last one) and log it.

    Args:
        engine: The portal database.
        path: The anchor file (created 0600 in the private data folder).
        rekeyed: The chain was just rechained under a new key: earlier anchors no longer apply.
        now: The time written beside it (tests).

    Returns:
        The anchor, or None when the trail is empty.
    """
    anchor = audit.latest_anchor(engine)
    if anchor is None:
        return None
    known = read_anchors(path)
    if not rekeyed and known and known[-1] == anchor:
        return anchor
    stamp = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    line = f"{stamp} {anchor}{' ' + _REKEYED if rekeyed else ''}\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(fd, "a", encoding="ascii") as fh:
        fh.write(line)
    log.info("audit anchor %s%s (kept in %s)", anchor, " after rekeying" if rekeyed else "", path)
    return anchor


async def _loop(engine: Engine, path: Path, every: timedelta) -> None:
    while True:
        try:
            await asyncio.to_thread(write_anchor, engine, path)
        except Exception:  # a failed anchor must not stop the next one (nor the app)
            log.exception("writing the audit anchor failed; retrying in %s", every)
        await asyncio.sleep(every.total_seconds())


@contextlib.asynccontextmanager
async def anchoring(engine: Engine, data_dir: Path, every: timedelta = EVERY) -> AsyncIterator[None]:
    """Anchor the audit chain at start-up and then every ``every`` for the app's lifetime (a lifespan task).

    Every worker runs it; an anchor equal to the file's last one is not written again.

    Args:
        engine: The portal database.
        data_dir: The data folder holding the anchor file.
        every: The period (a day).

    Yields:
        Nothing.
    """
    async with running_task(_loop(engine, anchor_path(data_dir), every), name="audit-anchor"):
        yield
