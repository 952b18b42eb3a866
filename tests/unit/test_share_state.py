"""The share page follows its link through the link's one poller, and caps the tabs it follows (issue 10, item 12)."""

from __future__ import annotations

from typing import Any

import pytest
import reflex as rx
from reflex.istate.data import RouterData
from reflex_base import constants

from didit_portal.realtime import tabs
from didit_portal.services.links import share_watch
from didit_portal.states import share as share_state
from didit_portal.states.share import ShareState


def _tab(client_token: str) -> ShareState:
    root = rx.State(_reflex_internal_init=True)  # pyright: ignore[reportCallIssue] -- how Reflex builds states
    root.router = RouterData.from_router_data(
        {constants.RouteVar.CLIENT_TOKEN: client_token, constants.RouteVar.PATH: "/share/x"}
    )
    state = root.get_substate(ShareState.get_full_name().split("."))
    assert isinstance(state, ShareState)
    state._share_id = "link-1"  # pyright: ignore[reportPrivateUsage]
    return state


def test_tabs_of_a_link_share_one_poller_and_are_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    registry = tabs.TabRegistry()
    monkeypatch.setattr(tabs, "registry", registry)
    monkeypatch.setattr(share_state.realtime, "registry", registry)
    asked: list[str] = []

    def ensure_watched(engine: Any, client: Any, share_id: str, *, still_watched: Any) -> bool:
        asked.append(share_id)
        assert still_watched() is True  # the poller keeps going while a tab of the link is open
        return len(asked) == 1

    monkeypatch.setattr(share_watch, "ensure_watched", ensure_watched)
    monkeypatch.setattr(share_state, "get_engine", lambda: None)
    monkeypatch.setattr(share_state, "shared_client", lambda: None)
    pages = [_tab(f"tab-{n}") for n in range(share_watch.MAX_TABS_PER_LINK + 2)]
    for page in pages:
        page._follow_live()  # pyright: ignore[reportPrivateUsage]
    assert [p.live for p in pages] == [True] * share_watch.MAX_TABS_PER_LINK + [False, False]
    assert len(registry.clients("share", "link-1")) == share_watch.MAX_TABS_PER_LINK
    assert asked == ["link-1"] * share_watch.MAX_TABS_PER_LINK  # no per-tab polling loop: the link's poller
    pages[0]._follow_live()  # a followed tab reloading is not counted against itself
    assert pages[0].live
