"""The start-up GC settling (``services/gctune.py``) does what it promises, each check able to fail.

* the start-up heap is frozen: collections no longer look at it (an unreachable cycle frozen at start-up stays);
* the young-generation threshold is raised: no automatic collection for tens of thousands of allocations;
* the collector stays enabled: cycles made after settling are freed by an *automatic* collection, no
  ``gc.collect()`` needed;
* only the first call acts.
"""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator
from typing import Any

import pytest

from didit_portal.services import gctune


class Node:
    """A container that can take part in a reference cycle and be weakly referenced."""

    other: Any = None


@pytest.fixture
def fresh_gc() -> Iterator[list[int]]:
    """A process as before settling (nothing frozen, default thresholds); yields the young collections seen."""
    thresholds, enabled = gc.get_threshold(), gc.isenabled()
    gc.unfreeze()
    gc.collect()
    gc.set_threshold(700, 10, 10)
    gc.enable()
    gctune._settled = False  # pyright: ignore[reportPrivateUsage]
    young: list[int] = []

    def record(phase: str, info: dict[str, int]) -> None:
        if phase == "start" and info["generation"] == 0:
            young.append(1)

    gc.callbacks.append(record)
    try:
        yield young
    finally:
        gc.callbacks.remove(record)
        gc.unfreeze()
        gc.set_threshold(*thresholds)
        if not enabled:
            gc.disable()
        gctune._settled = False  # pyright: ignore[reportPrivateUsage]
        gc.collect()


def _cycle() -> weakref.ref[Node]:
    a, b = Node(), Node()
    a.other, b.other = b, a
    return weakref.ref(a)


def test_settle_freezes_the_start_up_heap_and_sets_the_thresholds(fresh_gc: list[int]) -> None:
    assert gc.get_freeze_count() == 0
    gctune.settle_after_startup()
    assert gc.isenabled()
    assert gc.get_threshold() == gctune.THRESHOLDS
    assert gctune.THRESHOLDS[0] > 700  # raised above CPython's default
    assert gc.get_freeze_count() > 1000  # the imported modules' objects


def test_frozen_objects_are_skipped_by_collections(fresh_gc: list[int]) -> None:
    start_up = Node()
    start_up.other = Node()
    start_up.other.other = start_up  # a cycle alive at start-up ...
    ref = weakref.ref(start_up)
    gctune.settle_after_startup()
    del start_up  # ... that becomes garbage later
    gc.collect()
    assert ref() is not None  # frozen: a full collection does not even look at it
    gc.unfreeze()
    gc.collect()
    assert ref() is None  # the same collection frees it once it is no longer frozen


def test_young_collections_wait_for_the_raised_threshold(fresh_gc: list[int]) -> None:
    gctune.settle_after_startup()  # its gc.collect() zeroes the allocation count
    young = fresh_gc
    kept: list[list[int]] = []
    first_at: int | None = None
    for n in range(gctune.THRESHOLDS[0] * 2):
        kept.append([n])  # one new tracked container per step, kept alive
        if young and first_at is None:
            first_at = n
            break
    # CPython's default (700) would have collected after ~700 allocations; a disabled collector never would.
    assert first_at is not None, "no automatic young collection at all: the collector is off"
    assert gctune.THRESHOLDS[0] * 0.8 <= first_at <= gctune.THRESHOLDS[0] * 1.2, first_at


def test_cycles_made_after_settling_are_freed_without_an_explicit_collect(fresh_gc: list[int]) -> None:
    gctune.settle_after_startup()
    ref = _cycle()
    churn: list[list[int]] = []
    for n in range(gctune.THRESHOLDS[0] * 3):
        churn.append([n])
        if ref() is None:
            break
    assert fresh_gc, "no automatic collection ran"
    assert ref() is None  # freed by the automatic collection: no gc.collect() in this test


def test_only_the_first_call_acts(fresh_gc: list[int]) -> None:
    gctune.settle_after_startup()
    frozen = gc.get_freeze_count()
    later = [Node() for _ in range(100)]  # objects made after start-up ...
    gc.set_threshold(700, 10, 10)
    gctune.settle_after_startup()  # ... are not frozen by a second call, which changes nothing
    assert gc.get_freeze_count() == frozen
    assert gc.get_threshold() == (700, 10, 10)
    assert later
