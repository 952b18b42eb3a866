"""Encrypted columns bound to their rows: the row key of each table, and the ORM hooks that apply it.

Every value in an ``EncryptedText``/``EncryptedJSON`` column is sealed with ``security.row_aad(table, column,
*row key)`` as AES-GCM associated data, so a ciphertext pasted into another row or column fails to decrypt. A
column type only ever sees a value, never its row, so the binding is applied here, around the ORM's flush and
load, and by the inbox's driver-level writers through :func:`row_aad_for`:

* The row key is the primary key, except where the row is written by a driver-level multi-row statement whose
  id the database assigns inside that statement. There it is the natural key the writer already holds:
  ``inbox_event`` → ``dedupe_key`` (unique; ``services/inbox/receive.py``), ``decision`` → ``session_id,
  event_at`` (the decision of one session at one event time; ``services/inbox/reports.py`` seals it before
  ``session_rows.py`` writes it). Row keys never change once written.
* ORM writes (``before_insert``/``before_update``): each new or changed encrypted value is sealed under its row
  key and handed to the column type as :class:`~didit_portal.security.Sealed`, which stores it as it is; the
  object keeps its plain value (restored after the statement, or after a failed flush's rollback).
* A primary key the database assigns on an ORM insert (``staff_user``, ``session_note``, ``review_action``) is
  unknown before the ``INSERT``: the value is written unbound, and ``after_insert`` rewrites it bound to the new
  id in the same transaction, so no committed row holds it unbound.
* ORM reads (``load``/``refresh``): the column type returns a row-bound value unopened
  (:class:`~didit_portal.security.Unopened`); the hook opens it with the loaded row's key.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, event
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapper, Session, object_session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.state import InstanceState

from didit_portal import security
from didit_portal.security import EncryptedJSON, EncryptedText, Sealed, Unopened

#: Tables whose row key is not their primary key (see the module docstring for why).
NATURAL_ROW_KEYS: dict[str, tuple[str, ...]] = {
    "inbox_event": ("dedupe_key",),
    "decision": ("session_id", "event_at"),
}
_PLAIN = "row_sealing.plain"  # InstanceState.info: attribute → plain value while its sealed form is flushed
_AFTER = "row_sealing.after"  # InstanceState.info: attributes to bind once the database assigned the id
_STASHED = "row_sealing.stashed"  # Session.info: states holding sealed values in place of plain ones


@dataclass(frozen=True)
class _Spec:
    table: str
    key_attrs: tuple[str, ...]
    #: (attribute, column name, JSON?) for every encrypted column.
    columns: tuple[tuple[str, str, bool], ...]


_specs: dict[Mapper[Any], _Spec | None] = {}


def row_aad_for(table: str, column: str, **key: object) -> bytes:
    """The associated data of one stored value, for writers and readers that bypass the ORM.

    Args:
        table: Table name.
        column: Encrypted column name.
        **key: The row key by column name (``dedupe_key=…`` for ``inbox_event``, ``session_id=…, event_at=…`` for
            ``decision``, the primary key elsewhere).

    Returns:
        The bytes to pass as ``aad`` to ``security.encrypt_text``/``decrypt_text``.

    Raises:
        ValueError: ``key`` does not name exactly the table's row-key columns.
    """
    names = _key_names(table)
    if len(key) != len(names) or not all(name in key for name in names):
        raise ValueError(f"{table} rows are keyed by {', '.join(names)}")
    return security.row_aad(table, column, *(key[name] for name in names))


@functools.cache
def _key_names(table: str) -> tuple[str, ...]:
    names = NATURAL_ROW_KEYS.get(table)
    if names is None:
        from sqlmodel import SQLModel  # noqa: PLC0415 -- the tables, registered by didit_portal.models

        names = tuple(c.name for c in SQLModel.metadata.tables[table].primary_key.columns)
    return names


def _spec(mapper: Mapper[Any]) -> _Spec | None:
    if mapper in _specs:
        return _specs[mapper]
    table = mapper.local_table
    columns = tuple(
        (mapper.get_property_by_column(c).key, c.name, isinstance(c.type, EncryptedJSON))
        for c in table.columns  # pyright: ignore[reportAttributeAccessIssue] -- a Table here
        if isinstance(c.type, EncryptedText | EncryptedJSON)
    )
    spec = None
    if columns:
        name = str(table.name)  # pyright: ignore[reportAttributeAccessIssue]
        key_names = NATURAL_ROW_KEYS.get(name) or tuple(c.name for c in mapper.primary_key)
        key_attrs = tuple(mapper.get_property_by_column(table.c[n]).key for n in key_names)  # pyright: ignore[reportAttributeAccessIssue]
        spec = _Spec(name, key_attrs, columns)
    _specs[mapper] = spec
    return spec


def _key(spec: _Spec, state: InstanceState[Any]) -> tuple[object, ...] | None:
    values = tuple(state.dict.get(attr) for attr in spec.key_attrs)
    return None if any(v is None for v in values) else values


def _seal(spec: _Spec, column: str, is_json: bool, key: tuple[object, ...], value: Any) -> Sealed:
    aad = security.row_aad(spec.table, column, *key)
    return Sealed(security.encrypt_json(value, aad=aad) if is_json else security.encrypt_text(value, aad=aad))


def _seal_changed(mapper: Mapper[Any], target: Any, *, insert: bool) -> None:
    spec = _spec(mapper)
    if spec is None:
        return
    state: InstanceState[Any] = target._sa_instance_state
    key = _key(spec, state)
    for attr, column, is_json in spec.columns:
        value = state.dict.get(attr)
        if value is None or isinstance(value, Sealed):
            continue
        if not insert and (
            attr not in state.committed_state
            or state.manager[attr].impl.is_equal(value, state.committed_state[attr]) is True
        ):
            continue  # unchanged: not part of this UPDATE
        if key is None:  # the database assigns the id in this INSERT: bound right after it (_bind_after_insert)
            state.info.setdefault(_AFTER, []).append((attr, column, is_json))
            continue
        state.info.setdefault(_PLAIN, {})[attr] = value
        state.dict[attr] = _seal(spec, column, is_json, key, value)
        session = object_session(target)
        if session is not None:
            session.info.setdefault(_STASHED, set()).add(state)


def _restore(state: InstanceState[Any]) -> None:
    plain = state.info.pop(_PLAIN, None) or {}
    for attr, value in plain.items():
        if isinstance(state.dict.get(attr), Sealed):
            state.dict[attr] = value
    session = state.session
    if session is not None:
        session.info.get(_STASHED, set()).discard(state)


def _bind_after_insert(mapper: Mapper[Any], connection: Connection, target: Any) -> None:
    state: InstanceState[Any] = target._sa_instance_state
    _restore(state)
    pending = state.info.pop(_AFTER, None)
    spec = _spec(mapper)
    if not pending or spec is None:
        return
    key = _key(spec, state)
    assert key is not None  # the INSERT assigned the id
    table = mapper.local_table
    values = {table.c[column]: _seal(spec, column, is_json, key, state.dict[attr]) for attr, column, is_json in pending}  # pyright: ignore[reportAttributeAccessIssue]
    where = and_(*(c == v for c, v in zip(mapper.primary_key, mapper.primary_key_from_instance(target), strict=True)))
    connection.execute(table.update().where(where).values(values))  # pyright: ignore[reportAttributeAccessIssue]


def _open(target: Any) -> None:
    state: InstanceState[Any] = target._sa_instance_state
    spec = _spec(state.mapper)
    if spec is None:
        return
    for attr, column, is_json in spec.columns:
        value = state.dict.get(attr)
        if not isinstance(value, Unopened):
            continue
        key = tuple(state.dict[a] if a in state.dict else getattr(target, a) for a in spec.key_attrs)
        aad = security.row_aad(spec.table, column, *key)
        plain = security.decrypt_json(value, aad=aad) if is_json else security.decrypt_text(value, aad=aad)
        set_committed_value(target, attr, plain)


def _restore_after_rollback(session: Session, _transaction: object) -> None:
    # A failed flush: objects whose sealed values were never written get their plain values back (objects the
    # rollback expired reload theirs from the database).
    for state in list(session.info.pop(_STASHED, ())):
        _restore(state)


@event.listens_for(Mapper, "before_insert")
def _before_insert(mapper: Mapper[Any], _connection: Connection, target: Any) -> None:
    _seal_changed(mapper, target, insert=True)


@event.listens_for(Mapper, "before_update")
def _before_update(mapper: Mapper[Any], _connection: Connection, target: Any) -> None:
    _seal_changed(mapper, target, insert=False)


@event.listens_for(Mapper, "after_insert")
def _after_insert(mapper: Mapper[Any], connection: Connection, target: Any) -> None:
    _bind_after_insert(mapper, connection, target)


@event.listens_for(Mapper, "after_update")
def _after_update(_mapper: Mapper[Any], _connection: Connection, target: Any) -> None:
    _restore(target._sa_instance_state)


@event.listens_for(Mapper, "load")
def _on_load(target: Any, _context: object) -> None:
    _open(target)


@event.listens_for(Mapper, "refresh")
def _on_refresh(target: Any, _context: object, _attrs: object) -> None:
    _open(target)


event.listen(Session, "after_soft_rollback", _restore_after_rollback)
