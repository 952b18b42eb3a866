"""The start-up GC settling: freezes the start-up heap once per process and raises the gen-0 threshold."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from didit_portal.services import gctune


@pytest.fixture
def fresh_gc() -> Iterator[None]:
    thresholds = gc.get_threshold()
    gctune._settled = False  # pyright: ignore[reportPrivateUsage]
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)
    gctune._settled = False  # pyright: ignore[reportPrivateUsage]


@pytest.mark.usefixtures("fresh_gc")
def test_settle_freezes_once_and_raises_threshold() -> None:
    gctune.settle_after_startup()
    frozen = gc.get_freeze_count()
    assert frozen > 1000  # the imported modules' objects
    assert gc.get_threshold() == gctune.THRESHOLDS
    survivors = [object() for _ in range(10)], {"x": [1]}
    gctune.settle_after_startup()  # second call: a no-op
    assert gc.get_freeze_count() == frozen
    assert survivors


@pytest.mark.usefixtures("fresh_gc")
def test_cycles_made_after_settling_are_still_collected() -> None:
    gctune.settle_after_startup()

    class Node:
        other: object = None

    a, b = Node(), Node()
    a.other, b.other = b, a

    ref = weakref.ref(a)
    del a, b
    gc.collect()
    assert ref() is None
