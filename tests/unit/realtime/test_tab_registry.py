"""Which tab shows what: one registry for end-user and staff pages, keyed by (page kind, id)."""

from __future__ import annotations

from didit_portal.realtime.tabs import ALL, TabRegistry


def test_follow_moves_a_tab_and_drop_forgets_it() -> None:
    registry = TabRegistry()
    registry.follow("tab-1", "verify", "s-1")
    registry.follow("tab-2", "verify", "s-1")
    assert registry.clients("verify", "s-1") == {"tab-1", "tab-2"}
    registry.follow("tab-1", "verify", "s-2")  # "start again": the tab now follows the fresh session
    assert registry.clients("verify", "s-1") == {"tab-2"}
    assert registry.clients("verify", "s-2") == {"tab-1"}
    registry.drop("tab-2")
    registry.drop("tab-2")  # idempotent
    assert registry.clients("verify", "s-1") == frozenset()
    assert len(registry) == 1


def test_kinds_never_mix_and_a_tab_shows_one_page_at_a_time() -> None:
    registry = TabRegistry()
    registry.follow("tab-1", "verify", "s-1")
    assert registry.clients("session", "s-1") == frozenset()  # same id, other kind of page
    # A Reflex client token is one browser tab across navigations: opening the queue leaves the verify page.
    registry.follow("tab-1", "queue")
    assert registry.clients("verify", "s-1") == frozenset()
    assert registry.clients("queue", ALL) == {"tab-1"}
    registry.follow("tab-1", "session", "s-1")
    assert registry.clients("queue") == frozenset()
    assert registry.count("session") == 1 and registry.count("queue") == 0
